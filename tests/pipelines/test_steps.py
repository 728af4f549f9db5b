"""The step registry: one declaration per step, and everything derives from it. An unknown step is an error,
`dedup` picks the steps, documents go from one document-writing step to the next and the last one writes
data/<dataset>; a test-only registry with an extra step runs a stage locally with no other change."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from rich.console import Console

from smolprep.config.errors import ConfigError
from smolprep.config.profile import load_profile
from smolprep.config.stage import StageConfig, load_stage_config
from smolprep.local_run import run_local
from smolprep.pipelines.build import FilterResources, build_step, dataset_steps
from smolprep.pipelines.intermediate import IntermediateJsonlReader, intermediate_reader
from smolprep.pipelines.steps import REGISTRY, STEPS, Step, StepContext, UnknownStep
from smolprep.pipelines.writers import AtomicJsonlWriter
from smolprep.plan import plan_stage
from smolprep.state.fingerprint import STEP_INPUTS, LoadedFiles, dataset_settings, step_fingerprints
from smolprep.state.layout import RunLayout
from smolprep.state.reset import reset_from
from smolprep.summary import stage_summary
from tests.conftest import read_jsonl_folder, write_jsonl

MINHASH = ("minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")
SENTENCE = ("sentence-signatures", "sentence-find", "sentence-filter")
RESOURCES = FilterResources(lid_model=None, spam_phrases=())


def _stage(tmp_path: Path, *datasets: str, extra: str = "") -> StageConfig:
    write_jsonl(tmp_path / "docs" / "a.jsonl", [{"text": f"document {i}", "id": f"a-{i}"} for i in range(5)])
    write_jsonl(tmp_path / "docs" / "b.jsonl", [{"text": f"other {i}", "id": f"b-{i}"} for i in range(4)])
    body = "".join(
        f"  - {{name: d{i}, path: docs, filters: none, tasks: 2, {d}}}\n" for i, d in enumerate(datasets)
    )
    (tmp_path / "s.yaml").write_text(f"name: s\n{extra}datasets:\n{body}")
    return load_stage_config(tmp_path / "s.yaml")


def test_the_registry_keeps_the_step_names_and_their_order():
    assert (
        STEPS == REGISTRY.names == ("contents", "filter", *MINHASH, *SENTENCE, "tokenize", "tokenize-merge")
    )
    assert set(STEP_INPUTS) == set(STEPS)


@pytest.mark.parametrize(
    ("dedup", "steps"),
    [
        ("", ("filter", *MINHASH)),  # the default
        ("dedup: true", ("filter", *MINHASH)),
        ("dedup: minhash", ("filter", *MINHASH)),
        ("dedup: false", ("filter",)),
        ("dedup: none", ("filter",)),
        ("dedup: sentence", ("filter", *SENTENCE)),
        ("dedup: minhash+sentence", ("filter", *MINHASH, *SENTENCE)),
        ("dedup: sentence+minhash", ("filter", *MINHASH, *SENTENCE)),
    ],
)
def test_dedup_picks_the_steps(tmp_path, dedup, steps):
    stage = _stage(tmp_path, dedup)
    assert dataset_steps(stage.datasets[0]) == steps
    plan = plan_stage(stage)
    assert [s.step for s in plan.steps] == list(steps)
    assert [s.after for s in plan.steps] == [None, *steps[:-1]]  # each gated on the one before
    assert plan.final_step("d0").step == steps[-1]


def test_a_bad_dedup_value_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        _stage(tmp_path, "dedup: sentences")
    assert "one of minhash, sentence, minhash+sentence, none" in str(err.value)


def test_an_unknown_step_is_an_error_never_another_pipeline(tmp_path):
    stage = _stage(tmp_path, "dedup: minhash")
    layout = RunLayout(tmp_path / "out", "s")
    for name in ("export", "minhash-filters", "sentence-filter"):  # unknown, misspelt, not this dataset's
        with pytest.raises(UnknownStep, match=name):
            build_step(stage, stage.datasets[0], name, layout, RESOURCES)
    with pytest.raises(
        UnknownStep, match="unknown step 'export'; steps are contents, filter, minhash-signatures"
    ):
        REGISTRY.step("export")


def _reader_and_writer(blocks: list[PipelineStep]) -> tuple[str | None, str | None]:
    readers = [b for b in blocks if isinstance(b, IntermediateJsonlReader)]
    writers = [b for b in blocks if isinstance(b, AtomicJsonlWriter)]
    return (
        readers[0].data_folder.path if readers else None,
        writers[0].output_folder.path if writers else None,
    )


def test_documents_go_from_each_document_step_to_the_next_and_the_last_writes_data(tmp_path):
    stage = _stage(tmp_path, "dedup: minhash+sentence", "dedup: sentence", "dedup: none")
    layout = RunLayout(tmp_path / "out", "s")
    paths = {
        (spec.name, step): _reader_and_writer(build_step(stage, spec, step, layout, RESOURCES))
        for spec in stage.datasets
        for step in dataset_steps(spec)
    }
    filtered, data = str(layout.filtered("d0")), str(layout.data("d0"))
    between = str(layout.minhash("d0", "documents"))
    assert paths[("d0", "filter")] == (None, filtered)
    assert paths[("d0", "minhash-signatures")] == (filtered, None)
    assert paths[("d0", "minhash-filter")] == (filtered, between)
    assert paths[("d0", "sentence-signatures")] == (between, None)
    assert paths[("d0", "sentence-filter")] == (between, data)
    assert paths[("d1", "sentence-signatures")] == (str(layout.filtered("d1")), None)
    assert paths[("d1", "sentence-filter")] == (str(layout.filtered("d1")), str(layout.data("d1")))
    assert paths[("d2", "filter")] == (None, str(layout.data("d2")))


def test_sentence_signatures_and_filter_read_the_same_files_with_the_same_tasks(tmp_path):
    stage = _stage(tmp_path, "dedup: sentence", extra="sentence: {n_sentences: 4, find_tasks: 3}\n")
    spec = stage.datasets[0]
    plan = {s.step: s.tasks for s in plan_stage(stage).steps}
    assert plan == {"filter": 2, "sentence-signatures": 2, "sentence-find": 3, "sentence-filter": 2}
    layout = RunLayout(tmp_path / "out", "s")
    signature = build_step(stage, spec, "sentence-signatures", layout, RESOURCES)
    sentence_filter = build_step(stage, spec, "sentence-filter", layout, RESOURCES)
    assert signature[0].data_folder.path == sentence_filter[0].data_folder.path
    assert signature[1].finder_workers == 3 and signature[1].config.n_sentences == 4
    assert sentence_filter[1].config.n_sentences == 4


def test_reset_removes_every_folder_a_step_may_write(tmp_path):
    layout = RunLayout(tmp_path, "s")
    folders = [
        layout.filtered("d"),
        layout.minhash("d", "remove"),
        layout.minhash("d", "documents"),
        layout.sentence("d", "duplicates"),
        layout.data("d"),
        layout.logs("d", "sentence-find"),
    ]
    for folder in folders:
        folder.mkdir(parents=True)
    removed = reset_from(layout, "d", "minhash-filter")
    assert set(removed) == set(folders[2:])
    assert layout.filtered("d").is_dir() and layout.minhash("d", "remove").is_dir()


def test_profile_step_resources_are_checked_against_the_registry(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "executor: slurm\npartition: cpu\nsteps:\n  sentence-find: {cpus: 2}\n  tokenise: {cpus: 1}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_profile(str(profile))
    (issue,) = err.value.issues
    assert issue.key == "steps.tokenise" and "sentence-find" in issue.expected


# --- a test-only step, run through a stage with no change outside the registry -------------------------


class Shout(PipelineStep):
    """The toy step's block: upper-cases every document and counts them."""

    type = "🔊 - TOY"
    name = "shout"

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for document in data:
            self.stat_update("shouted")
            document.text = document.text.upper()
            yield document


def _shout(context: StepContext) -> list[PipelineStep]:
    assert context.documents_in is not None and context.documents_out is not None
    return [
        intermediate_reader(context.documents_in, context.repair),
        Shout(),
        AtomicJsonlWriter(context.documents_out),
    ]


TOY = Step(
    "shout",
    enabled=lambda spec: spec.kind == "web",
    tasks=lambda stage, spec: spec.tasks,
    build=_shout,
    inputs=("seed",),
    documents=lambda layout, dataset: layout.stage_dir / "shouted" / dataset,
    reads_documents=True,
)


def test_a_registry_with_an_extra_step_runs_a_stage_locally(tmp_path):
    registry = REGISTRY.with_step(TOY)
    assert registry.names == (*STEPS, "shout") and REGISTRY.names == STEPS
    stage = _stage(tmp_path, "dedup: sentence", "dedup: none, kind: code")
    plan = plan_stage(stage, registry)
    assert [s.step for s in plan.for_dataset("d0")] == ["filter", *SENTENCE, "shout"]
    assert [s.step for s in plan.for_dataset("d1")] == ["filter"]  # not enabled for code
    layout = RunLayout(tmp_path / "out", "s")

    outcome = run_local(stage, plan, layout, RESOURCES, 2, Console(file=io.StringIO()), registry)

    assert outcome.ok, outcome.failed
    assert outcome.ran == [*(f"d0/{s}" for s in ("filter", *SENTENCE, "shout")), "d1/filter"]
    texts = sorted(r["text"] for r in read_jsonl_folder(layout.data("d0")))
    assert texts == sorted([f"DOCUMENT {i}" for i in range(5)] + [f"OTHER {i}" for i in range(4)])
    assert sorted(r["text"] for r in read_jsonl_folder(layout.sentence("d0", "documents"))) == sorted(
        t.lower() for t in texts
    )
    assert not (layout.stage_dir / "shouted").exists()  # the last document step writes data/, not its folder
    assert layout.completed_ranks("d0", "shout") == {0, 1}
    stats = json.loads((layout.logs("d0", "shout") / "stats" / "00000.json").read_text())
    (shout,) = [block for block in stats if block["name"].endswith("shout")]
    assert shout["stats"]["shouted"] > 0
    (d0, d1) = stage_summary(layout, plan)
    assert (d0.docs_in, d0.docs_out, d0.state, d1.docs_out) == (9, 9, "complete", 9)

    again = run_local(stage, plan, layout, RESOURCES, 2, Console(file=io.StringIO()), registry)
    assert again.ran == []  # every step of the toy registry is complete


def test_a_toy_step_is_pinned_and_reset_from_its_declaration(tmp_path):
    registry = REGISTRY.with_step(TOY, after="filter")
    stage = _stage(tmp_path, "dedup: minhash")
    spec = stage.datasets[0]
    assert registry.dataset_steps(spec) == ("filter", "shout", *MINHASH)
    layout = RunLayout(tmp_path / "out", "s")
    assert registry.documents_out(layout, spec, "shout") == layout.stage_dir / "shouted" / "d0"
    assert registry.documents_in(layout, spec, "minhash-signatures") == (
        "shout",
        layout.stage_dir / "shouted" / "d0",
    )
    settings = dataset_settings(stage, spec, LoadedFiles("x", None), registry)
    steps = [(s.step, s.tasks) for s in plan_stage(stage, registry).for_dataset("d0")]
    fingerprints = step_fingerprints(settings, steps, registry)
    assert list(fingerprints) == [s for s, _ in steps]
    with pytest.raises(UnknownStep):  # the default registry does not know the toy step
        step_fingerprints(settings, steps)
    (layout.stage_dir / "shouted" / "d0").mkdir(parents=True)
    assert layout.stage_dir / "shouted" / "d0" in reset_from(layout, "d0", "shout", registry)


def test_the_probe_splits_sentences_for_sentence_dedup(tmp_path, monkeypatch):
    """The launcher's probe runs the sentence-signatures step (its declaration asks for it) on a paragraph in
    the dataset's language: a tokenizer that cannot be imported is a config issue naming that step."""
    from datatrove.pipeline.dedup.sentence_dedup import SentenceDedupSignature

    from smolprep.pipelines.probe import check_stage

    stage = _stage(tmp_path, "dedup: sentence, language: vi")
    layout = RunLayout(tmp_path / "out", "s")
    assert check_stage(stage, layout, RESOURCES) == []
    split: list[str] = []

    def missing_tokenizer(self, doc, doc_idx):
        split.append(self.language)
        raise ModuleNotFoundError("No module named 'pyvi'", name="pyvi")

    monkeypatch.setattr(SentenceDedupSignature, "get_hashes", missing_tokenizer)
    (issue,) = check_stage(stage, layout, RESOURCES)
    assert split == ["vie_Latn"]
    assert "step sentence-signatures" in issue.key and "pyvi" in issue.expected
