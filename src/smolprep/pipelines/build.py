"""Pure builders: (stage, dataset, step) -> the list of datatrove PipelineSteps that step runs.

Which steps a dataset has, how many tasks each has and how each is built are declared once in the step
registry (``steps``); these functions ask it (the default registry unless one is passed in). The steps'
pipelines themselves are in ``filtering`` (the filter step), ``minhash`` and ``sentence``.
"""

from __future__ import annotations

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig

from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.pipelines import minhash
from smolprep.pipelines.filtering import prose_filters
from smolprep.pipelines.resources import FilterResources
from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.state.layout import RunLayout

__all__ = ["FilterResources", "build_step", "dataset_steps", "minhash_config", "prose_filters", "step_tasks"]


def dataset_steps(spec: DatasetSpec, registry: StepRegistry = REGISTRY) -> tuple[str, ...]:
    return registry.dataset_steps(spec)


def step_tasks(stage: StageConfig, spec: DatasetSpec, step: str, registry: StepRegistry = REGISTRY) -> int:
    return registry.tasks(stage, spec, step)


def minhash_config(stage: StageConfig) -> MinhashConfig:
    """datatrove's MinhashConfig of the stage's `minhash:` settings."""
    return minhash.minhash_config(stage.minhash)


def build_step(
    stage: StageConfig,
    spec: DatasetSpec,
    step: str,
    layout: RunLayout,
    resources: FilterResources,
    registry: StepRegistry = REGISTRY,
) -> list[PipelineStep]:
    """The step's pipeline; a step the registry does not declare, or the dataset does not have, raises
    UnknownStep (a ValueError)."""
    return registry.build(stage, spec, step, layout, resources)
