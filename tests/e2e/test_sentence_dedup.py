"""Sentence-level dedup (`dedup: sentence` and `minhash+sentence`) run locally on documents made from the
sample's words: a document whose paragraphs all appear in earlier documents goes, one with a paragraph of
its own keeps only that paragraph, and every other document comes out untouched. Status, resubmit, report
and the manifest cover the sentence steps like any other.

The corpus (`write_sentence_corpus`) is shared with the dev-Slurm test (tests/slurm)."""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.pipelines.steps import REGISTRY
from smolprep.plan import plan_stage
from smolprep.summary import stage_summary
from tests.conftest import ROOT, StageRun, read_jsonl_folder, run_stage, sample_texts, write_jsonl

SENTENCE_STEPS = ("sentence-signatures", "sentence-find", "sentence-filter")
MINHASH_STEPS = ("minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")
CONFIG = """\
name: sentences
minhash: {{num_buckets: 4}}
datasets:
  - {{name: en, path: en, language: en, filters: none, tasks: 2, dedup: {en}}}
  - {{name: vi, path: vi, language: vi, filters: none, tasks: 2, dedup: {vi}}}
"""


@dataclass
class Corpus:
    """Per dataset: the documents that must come out unchanged, those whose every paragraph is copied from
    an earlier document, and those with copied paragraphs and one of their own (id -> that paragraph)."""

    untouched: dict[str, dict[str, str]] = field(default_factory=dict)
    copied: dict[str, set[str]] = field(default_factory=dict)
    partly: dict[str, dict[str, str]] = field(default_factory=dict)
    copied_paragraphs: dict[str, set[str]] = field(default_factory=dict)


def _words(dataset: str) -> list[str]:
    words = sorted({w for text in sample_texts(dataset) for w in re.findall(r"[^\W\d_]{2,}", text)})
    assert len(words) > 500
    return words


def _paragraph(rng: random.Random, words: list[str]) -> str:
    sentences = []
    for _ in range(5):
        chosen = [rng.choice(words).lower() for _ in range(rng.randint(12, 16))]
        sentences.append(" ".join(chosen).capitalize() + ".")
    return " ".join(sentences)


def _documents(dataset: str, seed: int, corpus: Corpus) -> tuple[list[dict], list[dict]]:
    """Two input files (one per task). The copies sit at the end of the second file, after more documents
    than the first file holds: of the documents sharing a span, the one earliest in its task's input keeps
    it, so the sources keep their text and the copies lose theirs."""
    rng, words = random.Random(seed), _words(f"{dataset}-web")
    docs = {f"{dataset}-{i}": [_paragraph(rng, words) for _ in range(3)] for i in range(40)}
    first = [{"id": k, "text": "\n\n".join(p)} for k, p in list(docs.items())[:15]]
    second = [{"id": k, "text": "\n\n".join(p)} for k, p in list(docs.items())[15:]]
    corpus.untouched[dataset] = {d["id"]: d["text"] for d in first + second}
    sources = [docs[f"{dataset}-{i}"] for i in (1, 4, 7, 20, 33)]
    corpus.copied[dataset], corpus.partly[dataset], corpus.copied_paragraphs[dataset] = set(), {}, set()
    for i in range(4):
        picked = [sources[(i + k) % len(sources)][(i + k) % 3] for k in range(3)]
        second.append({"id": f"{dataset}-copied-{i}", "text": "\n\n".join(picked)})
        corpus.copied[dataset].add(f"{dataset}-copied-{i}")
        corpus.copied_paragraphs[dataset].update(picked)
    for i in range(3):
        own = _paragraph(rng, words)
        picked = [sources[(i + 2) % len(sources)][0], sources[(i + 3) % len(sources)][2]]
        second.append({"id": f"{dataset}-partly-{i}", "text": "\n\n".join([*picked, own])})
        corpus.partly[dataset][f"{dataset}-partly-{i}"] = own
        corpus.copied_paragraphs[dataset].update(picked)
    return first, second


def write_sentence_corpus(
    base: Path, en: str = "sentence", vi: str = "minhash+sentence"
) -> tuple[Path, Corpus]:
    """The config (`dedup` of each dataset as given) and its inputs under `base`."""
    corpus = Corpus()
    for dataset, seed in (("en", 11), ("vi", 12)):
        first, second = _documents(dataset, seed, corpus)
        write_jsonl(base / dataset / "part-0.jsonl", first)
        write_jsonl(base / dataset / "part-1.jsonl.gz", second)
    config = base / "sentences.yaml"
    config.write_text(CONFIG.format(en=en, vi=vi))
    return config, corpus


def check_sentence_output(run: StageRun, corpus: Corpus) -> None:
    """Copies gone, partial copies cut to their own paragraph, everything else byte-for-byte the same."""
    for dataset in ("en", "vi"):
        kept = {r["id"]: r for r in read_jsonl_folder(run.layout.data(dataset))}
        assert {i: kept[i]["text"] for i in corpus.untouched[dataset]} == corpus.untouched[dataset], dataset
        assert not corpus.copied[dataset] & set(kept), dataset
        for doc_id, own in corpus.partly[dataset].items():
            assert kept[doc_id]["text"].strip() == own, doc_id
        assert set(kept) == set(corpus.untouched[dataset]) | set(corpus.partly[dataset])
        assert all(r["metadata"]["dataset"] == dataset for r in kept.values())


@pytest.fixture(scope="module")
def sentence_run(tmp_path_factory) -> tuple[StageRun, Corpus]:
    base = tmp_path_factory.mktemp("sentences")
    config, corpus = write_sentence_corpus(base)
    run = run_stage(config, base / "out")
    assert run.exit_code == 0, f"the sentence dedup stage failed; logs in {run.layout.stage_dir / 'logs'}"
    return run, corpus


def test_the_plan_runs_minhash_then_sentence_steps(sentence_run):
    run, _ = sentence_run
    plan = plan_stage(run.config)
    assert [s.step for s in plan.for_dataset("en")] == ["filter", *SENTENCE_STEPS]
    assert [s.step for s in plan.for_dataset("vi")] == ["filter", *MINHASH_STEPS, *SENTENCE_STEPS]
    assert [s.after for s in plan.for_dataset("en")] == [None, "filter", *SENTENCE_STEPS[:2]]
    assert [s.tasks for s in plan.for_dataset("en")] == [2, 2, 1, 2]


def test_copied_paragraphs_go_and_unique_text_is_untouched(sentence_run):
    check_sentence_output(*sentence_run)


def test_documents_flow_through_intermediate_folders(sentence_run):
    """minhash-filter is not vi's last step: it writes minhash/vi/documents, which the sentence steps read;
    en's filter output goes to filtered/en, and the last step of each writes data/."""
    run, corpus = sentence_run
    layout = run.layout
    vi_between = read_jsonl_folder(layout.minhash("vi", "documents"))
    assert {r["id"] for r in vi_between} == set(corpus.untouched["vi"]) | corpus.copied["vi"] | set(
        corpus.partly["vi"]
    )
    assert not layout.minhash("en", "documents").exists()
    assert len(read_jsonl_folder(layout.filtered("en"))) == 40 + 4 + 3
    for dataset in ("en", "vi"):
        assert sorted(p.name for p in layout.data(dataset).glob("*.jsonl.gz")) == [
            "00000.jsonl.gz",
            "00001.jsonl.gz",
        ]
        assert list(layout.sentence(dataset, "signatures").rglob("*.c4_sig"))
        assert not layout.sentence(dataset, "documents").exists()


def test_summary_status_and_manifest_account_for_the_sentence_steps(sentence_run, capsys):
    run, corpus = sentence_run
    rows = {r.dataset: r for r in stage_summary(run.layout, plan_stage(run.config))}
    for dataset in ("en", "vi"):
        row = rows[dataset]
        assert (row.docs_in, row.removed_filter, row.removed_dedup) == (47, 0, len(corpus.copied[dataset]))
        assert row.docs_out == row.docs_in - row.removed_dedup and row.state == "complete"

    argv = ["--config", run.config.source_file, "--cluster", "local", "--output", str(run.layout.root)]
    assert main(["status", *argv, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["done"] is True
    for step in SENTENCE_STEPS:
        assert status["datasets"]["en"][step]["state"] == "done"
        assert status["datasets"]["vi"][step]["completed"] == status["datasets"]["vi"][step]["tasks"]

    assert main(["report", *argv]) == 0
    capsys.readouterr()
    manifest = json.loads(run.layout.manifest.read_text())
    assert manifest["warnings"] == []
    for dataset in ("en", "vi"):
        steps = manifest["datasets"][dataset]["steps"]
        assert list(steps) == [s.step for s in plan_stage(run.config).for_dataset(dataset)]
        assert all("unaccounted" not in s for s in steps.values())
        sentence_filter = steps["sentence-filter"]
        assert sentence_filter["docs_in"] == 47
        assert sentence_filter["removed"] == {
            "Sentence dedup: repeated_sentences": len(corpus.copied[dataset])
        }
        assert manifest["datasets"][dataset]["docs_out"] == 47 - len(corpus.copied[dataset])


def test_a_lost_sentence_filter_task_is_rerun_alone(sentence_run, tmp_path, capsys):
    """Without the marker and output of one sentence-filter task, a relaunch reruns that task only and
    writes the same file again."""
    run, corpus = sentence_run
    output = tmp_path / "out"
    shutil.copytree(run.layout.root, output)
    copy = StageRun(run.config, type(run.layout)(output.resolve(), run.layout.stage), 0, "")
    final = copy.layout.final_file("vi", 1)
    before = final.read_bytes()
    (copy.layout.completions("vi", "sentence-filter") / "00001").unlink()
    final.unlink()
    markers = {
        step: sorted(p.stat().st_mtime_ns for p in copy.layout.completions("vi", step).iterdir())
        for step in REGISTRY.dataset_steps(run.config.dataset("vi"))
        if step != "sentence-filter"
    }
    code, out = copy.relaunch(capsys)
    assert code == 0, out
    assert final.read_bytes() == before
    assert copy.layout.completed_ranks("vi", "sentence-filter") == {0, 1}
    for step, times in markers.items():  # no other step ran again
        assert sorted(p.stat().st_mtime_ns for p in copy.layout.completions("vi", step).iterdir()) == times
    check_sentence_output(copy, corpus)


def test_sentence_alone_and_after_minhash_give_the_same_documents(sentence_run, tmp_path):
    """The corpus has no near-duplicate documents: MinHash removes nothing, so `sentence` and
    `minhash+sentence` must give the same documents in the same files and order (the sentence steps read
    MinHash's output rank by rank as they read the filter's). The inputs' paths differ, so records are
    compared without the metadata that names them."""
    run, corpus = sentence_run
    config, _ = write_sentence_corpus(tmp_path, en="minhash+sentence", vi="sentence")
    swapped = run_stage(config, tmp_path / "out")
    assert swapped.exit_code == 0
    check_sentence_output(swapped, corpus)
    for dataset in ("en", "vi"):
        for rank in (0, 1):
            assert _records(swapped.layout.final_file(dataset, rank)) == _records(
                run.layout.final_file(dataset, rank)
            )


def _records(file: Path) -> list[tuple[str, str]]:
    with gzip.open(file, "rt", encoding="utf-8") as f:
        return [(r["id"], r["text"]) for r in map(json.loads, f)]


def test_the_sample_languages_split_sentences_with_their_own_tokenizer():
    """The sentence steps split as the dataset's language does (FineWeb-2 code, as the filters use)."""
    from smolprep.config.stage import load_stage_config
    from smolprep.pipelines.build import FilterResources, build_step
    from smolprep.state.layout import RunLayout

    stage = load_stage_config(ROOT / "configs" / "sample.yaml")
    resources = FilterResources(lid_model=None, spam_phrases=())
    for spec, expected in zip(stage.datasets, ("eng_Latn", "vie_Latn", "en"), strict=True):
        spec = type(spec)(**{**spec.__dict__, "dedup": ("sentence",)})
        layout = RunLayout(ROOT / "unused", stage.name)
        signature = build_step(stage, spec, "sentence-signatures", layout, resources)[-1]
        sentence_filter = build_step(stage, spec, "sentence-filter", layout, resources)[1]
        assert (signature.language, sentence_filter.language) == (expected, expected), spec.name
