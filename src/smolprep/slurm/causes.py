"""Why each failed task failed (pure): the first source that knows, in this order.

1. the task's failure record (it raised: a Python error, with its line), local and Slurm alike;
2. `sacct` (accounting): the state of the task's last attempt, and the requeues before it;
3. `scontrol show job`, while the controller still remembers the job (MinJobAge);
4. the task's own exit record and Slurm's last word in its log (`smolprep.slurm.exit_record`), which stay on
   shared storage when Slurm has forgotten the job.

A task none of them knows about gets `UNKNOWN` (it never started: cancelled with its dependency, or its
node never ran it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smolprep.slurm.exit_record import Cause, cause_from_exit
from smolprep.slurm.query import JobRecord
from smolprep.state.ledger import LedgerEntry
from smolprep.state.status import error_line

FAILURE_STATES = frozenset(
    {
        "OUT_OF_MEMORY",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "FAILED",
        "CANCELLED",
        "BOOT_FAIL",
        "DEADLINE",
    }
)
REQUEUE_STATES = frozenset({"REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "PREEMPTED", "NODE_FAIL", "TIMEOUT"})


def task_id(entry: LedgerEntry, rank: int) -> str:
    """Slurm's name for the array task that ran `rank` in this submission: '<job>_<index>'."""
    return f"{entry.job_id}_{entry.index_of_rank(rank)}"


def last_task_ids(entries: list[LedgerEntry], dataset: str, step: str, ranks: set[int]) -> dict[int, str]:
    """rank -> the array task of its last submission."""
    found: dict[int, str] = {}
    for e in entries:
        if (e.dataset, e.step) == (dataset, step):
            for rank in ranks.intersection(e.ranks):
                found[rank] = task_id(e, rank)
    return found


def _gib(size: int | None) -> str:
    return f"{size / 2**30:.2f} GiB" if size else "?"


def _from_slurm(record: JobRecord, source: str) -> Cause | None:
    state = record.state.split()[0] if record.state else ""
    if state not in FAILURE_STATES:
        return None
    requeues = sum(1 for s in record.history if s.split()[0] in REQUEUE_STATES) or (record.restarts or 0)
    details = []
    if state == "OUT_OF_MEMORY" and (record.max_rss_bytes or record.req_mem_bytes):
        details.append(f"max RSS {_gib(record.max_rss_bytes)} of {_gib(record.req_mem_bytes)}")
    if requeues:
        details.append(f"requeued {requeues} times")
    return Cause(state, ", ".join(details), source)


def task_cause(
    failure: Mapping[str, Any] | None,
    sacct: JobRecord | None,
    scontrol: JobRecord | None,
    exit_record: Mapping[str, Any] | None,
    slurm_log_word: str | None,
) -> Cause:
    """The cause of one failed task from what each source says of it (None: that source knows nothing)."""
    if failure is not None:
        return Cause("FAILED", error_line(failure), "failure record")
    for record, source in ((sacct, "sacct"), (scontrol, "scontrol")):
        if record is not None:
            cause = _from_slurm(record, source)
            if cause is not None:
                return cause
    cause = cause_from_exit(exit_record, slurm_log_word)
    if cause is not None:
        return cause
    return Cause("UNKNOWN", "no record: the task never started, or left no trace", "")
