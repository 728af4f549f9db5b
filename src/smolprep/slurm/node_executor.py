"""What runs on a Slurm node: datatrove's Slurm executor, with exit and failure records and a capped
requeue at the time limit.

`launch_pickled_pipeline` (the sbatch script's `srun` line) loads the pickled `SmolprepSlurmExecutor` and
calls `run()`, which runs the array task's ranks one after the other. For each rank this executor
- writes its exit record (`smolprep.slurm.exit_record`: attempt, node, max RSS, elapsed, how it ended), so a
  failure's cause survives when Slurm has forgotten the job;
- writes a failure record (`RunLayout.failures`, the same as a local task's) when the rank raises.

Time limit: Slurm signals the task with SIGUSR1 `requeue_grace` seconds before its limit (`--signal`).
datatrove's own handler requeues the job every time, so a task that needs more time than its limit was
requeued forever. Here it is requeued in place only while the step's retry policy says a TIMEOUT is retried
with the same resources (`TIMEOUT: {}`) and attempts are left (`SLURM_RESTART_COUNT + 1 < max_attempts`).
Otherwise the task runs on until Slurm ends it (TIMEOUT) and its record says `time-limit`: a rule that
changes the time (`TIMEOUT: {time: x2}`) is applied by the next submission (`resubmit`, `--wait`, the wave
driver), which Slurm's in-place requeue cannot do.

Only the first ending signal is handled: Slurm and srun may both send SIGTERM, and one may come while the
exit record is being written (its lock is re-entrant for that); a second handler run would otherwise wait
on the write it interrupted until Slurm's SIGKILL, leaving the record at `running`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from datatrove.executor.slurm import SlurmPipelineExecutor
from datatrove.utils.stats import PipelineStats
from loguru import logger

from smolprep.pipelines.local_executor import error_line, failure_record
from smolprep.slurm.exit_record import TaskRecorder, signal_name
from smolprep.state.atomic import write_json_atomic


class SmolprepSlurmExecutor(SlurmPipelineExecutor):
    """datatrove's Slurm executor as it runs on the node; submission is done by smolprep
    (`smolprep.slurm.submit`)."""

    def __init__(
        self,
        *args: Any,
        exits_dir: str = "",
        failures_dir: str = "",
        mem_limit_bytes: int | None = None,
        time_limit_seconds: int | None = None,
        max_attempts: int = 1,
        requeue_in_place: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, requeue_signals=None, **kwargs)
        self.exits_dir = exits_dir
        self.failures_dir = failures_dir
        self.mem_limit_bytes = mem_limit_bytes
        self.time_limit_seconds = time_limit_seconds
        self.max_attempts = max_attempts
        self.requeue_in_place = requeue_in_place
        self._recorder: TaskRecorder | None = None
        self._past_limit = False
        self._ending = False  # a handler is ending the task: a second signal does not start over

    def launch_job(self):  # pragma: no cover - guard
        raise RuntimeError("smolprep submits its own job arrays; use smolprep.slurm.submit")

    def launch_merge_stats(self):
        """No merge-stats job: it would wait forever behind a failed array; smolprep merges stats itself."""

    def run(self):
        if "SLURM_ARRAY_TASK_ID" in os.environ:
            signal.signal(signal.SIGUSR1, self._at_time_limit)
            signal.signal(signal.SIGTERM, self._terminated)
        super().run()

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        if self.is_rank_completed(rank) or not self.exits_dir:
            return super()._run_for_rank(rank, local_rank, node_rank)
        failure = Path(self.failures_dir) / f"{rank:05d}.json" if self.failures_dir else None
        if failure is not None:
            failure.unlink(missing_ok=True)
        recorder = TaskRecorder(Path(self.exits_dir), rank, self.mem_limit_bytes, self.time_limit_seconds)
        self._recorder = recorder
        recorder.start()
        try:
            stats = super()._run_for_rank(rank, local_rank, node_rank)
        except Exception as err:
            recorder.end("error", error=error_line(err))
            if failure is not None:
                log = str(self.logging_dir.resolve_paths(f"logs/task_{rank:05d}.log"))
                try:
                    write_json_atomic(failure, failure_record(rank, err, log))
                except OSError as write_error:
                    logger.warning(f"no failure record for rank {rank}: {write_error}")
            raise
        recorder.end("completed")
        self._recorder = None
        return stats

    def _attempt(self) -> int:
        return int(os.environ.get("SLURM_RESTART_COUNT") or 0) + 1

    def _at_time_limit(self, signum: int, _frame: Any) -> None:
        if self._ending:
            return
        attempt = self._attempt()
        if self.requeue_in_place and attempt < self.max_attempts:
            self._ending = True
            logger.warning(
                f"time limit near (attempt {attempt} of {self.max_attempts}): requeueing the task and exiting"
            )
            if self._recorder is not None:
                self._recorder.end("requeued", signal=signal_name(signum))
            subprocess.run(["scontrol", "requeue", os.environ.get("SLURM_JOB_ID", "")], check=False)
            sys.exit(15)
        self._past_limit = True
        logger.warning(
            f"time limit near (attempt {attempt} of at most {self.max_attempts}): not requeued in place; "
            "the step's retry policy decides what runs next"
        )

    def _terminated(self, signum: int, _frame: Any) -> None:
        if self._ending:  # Slurm and srun may both signal the step; the first signal is being handled
            return
        self._ending = True
        if self._recorder is not None:
            state = "time-limit" if self._past_limit else "terminated"
            self._recorder.end(state, signal=signal_name(signum))
        sys.exit(128 + signum)
