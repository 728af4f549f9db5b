"""What can go wrong when smolprep talks to Slurm, one type per case, so that callers can tell a full queue
(try again later) from a refused job, an unreadable answer, or a machine without Slurm at all."""

from __future__ import annotations

NO_SLURM = "no Slurm commands found; use `--cluster local` or load your site's Slurm module"


class SlurmError(RuntimeError):
    """Any failure of a Slurm command."""


class SlurmNotFound(SlurmError):
    """The Slurm commands are not on this machine's PATH."""

    def __init__(self, command: str) -> None:
        super().__init__(NO_SLURM)
        self.command = command

    def __reduce__(self):
        return type(self), (self.command,)


class SlurmQueryError(SlurmError):
    """squeue, scontrol or sacct failed or printed something we cannot parse."""


class SbatchError(SlurmError):
    """sbatch (or scancel) refused a job or printed something we cannot parse. `said` is Slurm's own
    message, when it gave one."""

    def __init__(self, message: str, said: str = "") -> None:
        super().__init__(message)
        self.said = said

    def __reduce__(self):
        return type(self), (str(self), self.said)


class SbatchBusy(SbatchError):
    """The controller is at a job limit (MaxJobCount, a QOS submit limit): try again later."""
