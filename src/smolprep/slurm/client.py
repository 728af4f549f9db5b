"""The one door to Slurm: every sbatch, scancel, squeue, scontrol, sacct and sacctmgr smolprep runs.

`SlurmClient` is what the rest of smolprep is given (never imports); `RealSlurm` runs the commands. A test
passes a fake client with the same methods (tests/fakes/slurm.py) and checks submission, resubmission and
waves in seconds; the real single-node Slurm of cluster/dev-slurm stays the final judge.

A machine without the commands raises `SlurmNotFound` (one line for the user: use `--cluster local` or load
the Slurm module), a refusal `SbatchError` (`SbatchBusy` when the controller is at a job limit), a failed
or unreadable query `SlurmQueryError`. What needs the accounting database (sacct, sacctmgr) answers None
where there is none (no slurmdbd, or no such command): many small clusters run without it.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Iterable, Sequence
from typing import Protocol

from smolprep.slurm.errors import SbatchBusy, SbatchError, SlurmError, SlurmNotFound, SlurmQueryError
from smolprep.slurm.query import (
    ASSOC_FORMAT,
    COMMENT_FORMAT,
    QOS_FORMAT,
    SACCT_FORMAT,
    SQUEUE_FORMAT,
    JobRecord,
    QueueEntry,
    SubmitLimits,
    is_busy,
    is_forgotten,
    parse_comments,
    parse_config,
    parse_sacct_records,
    parse_sbatch_parsable,
    parse_scontrol_jobs,
    parse_squeue,
    parse_submit_limits,
    select_records,
)


class SlurmClient(Protocol):
    def sbatch(self, script: str, after: Sequence[str] = ()) -> str:
        """Queue the script (`afterok` on `after`); its job id. SbatchBusy / SbatchError when refused."""
        ...

    def test_only(self, script: str | None = None, options: Sequence[str] = ()) -> str:
        """`sbatch --test-only`: what Slurm says about the script (or `--wrap` in options); queues nothing."""
        ...

    def scancel(self, job_ids: Sequence[str]) -> None: ...

    def queue(self, job_ids: Iterable[str]) -> list[QueueEntry]:
        """Queued or running entries (array tasks one by one) of the given array/job ids."""
        ...

    def config(self) -> dict[str, str]:
        """`scontrol show config` as {key: value}."""
        ...

    def find_by_comment(self, comment: str) -> list[str]:
        """Job ids in the queue whose --comment is `comment` (a submission tag)."""
        ...

    def accounting(self, job_ids: Iterable[str]) -> dict[str, str] | None:
        """Final states from sacct ({"123_4": "OUT_OF_MEMORY"}), or None where there is no accounting."""
        ...

    def job_records(self, job_ids: Iterable[str]) -> dict[str, JobRecord] | None:
        """What sacct knows of the jobs (array tasks one by one, requeued ones with their history), or None
        where there is no accounting."""
        ...

    def controller_records(self, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        """What the controller knows of the jobs (`scontrol show job`); jobs it forgot are absent."""
        ...

    def submit_limits(
        self, user: str, account: str | None = None, qos: str | None = None
    ) -> SubmitLimits | None:
        """The user's association and QOS job limits (sacctmgr), or None where there is no accounting."""
        ...


def clean_environment() -> dict[str, str]:
    """The environment without the SLURM_* variables of a job we may be running in (an interactive
    allocation, the wave driver job): sbatch would pass them on, and srun in the new job would fail
    (e.g. "SLURM_MEM_PER_CPU, SLURM_MEM_PER_GPU, and SLURM_MEM_PER_NODE are mutually exclusive")."""
    keep = {"SLURM_CONF"}
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") or k in keep}


def submit_user() -> str | None:
    """Whose association and QOS limits apply to what we submit: the user running smolprep (None when the
    system cannot say)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


class RealSlurm:
    """The Slurm commands on this machine's PATH."""

    # sbatch itself retries a controller at MaxJobCount for 1 + 2 + ... + 15 = 120 s ("Slurm temporarily
    # unable to accept job, sleeping and retrying") before it gives up with "Resource temporarily
    # unavailable": wait longer than that, so that the answer is a refusal (busy), not a timeout
    def __init__(self, query_timeout: float = 60, sbatch_timeout: float = 180) -> None:
        self.query_timeout = query_timeout
        self.sbatch_timeout = sbatch_timeout

    def sbatch(self, script: str, after: Sequence[str] = ()) -> str:
        args = ["--parsable"]
        if after:
            args.append("--dependency=afterok:" + ":".join(after))
        result = self._sbatch(args, script)
        if result.returncode != 0:
            said = result.stderr.strip() or result.stdout.strip()
            kind = SbatchBusy if is_busy(said) else SbatchError
            raise kind(f"sbatch refused the job: {said}", said)
        return parse_sbatch_parsable(result.stdout)

    def test_only(self, script: str | None = None, options: Sequence[str] = ()) -> str:
        result = self._sbatch(["--test-only", *options], script)
        said = (result.stderr or result.stdout).strip()
        if result.returncode != 0:
            kind = SbatchBusy if is_busy(said) else SbatchError
            raise kind(f"sbatch --test-only refused the script: {said}", said)
        return said

    def scancel(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        result = self._run(["scancel", *job_ids], self.sbatch_timeout, SbatchError)
        if result.returncode != 0:
            raise SbatchError(f"scancel {' '.join(job_ids)} failed: {result.stderr.strip()}")

    def queue(self, job_ids: Iterable[str]) -> list[QueueEntry]:
        wanted = {str(j) for j in job_ids}
        if not wanted:
            return []
        entries = parse_squeue(self._query(["squeue", "-h", "--array", "-o", SQUEUE_FORMAT]))
        return [e for e in entries if e.array_job_id in wanted]

    def config(self) -> dict[str, str]:
        return parse_config(self._query(["scontrol", "show", "config"]))

    def find_by_comment(self, comment: str) -> list[str]:
        return parse_comments(self._query(["squeue", "-h", "-o", COMMENT_FORMAT]), comment)

    def accounting(self, job_ids: Iterable[str]) -> dict[str, str] | None:
        records = self.job_records(job_ids)
        return None if records is None else {name: r.state for name, r in records.items()}

    def job_records(self, job_ids: Iterable[str]) -> dict[str, JobRecord] | None:
        ids = sorted({str(j) for j in job_ids})
        if not ids:
            return {}
        argv = ["sacct", "-n", "-P", "--duplicates", "-o", SACCT_FORMAT, "-j", ",".join(ids)]
        try:
            text = self._query(argv, 30)
        except (SlurmQueryError, SlurmNotFound):  # no slurmdbd, or no sacct: no accounting
            return None
        return select_records(parse_sacct_records(text), ids)

    def controller_records(self, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        found: dict[str, JobRecord] = {}
        ids = sorted({str(j) for j in job_ids})
        for job_id in ids:  # scontrol shows one job (or array) per call
            found |= parse_scontrol_jobs(
                self._query(["scontrol", "show", "job", "-o", job_id], forgotten=True)
            )
        return select_records(found, ids)

    def submit_limits(
        self, user: str, account: str | None = None, qos: str | None = None
    ) -> SubmitLimits | None:
        where = [f"user={user}", *([f"account={account}"] if account else [])]
        try:
            assoc = self._query(
                ["sacctmgr", "-n", "-P", "show", "assoc", "where", *where, f"format={ASSOC_FORMAT}"], 30
            )
            named = [qos] if qos else []  # without --qos, the associations' default QOS: read them all
            qos_text = self._query(
                ["sacctmgr", "-n", "-P", "show", "qos", *named, f"format={QOS_FORMAT}"], 30
            )
        except (SlurmQueryError, SlurmNotFound):  # no slurmdbd, or no sacctmgr: no association limits
            return None
        return parse_submit_limits(user, assoc, qos_text, qos)

    def _sbatch(self, args: list[str], script: str | None) -> subprocess.CompletedProcess[str]:
        return self._run(["sbatch", *args], self.sbatch_timeout, SbatchError, script, clean_environment())

    def _query(self, argv: list[str], timeout: float | None = None, forgotten: bool = False) -> str:
        """The command's output; with `forgotten`, nothing when it says the job is unknown (past MinJobAge)."""
        result = self._run(argv, timeout or self.query_timeout, SlurmQueryError)
        if result.returncode != 0 and forgotten and is_forgotten(result.stderr + result.stdout):
            return ""
        if result.returncode != 0:
            raise SlurmQueryError(
                f"{' '.join(argv)} failed (exit {result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout

    @staticmethod
    def _run(
        argv: list[str],
        timeout: float,
        error: type[SlurmError],
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False, env=env
            )
        except FileNotFoundError as err:
            raise SlurmNotFound(argv[0]) from err
        except subprocess.TimeoutExpired as err:
            raise error(f"{' '.join(argv)} did not answer in {timeout:g} s: is slurmctld up?") from err
