"""End to end on the shipped sample: output schema, duplicates, code kept intact, relaunch does nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from tests.conftest import read_jsonl_folder

ROOT = Path(__file__).resolve().parents[2]


def _inputs(dataset: str) -> dict[str, dict]:
    records = {}
    for file in sorted((ROOT / "sample" / dataset).glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                records[record["id"]] = record
    return records


def test_every_record_has_text_id_and_dataset_metadata(sample_run):
    for spec in sample_run.config.datasets:
        records = read_jsonl_folder(sample_run.layout.data(spec.name))
        assert records, f"{spec.name}: no output"
        for record in records:
            assert set(record) == {"text", "id", "metadata"}
            assert record["text"] and record["id"]
            meta = record["metadata"]
            assert meta["source"] == spec.origin and meta["weight"] == spec.weight
            assert meta["dataset"] == spec.name and "config" in meta
            if spec.kind == "web":
                assert meta["language"] in spec.language and meta["language_score"] >= 0.65


def test_vietnamese_dataset_keeps_only_vietnamese(sample_run):
    records = read_jsonl_folder(sample_run.layout.data("vi-web"))
    # FineWeb-2's Vietnamese chain: most of the sample is option lists and short help lines (list_ratio,
    # line_punct_ratio); 42 documents remain
    assert len(records) >= 40
    assert {r["metadata"]["language"] for r in records} == {"vi"}


def test_code_passes_intact(sample_run):
    inputs = _inputs("code")
    outputs = read_jsonl_folder(sample_run.layout.data("code"))
    assert all(inputs[r["id"]]["text"] == r["text"] for r in outputs)
    duplicates = json.loads((ROOT / "sample" / "duplicates.json").read_text())["groups"]["code"]
    extra_copies = sum(len(group) - 1 for group in duplicates)
    # every file is kept except at most one per ten (sanity filter) and the extra copies of duplicates
    assert len(outputs) >= 0.9 * (len(inputs) - extra_copies)


def test_known_duplicates_leave_exactly_one_copy(sample_run):
    groups = json.loads((ROOT / "sample" / "duplicates.json").read_text())["groups"]
    checked = 0
    for dataset, dataset_groups in groups.items():
        filtered = {r["id"] for r in read_jsonl_folder(sample_run.layout.filtered(dataset))}
        final = {r["id"] for r in read_jsonl_folder(sample_run.layout.data(dataset))}
        for group in dataset_groups:
            survivors_of_filter = filtered & set(group)
            if len(survivors_of_filter) >= 2:
                checked += 1
                assert len(final & set(group)) == 1, f"{dataset}: group {group} left {final & set(group)}"
            assert len(final & set(group)) <= 1
    assert checked >= 5, "the sample should carry duplicate groups that pass the filters"


def _tree_digest(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_relaunch_does_no_work_and_rewrites_nothing(sample_run, capsys):
    stage_dir = sample_run.layout.stage_dir
    before = {name: _tree_digest(stage_dir / name) for name in ("data", "filtered", "minhash")}
    run_json = (stage_dir / "run.json").stat().st_mtime_ns
    code, out = sample_run.relaunch(capsys)
    assert code == 0
    assert "Everything is complete" in out
    assert {name: _tree_digest(stage_dir / name) for name in ("data", "filtered", "minhash")} == before
    assert (stage_dir / "run.json").stat().st_mtime_ns == run_json


def test_summary_counts_match_the_files(sample_run):
    from smolprep.plan import plan_stage
    from smolprep.summary import stage_summary

    rows = stage_summary(sample_run.layout, plan_stage(sample_run.config))
    for row in rows:
        inputs = _inputs(row.dataset)
        final = read_jsonl_folder(sample_run.layout.data(row.dataset))
        assert row.docs_in == len(inputs)
        assert row.docs_out == len(final)
        assert row.docs_in - row.removed_filter - row.removed_dedup == row.docs_out
        assert row.state == "complete"
