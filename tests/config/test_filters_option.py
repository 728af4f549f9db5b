"""A dataset's `filters:` says which filters its `filter` step runs instead of its kind's full chain: what it
accepts, how a bad value is refused (exit 2, file, key, value, what was expected), which blocks the step
builds, and what a local run of `none`, `[language]` and the default keeps."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.config.stage import DatasetSpec, StageConfig, load_stage_config
from smolprep.filters import (
    CodeSanityFilter,
    FastLanguageIdFilter,
    LanguageAwareFineWebQualityFilter,
    LanguageAwareGopherQualityFilter,
    LanguageAwareGopherRepetitionFilter,
    LanguageIdFilter,
    SpamFilter,
    language_score,
)
from smolprep.filters.chain import CHAINS, FILTER_NAMES
from smolprep.pipelines.build import FilterResources, build_step, prose_filters
from smolprep.pipelines.guards import FilterGuard
from smolprep.report.accounting import block_label
from smolprep.state.layout import RunLayout
from tests.conftest import ROOT, read_jsonl_folder, run_stage, write_jsonl

CLASSES = {
    "language": FastLanguageIdFilter,
    "repetition": LanguageAwareGopherRepetitionFilter,
    "fineweb-quality": LanguageAwareFineWebQualityFilter,
    "gopher-quality": LanguageAwareGopherQualityFilter,
    "spam": SpamFilter,
    "code-sanity": CodeSanityFilter,
}


def _config(tmp_path: Path, datasets: str) -> Path:
    write_jsonl(tmp_path / "docs" / "a.jsonl", [{"text": "hello"}])
    path = tmp_path / "stage.yaml"
    path.write_text("name: s\ndatasets:\n" + datasets)
    return path


def _dry_run(capsys, config: Path, tmp_path: Path) -> tuple[int, str]:
    code = main(
        ["--config", str(config), "--cluster", "local", "--output", str(tmp_path / "out"), "--dry-run"]
    )
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# --- what `filters:` accepts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("web", "[language]", ("language",)),
        ("web", "language", ("language",)),
        ("web", "[spam, language, spam]", ("language", "spam")),  # the chain's order, each once
        ("web", "[gopher-quality, repetition]", ("repetition", "gopher-quality")),
        ("math", "[gopher-quality, language]", ("language", "gopher-quality")),
        ("web", "none", ()),
        ("code", "none", ()),
        ("web", "all", None),
        ("web", "[spam, gopher-quality, fineweb-quality, repetition, language]", None),  # the whole chain
        ("math", "[language, repetition, fineweb-quality, gopher-quality]", None),
        ("code", "[code-sanity]", None),
    ],
)
def test_accepted_values(tmp_path, kind, value, expected):
    stage = load_stage_config(
        _config(tmp_path, f"  - {{name: d, path: docs, kind: {kind}, filters: {value}}}\n")
    )
    assert stage.datasets[0].filters == expected


def test_absent_means_the_kind_full_chain(tmp_path):
    stage = load_stage_config(_config(tmp_path, "  - {name: d, path: docs}\n"))
    assert stage.datasets[0].filters is None


@pytest.mark.parametrize(
    ("entry", "got", "expected"),
    [
        (  # unknown name
            "{name: d, path: docs, filters: [langauge]}",
            "got ['langauge']",
            "expected names of the filters a web dataset runs: language, repetition, fineweb-quality, "
            "gopher-quality, spam; or `none`. Fix: 'langauge' is no filter: did you mean 'language'?",
        ),
        (  # a filter the kind does not run
            "{name: d, path: docs, kind: math, filters: [language, spam]}",
            "got ['language', 'spam']",
            "expected names of the filters a math dataset runs: language, repetition, fineweb-quality, "
            "gopher-quality; or `none`. Fix: 'spam' runs only on web datasets: remove it",
        ),
        (
            "{name: d, path: docs, kind: code, filters: [language]}",
            "got ['language']",
            "expected names of the filters a code dataset runs: code-sanity; or `none`. "
            "Fix: 'language' runs only on web and math datasets: remove it",
        ),
        (  # an empty list
            "{name: d, path: docs, filters: []}",
            "got []",
            "Fix: write `filters: none` to run no filter, or remove the key for the kind's full chain",
        ),
        ("{name: d, path: docs, filters: }", "got None", "remove the key for the kind's full chain"),
        (
            "{name: d, path: docs, filters: 3}",
            "got 3",
            "expected a list of filter names of the dataset's kind",
        ),
        (
            "{name: d, path: docs, filters: {language: true}}",
            "got {'language': True}",
            "e.g. filters: [language]",
        ),
        ("{name: d, path: docs, filters: [language, 2]}", "got ['language', 2]", "e.g. filters: [language]"),
        ("{name: d, path: docs, filters: [none]}", "got ['none']", "alone, not in a list"),
        (  # word-based filters in a dataset of several languages need language ID to tag each document
            "{name: d, path: docs, language: [en, vi], filters: [repetition, spam]}",
            "got ['repetition', 'spam']",
            "expected `language` among the filters of a dataset of several languages (en, vi)",
        ),
    ],
)
def test_bad_values_are_refused_before_anything_runs(tmp_path, capsys, entry, got, expected):
    config = _config(tmp_path, f"  - {entry}\n")
    code, err = _dry_run(capsys, config, tmp_path)
    assert code == 2
    assert f"{config}: datasets[0] (d).filters: {got}; " in err, err
    assert expected in err, err
    assert not (tmp_path / "out").exists()


def test_every_bad_dataset_is_reported_at_once(tmp_path, capsys):
    config = _config(
        tmp_path,
        "  - {name: a, path: docs, kind: math, filters: [spam]}\n"
        "  - {name: b, path: docs, kind: code, filters: [gopher-quality]}\n",
    )
    code, err = _dry_run(capsys, config, tmp_path)
    assert code == 2 and "datasets[0] (a).filters" in err and "datasets[1] (b).filters" in err


def test_valid_filters_pass_a_dry_run(tmp_path, capsys):
    config = _config(
        tmp_path,
        "  - {name: a, path: docs, filters: [language]}\n"
        "  - {name: b, path: docs, filters: none}\n"
        "  - {name: c, path: docs, kind: code, filters: none}\n",
    )
    code, _ = _dry_run(capsys, config, tmp_path)
    assert code == 0


# --- what the filter step builds ------------------------------------------------------------------------


def _resources() -> FilterResources:
    return FilterResources(lid_model=None, spam_phrases=("buy now",))


def _filter_blocks(spec: DatasetSpec, tmp_path: Path) -> list[type]:
    stage = StageConfig(name="s", datasets=(spec,), source_file=str(tmp_path / "stage.yaml"))
    steps = build_step(stage, spec, "filter", RunLayout(tmp_path, "s"), _resources())
    assert type(steps[0]).__name__.endswith("Reader") and type(steps[-1]).__name__ == "AtomicJsonlWriter"
    assert all(isinstance(step, FilterGuard) for step in steps[1:-1])
    return [type(step.inner) for step in steps[1:-1]]


@pytest.mark.parametrize(
    ("kind", "filters", "expected"),
    [
        ("web", None, ["language", "repetition", "fineweb-quality", "gopher-quality", "spam"]),
        ("web", ("language",), ["language"]),
        ("web", (), []),
        ("web", ("language", "spam"), ["language", "spam"]),
        ("math", None, ["language", "repetition", "fineweb-quality", "gopher-quality"]),
        ("math", ("repetition", "gopher-quality"), ["repetition", "gopher-quality"]),
        ("code", None, ["code-sanity"]),
        ("code", (), []),
    ],
)
def test_filter_step_blocks(tmp_path, kind, filters, expected):
    spec = DatasetSpec(name="d", path=str(tmp_path), kind=kind, language=("fr",), filters=filters)
    assert _filter_blocks(spec, tmp_path) == [CLASSES[name] for name in expected]


def test_every_filter_name_is_built_by_prose_filters():
    assert set(FILTER_NAMES) == set(CLASSES)
    for kind, chain in CHAINS.items():
        spec = DatasetSpec(name="d", path="unused", kind=kind, language=("vi",))
        assert [type(f) for f in prose_filters(spec, _resources())] == [CLASSES[n] for n in chain]


def _chain_before_filters_option(spec: DatasetSpec, resources: FilterResources) -> list:
    """`prose_filters` as it was before datasets could choose their filters (by kind only)."""
    if spec.kind == "code":
        return [CodeSanityFilter()]
    languages = list(spec.language)
    thresholds = {language: language_score(language) for language in languages}
    steps = [
        FastLanguageIdFilter(languages, model_path=resources.lid_model, thresholds=thresholds),
        LanguageAwareGopherRepetitionFilter(default_language=languages[0], kind=spec.kind),
        LanguageAwareFineWebQualityFilter(default_language=languages[0], kind=spec.kind),
        LanguageAwareGopherQualityFilter(default_language=languages[0], kind=spec.kind),
    ]
    if spec.kind == "web":
        steps.append(SpamFilter(resources.spam_phrases))
    return steps


@pytest.mark.parametrize("kind", ["web", "math", "code"])
@pytest.mark.parametrize("language", [("en",), ("en", "vi"), ("zh",)])
def test_the_default_chain_is_the_one_built_before(kind, language):
    spec = DatasetSpec(name="d", path="unused", kind=kind, language=language)
    ours, before = prose_filters(spec, _resources()), _chain_before_filters_option(spec, _resources())
    assert [pickle.dumps(f) for f in ours] == [pickle.dumps(f) for f in before]


# --- a local run: none, [language] and the default on the same documents ---------------------------------

ENGLISH, OTHER = 40, 10


@pytest.fixture(scope="module")
def three_ways(tmp_path_factory):
    """One local stage: the same 50 documents (English sample pages, 5 French and 5 German ones) read by three
    English web datasets, without dedup, with the default chain, `[language]` and `none`."""
    folder = tmp_path_factory.mktemp("filters-option")
    english = read_jsonl_folder(ROOT / "sample" / "en-web")[:ENGLISH]
    other = [
        read_jsonl_folder(ROOT / "sample" / "multilingual" / code)[:5] for code in ("fra_Latn", "deu_Latn")
    ]
    records = [{"id": f"en{i}", "text": d["text"]} for i, d in enumerate(english)]
    records += [{"id": f"xx{i}", "text": d["text"]} for i, d in enumerate(other[0] + other[1])]
    write_jsonl(folder / "docs" / "part.jsonl", records)
    config = folder / "three.yaml"
    config.write_text(
        "name: three\ndatasets:\n"
        "  - {name: full, path: docs, dedup: false, tasks: 1}\n"
        "  - {name: lang, path: docs, dedup: false, tasks: 1, filters: [language]}\n"
        "  - {name: bare, path: docs, dedup: false, tasks: 1, filters: none}\n"
    )
    run = run_stage(config, folder / "out")
    assert run.exit_code == 0, f"the stage failed; logs in {run.layout.stage_dir / 'logs'}"
    return records, run


def _kept(run, dataset: str) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl_folder(run.layout.data(dataset))}


def test_none_keeps_every_document_unchanged(three_ways):
    records, run = three_ways
    kept = _kept(run, "bare")
    assert {i: r["text"] for i, r in kept.items()} == {r["id"]: r["text"] for r in records}
    assert all("language" not in r["metadata"] for r in kept.values())  # no language ID ran
    assert {r["metadata"]["source"] for r in kept.values()} == {str(run.layout.root.parent / "docs")}


def test_language_only_drops_the_documents_lid176_does_not_keep(three_ways):
    records, run = three_ways
    reference = LanguageIdFilter(["en"], thresholds={"en": language_score("en")})  # fastText's own predict
    expected = {r["id"] for r in records if reference.predict(r["text"])[0] == "en"}
    expected = {r["id"] for r in records if r["id"] in expected and reference.predict(r["text"])[1] >= 0.65}
    kept = _kept(run, "lang")
    assert set(kept) == expected
    assert not any(i.startswith("xx") for i in kept) and len(expected) > ENGLISH - 3
    assert {r["metadata"]["language"] for r in kept.values()} == {"en"}
    assert {i: r["text"] for i, r in kept.items()} == {r["id"]: r["text"] for r in records if r["id"] in kept}


def test_the_default_chain_drops_more_than_language_id(three_ways):
    _, run = three_ways
    full, lang = set(_kept(run, "full")), set(_kept(run, "lang"))
    assert full < lang  # the Gopher rules drop some English sample pages that language ID keeps


def test_the_report_shows_each_dataset_s_own_filters(three_ways):
    records, run = three_ways
    assert "no report written" not in run.stdout
    manifest = json.loads((run.layout.stage_dir / "manifest.json").read_text())
    funnels = {}
    for name in ("full", "lang", "bare"):
        step = manifest["datasets"][name]["steps"]["filter"]
        assert step["docs_in"] == len(records) and step["docs_out"] == len(_kept(run, name))
        assert step["docs_in"] - step["docs_out"] == sum(step["removed"].values())
        funnels[name] = [block["block"] for block in step.get("funnel", [])]
    spec = run.config.dataset("full")
    assert funnels["full"] == [block_label(f.name) for f in prose_filters(spec, _resources())]
    assert funnels["lang"] == [block_label(FastLanguageIdFilter.name)] and funnels["bare"] == []
    removed = manifest["datasets"]["lang"]["steps"]["filter"]["removed"]
    assert {key.split(": ")[1] for key in removed} <= {"wrong_language", "low_language_score"}
    assert removed[f"{block_label(FastLanguageIdFilter.name)}: wrong_language"] == OTHER
    assert (run.layout.stage_dir / "report.html").is_file()
    with gzip.open(next(run.layout.data("bare").glob("*.jsonl.gz")), "rt") as f:
        assert json.loads(f.readline())["metadata"]["dataset"] == "bare"
