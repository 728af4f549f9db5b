"""The cluster's job limits and how a stage's plan fits into them (pure).

Every array task counts as a job for Slurm: `MaxJobCount` (controller-wide, default 10,000) and
`MaxArraySize` (default 1,001) bound what one launch may queue, and sites add per-user limits. A stage
that asks for more array tasks than `max_queued_tasks` runs several ranks per array task (datatrove's
`tasks_per_job`, up to `max_tasks_per_job`). If it still does not fit, it is submitted in waves
(`smolprep.slurm.waves`) instead of failing at `sbatch` halfway through the stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from smolprep.config.profile import HELPER_JOBS, ClusterProfile
from smolprep.plan import StagePlan

DEFAULT_MAX_JOB_COUNT = 10_000


@dataclass(frozen=True)
class ClusterLimits:
    max_array_size: int
    max_job_count: int
    max_queued_tasks: int
    source: str  # where max_job_count and max_array_size came from

    def describe(self) -> str:
        return (
            f"MaxArraySize {self.max_array_size}, MaxJobCount {self.max_job_count} ({self.source}), "
            f"at most {self.max_queued_tasks} array tasks queued at once"
        )


def cluster_limits(profile: ClusterProfile, scontrol: Mapping[str, str] | None) -> ClusterLimits:
    """Limits from `scontrol show config` when Slurm answered, else from the profile."""
    max_array = profile.max_array_size
    max_jobs = profile.max_job_count or DEFAULT_MAX_JOB_COUNT
    source = "profile"
    if scontrol:
        if scontrol.get("MaxArraySize", "").isdigit():
            max_array = min(max_array, int(scontrol["MaxArraySize"]))
        if scontrol.get("MaxJobCount", "").isdigit():
            max_jobs = int(scontrol["MaxJobCount"])
        source = "scontrol show config"
    queued = min(profile.max_queued_tasks or max(1, max_jobs // 2), max_jobs)
    # an array larger than what the queue limit leaves beside the run's helper jobs could never be queued
    # (waves would wait for room forever): cap arrays there too
    return ClusterLimits(min(max_array, max(1, queued - HELPER_JOBS)), max_jobs, queued, source)


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
