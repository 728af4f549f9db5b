"""The cluster's job limits and how a stage's plan fits into them (pure).

Every array task counts as a job for Slurm. What one launch may queue is bounded by `MaxArraySize`
(default 1,001) per array and, for the number of jobs queued at once, by the smallest of: the controller's
`MaxJobCount` (default 10,000) and the submit limits of the accounting database (sacctmgr): the user's
association `MaxSubmitJobs`/`GrpSubmitJobs` and the QOS's `MaxSubmitJobsPerUser`, `MaxSubmitJobsPerAccount`
and `GrpSubmitJobs`. `MaxJobs` and its kin bound only the jobs that run at once (the rest wait in the queue):
they are reported, never planned around.

A stage that asks for more array tasks than `max_queued_tasks` runs several ranks per array task (datatrove's
`tasks_per_job`, up to `max_tasks_per_job`). If it still does not fit, it is submitted in waves
(`smolprep.slurm.waves`) instead of failing at `sbatch` halfway through the stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from smolprep.config.profile import HELPER_JOBS, ClusterProfile
from smolprep.plan import StagePlan
from smolprep.slurm.query import SubmitLimits

DEFAULT_MAX_JOB_COUNT = 10_000


@dataclass(frozen=True)
class QueueBound:
    """One limit on the jobs queued at once. A stage takes half of a limit other users' jobs count against
    too (the controller's MaxJobCount, a QOS's GrpSubmitJobs or per-account limit) and all of one that is
    the user's alone (MaxSubmitJobs, MaxSubmitJobsPerUser): nobody else needs room under it, and should the
    user's other jobs fill it, sbatch answers busy and the waves wait for room."""

    name: str  # "MaxJobCount 10000 (scontrol show config)", "MaxSubmitJobs 40 (association alice/physics)"
    value: int
    shared: bool

    @property
    def share(self) -> int:
        return max(1, self.value // 2) if self.shared else self.value


@dataclass(frozen=True)
class ClusterLimits:
    max_array_size: int
    max_job_count: int
    max_queued_tasks: int
    source: str  # where max_array_size came from (`scontrol show config` or the profile)
    binding: str  # the limit that sets max_queued_tasks, where it is set and how much of it a stage takes
    running: tuple[str, ...] = ()  # limits on running jobs (MaxJobs, ...): jobs past them wait in the queue
    max_job_count_named: str = ""  # "MaxJobCount 10000 (Slurm default)": the value and where it came from

    def describe(self) -> str:
        text = (
            f"MaxArraySize {self.max_array_size} ({self.source}), {self.max_job_count_named}; "
            f"at most {self.max_queued_tasks} array tasks queued at once, bound by {self.binding}"
        )
        if self.running:
            text += (
                f"; {', '.join(self.running)} bound{'s' if len(self.running) == 1 else ''} running jobs only"
            )
        return text


def _controller(profile: ClusterProfile, scontrol: Mapping[str, str] | None) -> tuple[int, QueueBound, str]:
    """MaxArraySize, the MaxJobCount bound and where they came from: `scontrol show config` when Slurm
    answered, else the profile (else Slurm's default MaxJobCount)."""
    max_array = profile.max_array_size
    max_jobs, where = (
        (profile.max_job_count, "profile") if profile.max_job_count else (DEFAULT_MAX_JOB_COUNT, "")
    )
    source = "profile"
    if scontrol:
        if scontrol.get("MaxArraySize", "").isdigit():
            max_array = min(max_array, int(scontrol["MaxArraySize"]))
        if scontrol.get("MaxJobCount", "").isdigit():
            max_jobs, where = int(scontrol["MaxJobCount"]), "scontrol show config"
        source = "scontrol show config"
    return (
        max_array,
        QueueBound(f"MaxJobCount {max_jobs} ({where or 'Slurm default'})", max_jobs, True),
        source,
    )


def _bounds(controller: QueueBound, submit_limits: SubmitLimits | None) -> list[QueueBound]:
    found = [controller]
    for limit in submit_limits.submit() if submit_limits else ():
        found.append(QueueBound(f"{limit.name} {limit.value} ({limit.where})", limit.value, limit.shared))
    return found


def cluster_limits(
    profile: ClusterProfile, scontrol: Mapping[str, str] | None, submit_limits: SubmitLimits | None = None
) -> ClusterLimits:
    """The limits a stage is planned in: `scontrol show config` when Slurm answered, else the profile, and
    the association and QOS submit limits when the accounting database answered (`submit_limits`).

    `max_queued_tasks` is the profile's when it sets one (never above any limit), else the smallest share
    of a limit (`QueueBound.share`): half of a shared one, all of the user's own."""
    max_array, controller, source = _controller(profile, scontrol)
    queued, binding = _queued(profile, _bounds(controller, submit_limits))
    running = (
        tuple(f"{r.name} {r.value} ({r.where})" for r in submit_limits.running()) if submit_limits else ()
    )
    # an array larger than what the queue limit leaves beside the run's helper jobs could never be queued
    # (waves would wait for room forever): cap arrays there too
    return ClusterLimits(
        min(max_array, max(1, queued - HELPER_JOBS)),
        controller.value,
        queued,
        source,
        binding,
        running,
        controller.name,
    )


def _queued(profile: ClusterProfile, bounds: list[QueueBound]) -> tuple[int, str]:
    """max_queued_tasks and the limit that sets it."""
    if profile.max_queued_tasks:
        lowest = min(bounds, key=lambda b: b.value)
        if profile.max_queued_tasks <= lowest.value:
            return profile.max_queued_tasks, f"max_queued_tasks {profile.max_queued_tasks} (profile)"
        return lowest.value, lowest.name
    bound = min(bounds, key=lambda b: b.share)  # the first of equals: MaxJobCount
    how = ": half of it, other users' jobs count too" if bound.shared else ", the user's own"
    return bound.share, bound.name + how


@dataclass(frozen=True)
class Fit:
    tasks_per_job: dict[tuple[str, str], int]
    peak_queued: int  # array tasks in the queue when the whole stage is submitted at once
    tasks: int  # datatrove tasks of the stage
    fits: bool
    limits: ClusterLimits

    def explain(self) -> str:
        packed = sorted({t for t in self.tasks_per_job.values() if t > 1})
        how = (
            f"{packed[-1]} ranks per array task for steps with more than one task"
            if packed
            else "one rank per array task"
        )
        verdict = "fits in one wave" if self.fits else "does not fit at once: submitted in waves"
        return (
            f"{self.tasks} tasks as {self.peak_queued} array tasks ({how}); peak queued {self.peak_queued} "
            f"of at most {self.limits.max_queued_tasks}: {verdict}. Limits: {self.limits.describe()}."
        )


def _jobs(tasks: int, per_job: int) -> int:
    return math.ceil(tasks / per_job)


def fit_plan(plan: StagePlan, limits: ClusterLimits, max_tasks_per_job: int) -> Fit:
    """Smallest ranks-per-array-task (the same for every multi-task step) that fits the queue limit."""
    total = plan.total_tasks
    per_job = 1
    while True:
        table = {(s.dataset, s.step): (per_job if s.tasks > 1 else 1) for s in plan.steps}
        peak = sum(_jobs(s.tasks, table[(s.dataset, s.step)]) for s in plan.steps)
        if peak <= limits.max_queued_tasks or per_job >= max_tasks_per_job:
            return Fit(table, peak, total, peak <= limits.max_queued_tasks, limits)
        per_job += 1
