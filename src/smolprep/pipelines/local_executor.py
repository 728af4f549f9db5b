"""datatrove's LocalPipelineExecutor, plus a failure record for each task that raises.

On Slurm a failed task is known from the queue and the ledger; on this machine only the completion markers
remained, so a task that raised looked like one never run (`status`: not-submitted, `logs`: no failed task).
This executor writes `<logging_dir>/failures/<rank:05d>.json` (`RunLayout.failures`) when a task raises:
{"rank", "error": "<ExceptionType>: <last line of the message>", "log": the task's datatrove log, "time"},
and re-raises it (as a RuntimeError with the same line when the exception could not travel back to the
launcher). A task that starts again first removes its old record, so a record always describes the last
attempt of a rank that is not done. The workers unpickle this class: it must stay importable by them.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.stats import PipelineStats
from loguru import logger

from smolprep.state.atomic import write_json_atomic


def error_line(err: BaseException) -> str:
    """'<ExceptionType>: <last non-empty line of the message>' (the type alone for an empty message)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[-1]}" if lines else type(err).__name__


def travels(err: Exception) -> Exception:
    """`err` if it survives the trip from a worker to the launcher, else a RuntimeError with its line.

    The pool pickles a worker's exception and rebuilds it in the launcher from `args`; an exception whose
    constructor needs other arguments cannot be rebuilt, which kills the pool's result thread and leaves
    the launcher waiting forever."""
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return RuntimeError(error_line(err))
    return err


def failure_record(rank: int, err: BaseException, log: str) -> dict[str, Any]:
    return {"rank": rank, "error": error_line(err), "log": log, "time": time.time()}


class RecordingLocalExecutor(LocalPipelineExecutor):
    """LocalPipelineExecutor whose tasks leave a failure record in ``failures_dir`` when they raise."""

    def __init__(
        self, pipeline: list[PipelineStep | Callable], failures_dir: str | Path, **kwargs: Any
    ) -> None:
        super().__init__(pipeline, **kwargs)
        self.failures_dir = str(failures_dir)

    def record_path(self, rank: int) -> Path:
        return Path(self.failures_dir) / f"{rank:05d}.json"

    def task_log(self, rank: int) -> str:
        return str(self.logging_dir.resolve_paths(f"logs/task_{rank:05d}.log"))

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        if self.is_rank_completed(rank):  # skipped: its record, if any, is history
            return super()._run_for_rank(rank, local_rank, node_rank)
        self.record_path(rank).unlink(missing_ok=True)
        try:
            return super()._run_for_rank(rank, local_rank, node_rank)
        except Exception as err:
            self._record(rank, err)
            portable = travels(err)
            if portable is err:
                raise
            raise portable from None

    def _record(self, rank: int, err: Exception) -> None:
        try:
            write_json_atomic(self.record_path(rank), failure_record(rank, err, self.task_log(rank)))
        except OSError as write_error:  # the task's own error matters more; its log still has it
            logger.warning(f"no failure record for rank {rank}: {write_error}")
