"""Before a launch: build every step of every dataset, and run each filter once on a short text in the
dataset's language, in the launching process.

Building a pipeline checks little. datatrove's word tokenizers import their package only when they first
split a text (spaCy's Japanese needs SudachiPy, Korean kiwipiepy, Thai pythainlp, ...), and the language-ID
model is read on first use; so a stage that builds can still fail in every task on the nodes, after each
task has dropped documents as `filter_error`. Here each filter of a dataset's `filter` step gets one real
paragraph in each of the dataset's languages (``filters/probe_texts.json``), and its dedup signature steps
split it into words or sentences (the steps whose declaration asks for it, ``steps.Step.probe``): a missing package, model or word list becomes a config issue naming the dataset, the
package and the fix, before anything is written or submitted. The probe's decisions are not used.

This runs in the launcher's environment. On a cluster whose nodes have another Python environment than the
login node, the nodes' environment is not probed.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from smolprep.config.errors import ConfigIssue
from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.filters.gopher import tokenizer_language
from smolprep.pipelines.build import build_step
from smolprep.pipelines.guards import FilterGuard
from smolprep.pipelines.resources import FilterResources
from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.state.layout import RunLayout

CODE_PROBE = 'def mean(values):\n    """The average of values."""\n    return sum(values) / len(values)\n'
SETUP_FIX = "`make setup` in the checkout installs every declared dependency"

# datatrove's word tokenizer class -> the pip packages it imports (for a language, when it depends on it)
_TOKENIZER_PACKAGES: dict[str, tuple[str, ...]] = {
    "SpaCyTokenizer": ("spacy",),
    "KiwiTokenizer": ("kiwipiepy",),
    "IndicNLPTokenizer": ("indic-nlp-library",),
    "ThaiTokenizer": ("pythainlp", "python-crfsuite"),
    "StanzaTokenizer": ("stanza",),
    "NLTKTokenizer": ("nltk",),
}
_SPACY_EXTRAS: dict[str, tuple[str, ...]] = {
    "vi": ("pyvi",),
    "zh": ("jieba",),
    "ja": ("sudachipy", "sudachidict_core"),
}


@functools.cache
def probe_texts() -> dict[str, str]:
    """lid.176 label -> a paragraph in that language (shipped with the package)."""
    raw = json.loads(resources.files("smolprep.filters").joinpath("probe_texts.json").read_text("utf-8"))
    return {label: text for label, text in raw.items() if not label.startswith("_")}


def probe_text(language: str) -> str:
    """The paragraph for `language` (a lid.176 label); languages without one get the English paragraph,
    which still makes their tokenizer load and split."""
    texts = probe_texts()
    return texts.get(language, texts["en"])


def word_tokenizer_of(language: str) -> tuple[str, tuple[str, ...]]:
    """The datatrove word tokenizer `language` gets (e.g. ``SpaCyTokenizer('ja')``) and the pip packages it
    needs; ``("?", ())`` when datatrove assigns none."""
    from datatrove.utils.word_tokenizers import load_tokenizer_assignments

    factory = load_tokenizer_assignments().get(tokenizer_language(language))
    args: tuple[str, ...] = tuple(getattr(factory, "args", ()))
    if len(args) != 2:
        return "?", ()
    cls, code = args[0], args[1]
    packages = _TOKENIZER_PACKAGES.get(cls, ())
    if cls == "SpaCyTokenizer":
        packages += _SPACY_EXTRAS.get(code, ())
    return (f"{cls}({code!r})" if code else cls), packages


@dataclass(frozen=True)
class _Trial:
    """One thing to run once: a filter on a language's paragraph, or a signature step's word split."""

    what: str  # "Gopher Quality on vi", for the message
    language: str | None  # None: not language-dependent (code sanity, spam phrases, MinHash of code)
    run: Callable[[], object]


def _filter_trials(block: PipelineStep, languages: tuple[str, ...], kind: str) -> list[_Trial]:
    inner = block.inner if isinstance(block, FilterGuard) else block
    if not isinstance(inner, BaseFilter):
        return []

    def trial(language: str | None) -> _Trial:
        text = CODE_PROBE if kind == "code" else probe_text(language or "en")
        metadata = {"language": language} if language else {}

        def run() -> object:
            return inner.filter_batch([Document(text=text, id="smolprep-probe", metadata=dict(metadata))])

        where = f" on {language}" if language else ""
        return _Trial(f"{inner.name}{where}", language, run)

    if kind == "code":
        return [trial(None)]
    return [trial(language) for language in languages]


def _split_trials(block: PipelineStep, spec: DatasetSpec) -> list[_Trial]:
    """A dedup signature step splits the probe paragraph as its tasks will: MinHash into words
    (`get_shingles`), sentence dedup into sentences (`get_hashes`); [] for any other block."""
    language = spec.language[0] if spec.kind != "code" else None
    text = CODE_PROBE if language is None else probe_text(language)
    of = f" of {language}" if language else ""
    trials = []
    if (get_shingles := getattr(block, "get_shingles", None)) is not None:
        trials.append(_Trial(f"{block.name} (words{of})", language, lambda: get_shingles(text)))
    if (get_hashes := getattr(block, "get_hashes", None)) is not None:
        document = Document(text=text, id="smolprep-probe")
        trials.append(_Trial(f"{block.name} (sentences{of})", language, lambda: get_hashes(document, 0)))
    return trials


def _trials(spec: DatasetSpec, probed: bool, pipeline: list[PipelineStep]) -> list[_Trial]:
    """What to run of a step's blocks: its filters on the probe text in each language, a signature step's
    word or sentence split; nothing for a step whose declaration does not ask to be probed."""
    if not probed:
        return []
    return [
        t
        for block in pipeline
        for t in (
            *_filter_trials(block, spec.language, spec.kind),
            *_split_trials(block, spec),
        )
    ]


def _issue(
    file: Path, index: int, spec: DatasetSpec, step: str, trial: _Trial, err: Exception
) -> ConfigIssue:
    detail = " ".join(f"{type(err).__name__}: {err}".split())
    where = f"datasets[{index}] ({spec.name}) step {step}"
    if isinstance(err, ImportError):
        tokenizer, packages = word_tokenizer_of(trial.language) if trial.language else ("?", ())
        missing = getattr(err, "name", None)
        names = packages or ((missing,) if missing else ())
        needs = f" needs {', '.join(names)}" if names else ""
        what = f"the word tokenizer {tokenizer}" if tokenizer != "?" else trial.what
        install = f"`pip install {' '.join(names)}` or " if names else ""
        return ConfigIssue(
            file,
            f"{where}, language",
            trial.language or ",".join(spec.language),
            f"a language whose filters run on this machine; {what}{needs}, which cannot be imported "
            f"({detail})",
            f"install the missing package into this Python environment ({install}{SETUP_FIX}), then launch again",
        )
    if isinstance(err, OSError):
        return ConfigIssue(
            file,
            where,
            trial.what,
            f"the files this filter loads; one cannot be read ({detail})",
            "check the model and word-list paths of the config and the cluster profile, or reinstall "
            f"({SETUP_FIX}), then launch again",
        )
    return ConfigIssue(
        file,
        where,
        trial.what,
        f"a filter that runs on a probe text in its language; it raised {detail}",
        "this is a bug or a broken install: reinstall the dependencies "
        f"({SETUP_FIX}); if it persists, report it with this message",
    )


def _quiet_jieba() -> None:
    """jieba logs its dictionary loading to stderr at DEBUG level: not for the launcher's screen."""
    try:
        import jieba
    except ImportError:
        return  # the probe reports it
    jieba.setLogLevel(logging.WARNING)


def check_stage(
    stage: StageConfig, layout: RunLayout, resources: FilterResources, registry: StepRegistry = REGISTRY
) -> list[ConfigIssue]:
    """Every step of every dataset is built, and its filters and word split run once on a probe text.
    The first problem of each dataset is returned; an empty list means the stage can run here. Trials
    that are the same for several datasets (same filter, same language) run once."""
    if any("zh" in spec.language for spec in stage.datasets):
        _quiet_jieba()
    issues: list[ConfigIssue] = []
    file = Path(stage.source_file)
    outcomes: dict[tuple[str, str, str | None, str], Exception | None] = {}
    for index, spec in enumerate(stage.datasets):
        issue = _check_dataset(stage, spec, layout, resources, file, index, outcomes, registry)
        if issue is not None:
            issues.append(issue)
    return issues


def _check_dataset(
    stage: StageConfig,
    spec: DatasetSpec,
    layout: RunLayout,
    resources: FilterResources,
    file: Path,
    index: int,
    outcomes: dict[tuple[str, str, str | None, str], Exception | None],
    registry: StepRegistry,
) -> ConfigIssue | None:
    for step in registry.dataset_steps(spec):
        try:
            pipeline = build_step(stage, spec, step, layout, resources, registry)
        except (ImportError, ValueError, OSError) as err:
            return ConfigIssue(
                file,
                f"datasets[{index}] ({spec.name}) step {step}",
                ",".join(spec.language),
                "a pipeline that can be built on this machine",
                " ".join(str(err).split()) or type(err).__name__,
            )
        for trial in _trials(spec, registry.step(step).probe, pipeline):
            key = (step, trial.what, trial.language, spec.kind)
            if key not in outcomes:
                try:
                    trial.run()
                    outcomes[key] = None
                except Exception as err:  # every failure is reported, none is raised
                    outcomes[key] = err
            failure = outcomes[key]
            if failure is not None:
                return _issue(file, index, spec, step, trial, failure)
    return None
