"""Python functions as Slurm jobs (the stage report, the wave driver), the way submitit runs them.

submitit pickles the call, renders its sbatch script and keeps its files in `<stage>/logs/<role>/<job id>/`
(the node runs `python -m submitit.core._submit`, which loads the pickle); the script itself is queued by
our Slurm client like every other job, so that a test's fake client sees it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit
from submitit.core import utils as submitit_utils

from smolprep.config.profile import ClusterProfile
from smolprep.slurm.client import SlurmClient
from smolprep.state import ledger
from smolprep.state.layout import RunLayout


@dataclass(frozen=True)
class FunctionJob:
    role: str  # report, driver: the job name's end, the log folder and the ledger's step
    minutes: int
    mem: str
    after_any: tuple[str, ...] | None = (
        None  # afterany on these (and kill-on-invalid-dep); None: no dependency
    )

    def sbatch_options(self, profile: ClusterProfile) -> dict[str, str]:
        """The options submitit has no parameter for."""
        options: dict[str, str] = {}
        if self.after_any is not None:
            options["kill-on-invalid-dep"] = "yes"
            if self.after_any:
                options["dependency"] = "afterany:" + ":".join(self.after_any)
        options.update({k: v for k, v in (("account", profile.account), ("qos", profile.qos)) if v})
        return options


class _ClientExecutor(submitit.SlurmExecutor):
    """submitit's Slurm executor whose only change is how the rendered script is queued: by our client
    (`sbatch --parsable`, script on stdin), not by submitit's own `sbatch <file>`."""

    def __init__(self, folder: Path, slurm: SlurmClient) -> None:
        super().__init__(folder=str(folder))
        self.slurm = slurm

    @classmethod
    def affinity(cls) -> int:
        """submitit refuses to start without `srun` on PATH; whether Slurm is there is the client's
        business."""
        return 1

    def _submit_command(self, command: str) -> submitit.Job[Any]:
        uid = uuid.uuid4().hex
        folder = submitit_utils.JobPaths.get_first_id_independent_folder(self.folder)
        script_file = folder / f".submission_file_{uid}.sh"
        script = self._make_submission_file_text(command, uid)
        script_file.write_text(script)
        try:
            job_id = self.slurm.sbatch(script)
        except BaseException:
            script_file.unlink(missing_ok=True)
            raise
        job: submitit.Job[Any] = self.job_class(
            folder=self.folder, job_id=job_id, tasks=list(range(self._num_tasks()))
        )
        job.paths.move_temporary_file(script_file, "submission_file", keep_as_symlink=True)
        self._write_job_id(job.job_id, uid)
        self._set_job_permissions(job.paths.folder)
        return job


def submit_function(
    slurm: SlurmClient,
    profile: ClusterProfile,
    layout: RunLayout,
    job: FunctionJob,
    function: Callable[..., Any],
    *args: Any,
) -> str:
    """Queue `function(*args)` as a one-task job of the stage and record it in the ledger; its job id."""
    folder = layout.job_logs(job.role)
    folder.mkdir(parents=True, exist_ok=True)
    executor = _ClientExecutor(folder / "%j", slurm)
    executor.update_parameters(
        job_name=f"smolprep-{layout.stage}-{job.role}",
        partition=profile.partition,
        time=job.minutes,
        cpus_per_task=1,
        mem=job.mem,
        additional_parameters=job.sbatch_options(profile),
        setup=[f"source {profile.environment()}/bin/activate"],
    )
    job_id = str(executor.submit(function, *args).job_id)
    tag = f"smolprep:{layout.stage}:{job.role}"
    ledger.append(layout.ledger, ledger.new_entry("*", job.role, job_id, 0, "-", [], tag))
    return job_id
