"""The step registry: every step a dataset can run, declared once, in the order steps run.

A declaration (`Step`) says when a dataset has the step (from its config), how many tasks it has, which
settings it reads (what run.json pins for it), the folders it writes, whether it reads and writes the
dataset's documents, and how its datatrove pipeline is built. Everything else derives from the registry:
the plan (a dataset's steps in registry order, each gated on every task of the one before), the builders,
local runs, Slurm submission, run.json's fingerprints, `--force-config`'s reset, status, summary, report and
the launcher's probe. An unknown step name is an error (`UnknownStep`), never a fall-through.

Documents flow through the document-writing steps: a step that reads documents reads what the last
document-writing step before it wrote (with the strict checksummed reader), and a document-writing step
writes its own intermediate folder, except the dataset's last one, which writes the final `data/<dataset>/`.
So `dedup: none` ends at `filter`, and a step declared after the dedup steps follows them automatically.

Adding a step: one `Step(...)` in `REGISTRY` (at its place in the order) plus its builder; see
docs/concepts.md, "Adding a step". Tests build their own `StepRegistry` and pass it in (`registry=`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from datatrove.pipeline.base import PipelineStep

from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.filters.chain import WORD_FILTERS, selected_filters
from smolprep.filters.gopher import tokenizer_language
from smolprep.pipelines import minhash, sentence, tokenize
from smolprep.pipelines.contents_step import contents_pipeline
from smolprep.pipelines.filtering import filter_pipeline

if TYPE_CHECKING:
    from smolprep.pipelines.resources import FilterResources
    from smolprep.state.layout import RunLayout

# the dataset keys that change its documents (all read by `filter`, the first step)
DATASET_KEYS = (
    "source",
    "subset",
    "split",
    "path",
    "format",
    "glob",
    "text_key",
    "id_key",
    "kind",
    "filters",
    "language",
    "weight",
    "tasks",
    "sample_rate",
    "max_docs",
    "dedup",
    "contents",
)
_STEP_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class UnknownStep(ValueError):
    """A step name the registry does not declare, or one a dataset does not have."""


@dataclass(frozen=True)
class StepContext:
    """What a builder gets: the dataset, where its documents come from and go, and the filter files."""

    stage: StageConfig
    spec: DatasetSpec
    layout: RunLayout
    resources: FilterResources
    documents_in: str | None  # the previous document-writing step's output (None for the first step)
    documents_out: str | None  # where this step writes documents (None: it writes none)
    repair: str  # what to do when a file of `documents_in` is damaged

    @property
    def name(self) -> str:
        return self.spec.name


def _no_languages(spec: DatasetSpec) -> tuple[str, ...]:
    return ()


def _no_folders(layout: RunLayout, dataset: str) -> tuple[Path, ...]:
    return ()


@dataclass(frozen=True)
class Step:
    """One step. `build` gets a `StepContext` and returns the datatrove blocks its tasks run.

    - `enabled`: whether a dataset has the step (from its config);
    - `tasks`: its task count; steps that read documents must have the dataset's `tasks`: rank r reads the
      same files as rank r of the step before;
    - `tasks_from`: the settings that task count comes from (`tasks`: the dataset's; `section.key`: the
      stage's), named when a step has too many tasks;
    - `inputs`: the settings it reads itself (dataset keys, stage keys such as `seed` or `minhash.n_grams`),
      pinned in run.json; what it reads through the step before comes with the chain of fingerprints;
    - `folders`: the folders it writes besides documents;
    - `documents`: where it writes documents when it is not the dataset's last document-writing step (its
      intermediate folder); None for a step that writes no documents;
    - `reads_documents`: it reads the previous document-writing step's output (the dataset's input when no
      step before it writes documents);
    - `dedup`: what it removes counts as duplicates in the summary and the report (else as filtered out);
    - `probe`: the launcher runs its blocks once on a short text in the dataset's language (a missing
      tokenizer package or model becomes a config issue, see `probe`);
    - `word_languages`: the languages (FineWeb-2 codes) whose word tokenizers its tasks use, which local runs
      load once before the workers start (`preload`).
    """

    name: str
    enabled: Callable[[DatasetSpec], bool]
    tasks: Callable[[StageConfig, DatasetSpec], int]
    build: Callable[[StepContext], list[PipelineStep]]
    inputs: tuple[str, ...] = ()
    tasks_from: tuple[str, ...] = ("tasks",)
    folders: Callable[[RunLayout, str], tuple[Path, ...]] = _no_folders
    documents: Callable[[RunLayout, str], Path] | None = None
    reads_documents: bool = False
    dedup: bool = False
    probe: bool = False
    word_languages: Callable[[DatasetSpec], tuple[str, ...]] = _no_languages

    @property
    def writes_documents(self) -> bool:
        return self.documents is not None


class StepRegistry:
    """Steps in the order they run. Immutable; `with_step` gives a new registry with one more step."""

    def __init__(self, steps: Iterable[Step]):
        self.steps: tuple[Step, ...] = tuple(steps)
        names = [s.name for s in self.steps]
        for name in names:
            if not _STEP_NAME.match(name):
                raise ValueError(
                    f"step name {name!r}: lowercase letters, digits and '-', starting with a letter"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"steps declared twice: {', '.join(duplicates)}")
        self._by_name = {s.name: s for s in self.steps}

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def with_step(self, step: Step, after: str | None = None) -> StepRegistry:
        """This registry with `step` added after `after` (at the end when None)."""
        steps = list(self.steps)
        at = len(steps) if after is None else self.names.index(self.step(after).name) + 1
        return StepRegistry([*steps[:at], step, *steps[at:]])

    def step(self, name: str) -> Step:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownStep(f"unknown step {name!r}; steps are {', '.join(self.names)}") from None

    def steps_from(self, first: str) -> tuple[str, ...]:
        """`first` and every step after it, in the order steps run."""
        return self.names[self.names.index(self.step(first).name) :]

    # --- a dataset's steps ------------------------------------------------------------------------------

    def dataset_steps(self, spec: DatasetSpec) -> tuple[str, ...]:
        steps = tuple(s.name for s in self.steps if s.enabled(spec))
        if not steps or not self.step(steps[0]).writes_documents:
            raise ValueError(f"dataset {spec.name}: its first step must read its input and write documents")
        return steps

    def dataset_step(self, spec: DatasetSpec, name: str) -> Step:
        step = self.step(name)
        if name not in self.dataset_steps(spec):
            raise UnknownStep(
                f"dataset {spec.name} has no step {name!r}; its steps: {', '.join(self.dataset_steps(spec))}"
            )
        return step

    def tasks(self, stage: StageConfig, spec: DatasetSpec, name: str) -> int:
        return self.dataset_step(spec, name).tasks(stage, spec)

    def final_step(self, spec: DatasetSpec) -> str:
        """The dataset's last document-writing step: it writes the final documents, `data/<dataset>/`."""
        return [n for n in self.dataset_steps(spec) if self.step(n).writes_documents][-1]

    def documents_out(self, layout: RunLayout, spec: DatasetSpec, name: str) -> Path | None:
        """Where step `name` writes the dataset's documents: `data/<dataset>` for the final step, else its
        intermediate folder; None for a step that writes none."""
        step = self.dataset_step(spec, name)
        if step.documents is None:
            return None
        return layout.data(spec.name) if name == self.final_step(spec) else step.documents(layout, spec.name)

    def documents_in(self, layout: RunLayout, spec: DatasetSpec, name: str) -> tuple[str, Path] | None:
        """The step whose documents step `name` reads, and their folder; None for a step reading none."""
        if not self.dataset_step(spec, name).reads_documents:
            return None
        steps = self.dataset_steps(spec)
        writers = [n for n in steps[: steps.index(name)] if self.step(n).writes_documents]
        if not writers:  # the first document-writing step: it reads the dataset's input
            return None
        writer = writers[-1]
        folder = self.documents_out(layout, spec, writer)
        assert folder is not None
        return writer, folder

    def build(
        self,
        stage: StageConfig,
        spec: DatasetSpec,
        name: str,
        layout: RunLayout,
        resources: FilterResources,
    ) -> list[PipelineStep]:
        step = self.dataset_step(spec, name)
        source = self.documents_in(layout, spec, name)
        out = self.documents_out(layout, spec, name)
        context = StepContext(
            stage,
            spec,
            layout,
            resources,
            documents_in=str(source[1]) if source else None,
            documents_out=str(out) if out else None,
            repair=self.damage_repair(layout, spec, source[0]) if source else "",
        )
        return step.build(context)

    # --- folders ----------------------------------------------------------------------------------------

    def outputs(self, layout: RunLayout, dataset: str, name: str) -> list[Path]:
        """Every folder step `name` may write for `dataset`, whatever the dataset's config: its own folders,
        its intermediate documents and, for a document-writing step, `data/<dataset>`."""
        step = self.step(name)
        paths = list(step.folders(layout, dataset))
        if step.documents is not None:
            paths += [step.documents(layout, dataset), layout.data(dataset)]
        return list(dict.fromkeys(paths))

    def damage_repair(self, layout: RunLayout, spec: DatasetSpec, writer: str) -> str:
        """What to do when a file `writer` wrote for the next step is damaged: remove its outputs and those
        of every later step, and its markers, then relaunch."""
        steps = self.dataset_steps(spec)
        later = steps[steps.index(writer) :]
        folders = list(dict.fromkeys(p for n in later for p in self.outputs(layout, spec.name, n)))
        folders.append(layout.logs(spec.name, writer).parent)
        shown = ", ".join(str(f) for f in folders[:-1])
        return (
            f"Remove {shown} and {folders[-1]} (dataset {spec.name}'s {writer} output, the outputs of the steps "
            f"after it and the step markers), then relaunch the same command to run {writer} again; or "
            "relaunch into a new --output"
        )

    # --- settings -----------------------------------------------------------------------------------------

    def tasks_from(self) -> dict[str, tuple[str, ...]]:
        """step -> the settings its task count comes from."""
        return {s.name: s.tasks_from for s in self.steps}

    def inputs(self) -> dict[str, tuple[str, ...]]:
        """step -> the settings it reads itself (run.json's fingerprints)."""
        return {s.name: s.inputs for s in self.steps}

    def dataset_inputs(self, spec: DatasetSpec) -> tuple[str, ...]:
        """The settings the dataset's steps read, in step order."""
        return tuple(dict.fromkeys(k for n in self.dataset_steps(spec) for k in self.step(n).inputs))

    def word_languages(self, spec: DatasetSpec) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(c for n in self.dataset_steps(spec) for c in self.step(n).word_languages(spec))
        )


# --- the steps ----------------------------------------------------------------------------------------------


def dedup_language(spec: DatasetSpec) -> str:
    """The FineWeb-2 code whose word tokenizer splits a dataset's words and sentences for dedup: its first
    language's (a bare `zh` would get spaCy's 'xx', `hi` a Kurmanji Stanza model); code is split as English."""
    return tokenizer_language(spec.language[0]) if spec.kind != "code" else "en"


def _filter_languages(spec: DatasetSpec) -> tuple[str, ...]:
    """Word tokenizers of the filter step: the Gopher and FineWeb filters split words in each language."""
    if spec.kind == "code" or not WORD_FILTERS & set(selected_filters(spec.kind, spec.filters)):
        return ()
    return tuple(tokenizer_language(language) for language in spec.language)


def _dataset_tasks(stage: StageConfig, spec: DatasetSpec) -> int:
    return spec.tasks


def _one_task(stage: StageConfig, spec: DatasetSpec) -> int:
    return 1


def _always(spec: DatasetSpec) -> bool:
    return True


def _minhash(spec: DatasetSpec) -> bool:
    return "minhash" in spec.dedup


def _sentence(spec: DatasetSpec) -> bool:
    return "sentence" in spec.dedup


def _tokenized(spec: DatasetSpec) -> bool:
    return spec.tokenize  # false for every dataset when the stage has no tokenize.tokenizer


def _out(c: StepContext) -> str:
    assert c.documents_out is not None
    return c.documents_out


def _in(c: StepContext) -> str:
    assert c.documents_in is not None
    return c.documents_in


MINHASH_SIGNATURE_INPUTS = ("minhash.n_grams", "minhash.num_buckets", "minhash.hashes_per_bucket")

REGISTRY = StepRegistry(
    [
        Step(
            "contents",
            enabled=lambda spec: spec.contents is not None,
            tasks=_dataset_tasks,
            build=lambda c: contents_pipeline(c.stage, c.spec, _out(c)),
            inputs=DATASET_KEYS,
            documents=lambda layout, d: layout.contents(d),
        ),
        Step(
            "filter",
            enabled=_always,
            tasks=_dataset_tasks,
            build=lambda c: filter_pipeline(c.stage, c.spec, c.resources, _out(c), c.documents_in, c.repair),
            inputs=(*DATASET_KEYS, "seed", "spam_lists", "lid_model"),
            documents=lambda layout, d: layout.filtered(d),
            reads_documents=True,
            probe=True,
            word_languages=_filter_languages,
        ),
        Step(
            "minhash-signatures",
            dedup=True,
            enabled=_minhash,
            tasks=_dataset_tasks,
            build=lambda c: minhash.signatures_pipeline(
                c.stage.minhash,
                _in(c),
                c.repair,
                str(c.layout.minhash(c.name, "signatures")),
                dedup_language(c.spec),
            ),
            inputs=MINHASH_SIGNATURE_INPUTS,
            folders=lambda layout, d: (layout.minhash(d, "signatures"),),
            reads_documents=True,
            probe=True,
            word_languages=lambda spec: (dedup_language(spec),),
        ),
        Step(
            "minhash-buckets",
            dedup=True,
            enabled=_minhash,
            tasks=lambda stage, spec: stage.minhash.num_buckets * stage.minhash.bucket_tasks_per_bucket,
            tasks_from=("minhash.num_buckets", "minhash.bucket_tasks_per_bucket"),
            build=lambda c: minhash.buckets_pipeline(
                c.stage.minhash,
                str(c.layout.minhash(c.name, "signatures")),
                str(c.layout.minhash(c.name, "buckets")),
            ),
            inputs=("minhash.bucket_tasks_per_bucket",),
            folders=lambda layout, d: (layout.minhash(d, "buckets"),),
        ),
        Step(
            "minhash-cluster",
            dedup=True,
            enabled=_minhash,
            tasks=_one_task,
            tasks_from=(),
            build=lambda c: minhash.cluster_pipeline(
                c.stage.minhash,
                str(c.layout.minhash(c.name, "buckets")),
                str(c.layout.minhash(c.name, "remove")),
            ),
            folders=lambda layout, d: (layout.minhash(d, "remove"),),
        ),
        Step(
            "minhash-filter",
            dedup=True,
            enabled=_minhash,
            tasks=_dataset_tasks,
            build=lambda c: minhash.filter_pipeline(
                _in(c), c.repair, str(c.layout.minhash(c.name, "remove")), _out(c)
            ),
            documents=lambda layout, d: layout.minhash(d, "documents"),
            reads_documents=True,
        ),
        Step(
            "sentence-signatures",
            dedup=True,
            enabled=_sentence,
            tasks=_dataset_tasks,
            build=lambda c: sentence.signatures_pipeline(
                c.stage.sentence,
                _in(c),
                c.repair,
                str(c.layout.sentence(c.name, "signatures")),
                dedup_language(c.spec),
            ),
            inputs=("sentence.n_sentences", "sentence.find_tasks"),
            folders=lambda layout, d: (layout.sentence(d, "signatures"),),
            reads_documents=True,
            probe=True,
        ),
        Step(
            "sentence-find",
            dedup=True,
            enabled=_sentence,
            tasks=lambda stage, spec: stage.sentence.find_tasks,
            tasks_from=("sentence.find_tasks",),
            build=lambda c: sentence.find_pipeline(
                c.stage.sentence,
                str(c.layout.sentence(c.name, "signatures")),
                str(c.layout.sentence(c.name, "duplicates")),
            ),
            folders=lambda layout, d: (layout.sentence(d, "duplicates"),),
        ),
        Step(
            "sentence-filter",
            dedup=True,
            enabled=_sentence,
            tasks=_dataset_tasks,
            build=lambda c: sentence.filter_pipeline(
                c.stage.sentence,
                _in(c),
                c.repair,
                str(c.layout.sentence(c.name, "duplicates")),
                dedup_language(c.spec),
                _out(c),
            ),
            inputs=("sentence.min_doc_words", "sentence.min_num_sentences"),
            documents=lambda layout, d: layout.sentence(d, "documents"),
            reads_documents=True,
        ),
        Step(
            "tokenize",
            enabled=_tokenized,
            tasks=_dataset_tasks,
            build=lambda c: tokenize.tokenize_pipeline(
                c.stage, _in(c), c.repair, str(c.layout.tokenized_parts(c.name))
            ),
            inputs=("tokenize.tokenizer", "tokenize.eos_token", "seed"),
            folders=lambda layout, d: (layout.tokenized_parts(d),),
            reads_documents=True,
        ),
        Step(
            "tokenize-merge",
            enabled=_tokenized,
            tasks=_one_task,
            tasks_from=(),
            build=lambda c: tokenize.merge_pipeline(
                c.stage, str(c.layout.tokenized_parts(c.name)), str(c.layout.tokenized(c.name)), c.name
            ),
            inputs=("tokenize.shard_tokens",),
            folders=lambda layout, d: (layout.tokenized(d),),
        ),
    ]
)
STEPS = REGISTRY.names
