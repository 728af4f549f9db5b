"""The stage plan (pure): datasets x steps with their task counts and dependencies.

Executors turn it into work: the local runner runs it in order; the Slurm submitter turns each step into
job arrays chained by dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from smolprep.config.stage import StageConfig
from smolprep.pipelines.steps import REGISTRY, StepRegistry


@dataclass(frozen=True)
class StepPlan:
    dataset: str
    step: str
    tasks: int
    after: str | None  # the step of the same dataset that must have completed every task first
    reads_documents: bool = False  # it reads documents: the dataset's input or the previous step's output
    writes_documents: bool = False  # it writes the dataset's documents (the last such step: data/<dataset>)
    dedup: bool = False  # what it removes are duplicates (else: filtered out)

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

    def final_step(self, dataset: str) -> StepPlan:
        """The dataset's last document-writing step: the one that writes data/<dataset>/."""
        steps = self.for_dataset(dataset)
        return next((s for s in reversed(steps) if s.writes_documents), steps[-1])

    @property
    def total_tasks(self) -> int:
        return sum(s.tasks for s in self.steps)

    def task_counts(self) -> dict[str, dict[str, int]]:
        """dataset -> step -> tasks: what run.json pins."""
        counts: dict[str, dict[str, int]] = {}
        for s in self.steps:
            counts.setdefault(s.dataset, {})[s.step] = s.tasks
        return counts


def plan_stage(stage: StageConfig, registry: StepRegistry = REGISTRY) -> StagePlan:
    """Every dataset's steps in the registry's order, each after the one before it."""
    steps: list[StepPlan] = []
    for spec in stage.datasets:
        previous: str | None = None
        for step in registry.dataset_steps(spec):
            declared = registry.step(step)
            steps.append(
                StepPlan(
                    spec.name,
                    step,
                    registry.tasks(stage, spec, step),
                    previous,
                    reads_documents=previous is None or declared.reads_documents,
                    writes_documents=declared.writes_documents,
                    dedup=declared.dedup,
                )
            )
            previous = step
    return StagePlan(stage.name, tuple(steps))
