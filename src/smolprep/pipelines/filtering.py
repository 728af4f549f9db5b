"""The `filter` step's pipeline: reader -> optional sampler -> the dataset's filters -> writer.

A plain builder (settings and the loaded filter files in, datatrove blocks out); the step registry
(``steps``) decides where it writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from datatrove.pipeline.base import PipelineStep

from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.filters import (
    CodeSanityFilter,
    FastLanguageIdFilter,
    LanguageAwareFineWebQualityFilter,
    LanguageAwareGopherQualityFilter,
    LanguageAwareGopherRepetitionFilter,
    SpamFilter,
    language_score,
)
from smolprep.filters.chain import selected_filters
from smolprep.pipelines.guards import FilterGuard
from smolprep.pipelines.intermediate import intermediate_reader
from smolprep.pipelines.readers import input_reader
from smolprep.pipelines.sampling import SeededSampler
from smolprep.pipelines.writers import AtomicJsonlWriter

if TYPE_CHECKING:
    from smolprep.pipelines.resources import FilterResources


def prose_filters(spec: DatasetSpec, resources: FilterResources) -> list[PipelineStep]:
    """The dataset's filters: its `filters` or, by default, its kind's whole chain (``smolprep.filters.chain``),
    in the chain's order. For web and math, FineWeb-2's chain with each document language's values
    (``smolprep.filters.params``), then the spam filter for web; for code, the sanity checks."""
    languages = list(spec.language)
    builders: dict[str, Callable[[], PipelineStep]] = {
        "language": lambda: FastLanguageIdFilter(
            languages,
            model_path=resources.lid_model,
            thresholds={language: language_score(language) for language in languages},
        ),
        "repetition": lambda: LanguageAwareGopherRepetitionFilter(
            default_language=languages[0], kind=spec.kind
        ),
        "fineweb-quality": lambda: LanguageAwareFineWebQualityFilter(
            default_language=languages[0], kind=spec.kind
        ),
        "gopher-quality": lambda: LanguageAwareGopherQualityFilter(
            default_language=languages[0], kind=spec.kind
        ),
        "spam": lambda: SpamFilter(resources.spam_phrases),
        "code-sanity": CodeSanityFilter,
    }
    return [builders[name]() for name in selected_filters(spec.kind, spec.filters)]


def filter_pipeline(
    stage: StageConfig,
    spec: DatasetSpec,
    resources: FilterResources,
    output: str,
    documents: str | None = None,
    repair: str = "",
) -> list[PipelineStep]:
    """Read the dataset's input (or `documents`: the previous step's output, such as `contents`'), sample
    it, run its filters, write what they keep to `output`."""
    reader = input_reader(stage, spec) if documents is None else intermediate_reader(documents, repair)
    pipeline: list[PipelineStep] = [reader]
    if spec.sample_rate < 1.0:
        pipeline.append(SeededSampler(spec.sample_rate, stage.seed, spec.name))
    pipeline += [FilterGuard(f) for f in prose_filters(spec, resources)]
    pipeline.append(AtomicJsonlWriter(output))
    return pipeline
