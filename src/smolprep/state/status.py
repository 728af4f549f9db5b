"""Status assembly (pure): completion markers + the job ledger + the queue + failure records -> a state per
dataset and step.

Only a marker says a task is done. A rank that was submitted, has no marker and is no longer in the queue
has failed (killed, timed out, node failure, cancelled): a job missing from the queue is never success. A
rank with a failure record (a local task that raised) and no marker has failed too, unless it is queued
again; its error's last line goes with the status.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from smolprep.plan import StagePlan
from smolprep.slurm.query import QueueEntry
from smolprep.state.ledger import LedgerEntry

_ARRAY_TASKS = re.compile(r"^(\d+)_(\d+)$")
_PENDING_RANGE = re.compile(r"^(\d+)_\[([^\]]+)\]$")


def expand_array_indices(spec: str) -> list[int]:
    """'4-9%2' / '1,3,5-6' -> [indices] (squeue's compact form for pending array tasks)."""
    spec = spec.split("%", 1)[0]
    indices: list[int] = []
    for part in spec.split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        high, _, step = high.partition(":")  # 1-9:2 for stepped arrays
        start = int(low)
        indices += list(range(start, (int(high) if high else start) + 1, int(step) if step else 1))
    return indices


def queued_indices(entry: QueueEntry) -> list[int]:
    """Array indices an squeue line stands for ([] for a non-array job)."""
    match = _ARRAY_TASKS.match(entry.job_id)
    if match:
        return [int(match.group(2))]
    match = _PENDING_RANGE.match(entry.job_id)
    if match:
        return expand_array_indices(match.group(2))
    return []


@dataclass
class StepStatus:
    dataset: str
    step: str
    tasks: int
    completed: int = 0
    running: int = 0
    pending: int = 0
    failed: int = 0
    not_submitted: int = 0
    state: str = "not-submitted"
    reasons: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    failed_ranks: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)  # failed rank -> the last line of its error

    def as_json(self) -> dict:
        return {
            "tasks": self.tasks,
            "completed": self.completed,
            "running": self.running,
            "pending": self.pending,
            "failed": self.failed,
            "not_submitted": self.not_submitted,
            "state": self.state,
            "reasons": self.reasons,
            "job_ids": self.job_ids,
            "failed_ranks": self.failed_ranks,
            "errors": {str(rank): line for rank, line in self.errors.items()},
        }


def step_status(
    dataset: str,
    step: str,
    tasks: int,
    completed: set[int],
    entries: list[LedgerEntry],
    queue: Iterable[QueueEntry],
    failures: Mapping[int, Mapping] | None = None,
) -> StepStatus:
    """failures: rank -> failure record ({"error": ...}) of the tasks that raised (local runs)."""
    failures = failures or {}
    status = StepStatus(dataset, step, tasks)
    done = completed & set(range(tasks))
    status.completed = len(done)
    mine = [e for e in entries if e.dataset == dataset and e.step == step]
    status.job_ids = list(dict.fromkeys(e.job_id for e in mine))
    by_job = {e.job_id: e for e in mine}
    running: set[int] = set()
    pending: set[int] = set()
    reasons: list[str] = []
    for item in queue:
        entry = by_job.get(item.array_job_id)
        if entry is None:
            continue
        ranks = [r for i in queued_indices(item) for r in entry.ranks_of_index(i)]
        if item.state in ("RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED", "STOPPED"):
            running.update(ranks)
        else:
            pending.update(ranks)
            if item.reason and item.reason not in ("None", "(null)") and item.reason not in reasons:
                reasons.append(item.reason)
    running -= done
    pending -= done | running
    submitted = {r for e in mine for r in e.ranks} | set(failures)
    failed = (submitted & set(range(tasks))) - done - running - pending
    status.running, status.pending, status.failed = len(running), len(pending), len(failed)
    status.failed_ranks = sorted(failed)
    status.errors = {r: error_line(failures[r]) for r in status.failed_ranks if r in failures}
    status.not_submitted = tasks - len(done | running | pending | failed)
    status.reasons = reasons
    if status.completed == tasks:
        status.state = "done"
    elif failed:
        status.state = "failed"
    elif running:
        status.state = "running"
    elif pending:
        status.state = "pending"
    else:
        status.state = "not-submitted"
    return status


def error_line(record: Mapping) -> str:
    """The one line a failure record's error shows in a table ("ValueError: bad value")."""
    lines = [line.strip() for line in str(record.get("error") or "").splitlines() if line.strip()]
    return lines[-1] if lines else "failed (no error recorded)"


@dataclass
class StageStatus:
    stage: str
    steps: list[StepStatus]

    @property
    def done(self) -> bool:
        return all(s.state == "done" for s in self.steps)

    def as_json(self) -> dict:
        datasets: dict[str, dict] = {}
        for s in self.steps:
            datasets.setdefault(s.dataset, {})[s.step] = s.as_json()
        return {"stage": self.stage, "done": self.done, "datasets": datasets}


def stage_status(
    plan: StagePlan,
    completed: Mapping[tuple[str, str], set[int]],
    entries: list[LedgerEntry],
    queue: list[QueueEntry],
    driver_active: bool = False,
    failures: Mapping[tuple[str, str], Mapping[int, Mapping]] | None = None,
) -> StageStatus:
    """failures: (dataset, step) -> rank -> failure record (RunLayout.failure_records)."""
    failures = failures or {}
    steps = [
        step_status(
            s.dataset,
            s.step,
            s.tasks,
            completed.get((s.dataset, s.step), set()),
            entries,
            queue,
            failures.get((s.dataset, s.step)),
        )
        for s in plan.steps
    ]
    by_key = {(s.dataset, s.step): s for s in steps}
    for planned, status in zip(plan.steps, steps, strict=True):
        upstream = by_key.get((planned.dataset, planned.after)) if planned.after else None
        if status.state == "failed" and upstream is not None and upstream.state == "failed":
            status.reasons.append(f"cancelled by Slurm: {planned.after} failed")
        if status.state == "not-submitted" and driver_active:
            status.state = "waiting"  # the wave driver will submit it when the queue has room
            status.reasons.append("waiting for its wave")
    return StageStatus(plan.stage, steps)
