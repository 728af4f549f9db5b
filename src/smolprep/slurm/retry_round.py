"""One round of retries after a stage's jobs left the queue (pure): for every failed task, the step's retry
policy (`smolprep.slurm.retry.decide`) on its cause and attempts; then what to submit again.

Attempts of a task: one per submission that ran it (the ledger), plus the times it requeued itself in
place in its last submission (its exit record's `attempt`). The resources of its last attempt are the
ones its last submission recorded in the ledger (the profile's when it recorded none).

Only the failed tasks of steps whose upstream step completed are decided: a task that Slurm cancelled
because the step before it failed (`--kill-on-invalid-dep`) runs again with that step, whatever its own
state says. A dataset with a failed task that is not retried (a Python error, attempts used up) is held
whole: nothing of it is submitted again without a person (`status` says why; `resubmit` re-runs it). The
others are submitted again, each step with the largest resources any of its retried tasks needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smolprep.config.profile import ClusterProfile, StepResources
from smolprep.plan import StagePlan
from smolprep.slurm.exit_record import Cause
from smolprep.slurm.retry import RetryDecision, decide, memory_kib, policy_for, time_seconds
from smolprep.state.ledger import LedgerEntry
from smolprep.state.status import StageStatus


@dataclass(frozen=True)
class TaskRetry:
    dataset: str
    step: str
    rank: int
    cause: Cause
    attempt: int  # attempts made so far
    decision: RetryDecision


@dataclass(frozen=True)
class RetryRound:
    tasks: tuple[TaskRetry, ...]

    @property
    def held(self) -> frozenset[str]:
        """Datasets with a failed task that is not retried."""
        return frozenset(t.dataset for t in self.tasks if not t.decision.retry)

    @property
    def retried(self) -> tuple[TaskRetry, ...]:
        return tuple(t for t in self.tasks if t.decision.retry and t.dataset not in self.held)

    @property
    def datasets(self) -> frozenset[str]:
        """Datasets to submit again."""
        return frozenset(t.dataset for t in self.retried)

    def overrides(self, everything: bool = False) -> dict[tuple[str, str], StepResources]:
        """(dataset, step) -> what its tasks ask for now: the largest of each resource over its retried
        tasks' decisions (`everything`: over every failed task's, a task not retried keeping what its last
        attempt had: what `resubmit`, run by a person, asks for)."""
        found: dict[tuple[str, str], StepResources] = {}
        for t in self.tasks if everything else self.retried:
            key, new = (t.dataset, t.step), t.decision.resources
            found[key] = new if key not in found else largest(found[key], new)
        return found


def largest(a: StepResources, b: StepResources) -> StepResources:
    return StepResources(
        time=max(a.time, b.time, key=time_seconds),
        cpus=max(a.cpus, b.cpus),
        mem_per_cpu=max(a.mem_per_cpu, b.mem_per_cpu, key=memory_kib),
    )


def last_resources(entries: list[LedgerEntry], fallback: StepResources) -> StepResources:
    """What the last of these submissions asked for (the ledger), else `fallback`."""
    for entry in reversed(entries):
        if entry.resources:
            try:
                return StepResources(**entry.resources)
            except TypeError:
                break
    return fallback


def attempts_made(entries: list[LedgerEntry], exit_record: Mapping[str, Any] | None, last_task: str) -> int:
    """Submissions that ran the task, plus its requeues in place in the last one."""
    requeues = 0
    if exit_record and exit_record.get("job") == last_task and isinstance(exit_record.get("attempt"), int):
        requeues = max(0, exit_record["attempt"] - 1)
    return max(1, len(entries)) + requeues


def plan_round(
    plan: StagePlan,
    profile: ClusterProfile,
    status: StageStatus,
    causes: Mapping[tuple[str, str], Mapping[int, Cause]],
    entries: list[LedgerEntry],
    exit_records: Mapping[tuple[str, str], Mapping[int, Mapping[str, Any]]],
    logs_command: str = "python launch.py logs",
) -> RetryRound:
    """The decisions for every failed task whose step's upstream completed."""
    by_key = {(s.dataset, s.step): s for s in status.steps}
    tasks: list[TaskRetry] = []
    for planned in plan.steps:
        key = (planned.dataset, planned.step)
        state = by_key[key]
        if not state.failed_ranks:
            continue
        if planned.after and by_key[(planned.dataset, planned.after)].state != "done":
            continue  # cancelled with its upstream step: it runs again with it
        runs: dict[int, list[LedgerEntry]] = {}
        for e in entries:
            if (e.dataset, e.step) == key:
                for rank in e.ranks:
                    runs.setdefault(rank, []).append(e)
        policy = policy_for(profile, planned.step)
        for rank in state.failed_ranks:
            cause = causes.get(key, {}).get(rank) or Cause("UNKNOWN")
            mine = runs.get(rank, [])
            last_task = f"{mine[-1].job_id}_{mine[-1].index_of_rank(rank)}" if mine else ""
            attempt = attempts_made(mine, exit_records.get(key, {}).get(rank), last_task)
            current = last_resources(mine, profile.resources(planned.step))
            command = f"{logs_command} --dataset {planned.dataset} --step {planned.step} --rank {rank}"
            decision = decide(policy, cause.text(), attempt, current, logs_command=command)
            tasks.append(TaskRetry(planned.dataset, planned.step, rank, cause, attempt, decision))
    return RetryRound(tuple(tasks))


def describe(round_: RetryRound) -> list[str]:
    """One line per step and decision: 'en/filter ranks 3, 7: OUT_OF_MEMORY: retry 2 of 3 with ...'."""
    grouped: dict[tuple[str, str, str], list[int]] = {}
    for t in round_.tasks:
        held = t.decision.retry and t.dataset in round_.held
        reason = t.decision.reason + (" (held: another task of the dataset is not retried)" if held else "")
        grouped.setdefault((t.dataset, t.step, reason), []).append(t.rank)
    lines = []
    for (dataset, step, reason), ranks in grouped.items():
        shown = ", ".join(str(r) for r in ranks[:8]) + (
            f" and {len(ranks) - 8} more" if len(ranks) > 8 else ""
        )
        lines.append(f"{dataset}/{step} rank{'s' if len(ranks) > 1 else ''} {shown}: {reason}")
    return lines


__all__ = ["RetryRound", "TaskRetry", "attempts_made", "describe", "largest", "last_resources", "plan_round"]
