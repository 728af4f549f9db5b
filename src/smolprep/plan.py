"""The stage plan (pure): datasets x steps with their task counts and dependencies.

Executors turn it into work: the local runner runs it in order; the Slurm submitter turns each step into
job arrays chained by dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from smolprep.config.stage import StageConfig
from smolprep.pipelines.build import dataset_steps, step_tasks


@dataclass(frozen=True)
class StepPlan:
    dataset: str
    step: str
    tasks: int
    after: str | None  # the step of the same dataset that must have completed every task first

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.step}"


@dataclass(frozen=True)
class StagePlan:
    stage: str
    steps: tuple[StepPlan, ...]

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(s.dataset for s in self.steps))

    def for_dataset(self, dataset: str) -> list[StepPlan]:
        return [s for s in self.steps if s.dataset == dataset]

    @property
    def total_tasks(self) -> int:
        return sum(s.tasks for s in self.steps)

    def task_counts(self) -> dict[str, dict[str, int]]:
        """dataset -> step -> tasks: what run.json pins."""
        counts: dict[str, dict[str, int]] = {}
        for s in self.steps:
            counts.setdefault(s.dataset, {})[s.step] = s.tasks
        return counts


def plan_stage(stage: StageConfig) -> StagePlan:
    steps: list[StepPlan] = []
    for spec in stage.datasets:
        previous: str | None = None
        for step in dataset_steps(spec):
            steps.append(StepPlan(spec.name, step, step_tasks(stage, spec, step), previous))
            previous = step
    return StagePlan(stage.name, tuple(steps))
