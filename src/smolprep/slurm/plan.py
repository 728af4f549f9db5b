"""Slurm planning (pure): which ranks of which step go into which array chunks, and what waits for what."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from smolprep.config.profile import ClusterProfile
from smolprep.plan import StagePlan, StepPlan
from smolprep.slurm.render import ArrayChunk


@dataclass(frozen=True)
class StepSubmission:
    step: StepPlan
    ranks: tuple[int, ...]  # ranks still to run (no completion marker)
    chunks: tuple[ArrayChunk, ...]
    tasks_per_job: int

    @property
    def complete(self) -> bool:
        return not self.ranks


def chunk_ranks(
    dataset: str, step: str, ranks: tuple[int, ...], max_array_size: int, tasks_per_job: int = 1
) -> tuple[ArrayChunk, ...]:
    """Split the ranks to run into arrays of at most `max_array_size` indices (MaxArraySize)."""
    jobs = math.ceil(len(ranks) / tasks_per_job)
    chunks = []
    for index in range(math.ceil(jobs / max_array_size)):
        first_job = index * max_array_size
        size = min(max_array_size, jobs - first_job)
        covered = ranks[first_job * tasks_per_job : (first_job + size) * tasks_per_job]
        chunks.append(ArrayChunk(dataset, step, index, size, tuple(covered)))
    return tuple(chunks)


def plan_submissions(
    plan: StagePlan,
    profile: ClusterProfile,
    completed: Mapping[tuple[str, str], set[int]],
    tasks_per_job: Mapping[tuple[str, str], int] | None = None,
    max_array_size: int | None = None,
) -> list[StepSubmission]:
    submissions = []
    for step in plan.steps:
        done = completed.get((step.dataset, step.step), set())
        ranks = tuple(r for r in range(step.tasks) if r not in done)
        per_job = (tasks_per_job or {}).get((step.dataset, step.step), 1)
        chunks = chunk_ranks(
            step.dataset, step.step, ranks, max_array_size or profile.max_array_size, per_job
        )
        submissions.append(StepSubmission(step, ranks, chunks, per_job))
    return submissions
