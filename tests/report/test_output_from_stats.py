"""The report learns a dataset's final output from its writer's per-task stats (documents, text bytes, file
size) and never re-reads the final files: it checks their sizes only, and reads whole files only to count
tokens with a report tokenizer, up to a byte limit. Runs with real writer stats (`AtomicJsonlWriter`)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from datatrove.data import Document

from smolprep.config.stage import parse_stage_config
from smolprep.pipelines.writers import AtomicJsonlWriter
from smolprep.plan import plan_stage
from smolprep.report import build_report
from smolprep.report.manifest import build_manifest
from smolprep.report.tokens import ByteEstimate, TokenizerCounter, scan_output
from smolprep.state.errors import DamagedRunFile
from smolprep.state.layout import RunLayout
from tests.conftest import sample_texts, write_jsonl

READER = "📖 - READER: 📖 JSONL (counting corrupt lines)"
TASKS = 3


def _run(tmp_path: Path, tokenizer: Path | None = None):
    """A one-dataset stage (`code`, no dedup: one filter step of 3 tasks) whose tasks 'ran': each wrote
    its final file with the real writer, and its stats file holds the writer's real counters."""
    write_jsonl(tmp_path / "in" / "a" / "x.jsonl", [{"text": "x"}])
    raw: dict = {
        "name": "stats",
        "datasets": [{"name": "a", "path": "in/a", "kind": "code", "tasks": TASKS, "dedup": False}],
    }
    if tokenizer is not None:
        raw["tokenizer"] = str(tokenizer)
    stage = parse_stage_config(raw, tmp_path / "stage.yaml")
    layout = RunLayout(tmp_path / "out", stage.name)
    texts = sample_texts("en-web") + sample_texts("vi-web")
    logs = layout.logs("a", "filter")
    (logs / "stats").mkdir(parents=True)
    (logs / "completions").mkdir()
    for rank in range(TASKS):
        mine = texts[rank::TASKS]
        writer = AtomicJsonlWriter(str(layout.data("a")))
        docs = iter([Document(text=t, id=f"{rank}-{i}") for i, t in enumerate(mine)])
        list(writer.run(docs, rank=rank))
        reader = {"name": READER, "time_stats": {"total": 0.1}, "stats": {"documents": len(mine)}}
        (logs / "stats" / f"{rank:05d}.json").write_text(json.dumps([reader, writer.stats.to_dict()]))
        (logs / "completions" / f"{rank:05d}").touch()
    return stage, layout, plan_stage(stage)


def test_the_stats_give_what_reading_every_file_gives(tmp_path, tokenizer_path) -> None:
    stage, layout, plan = _run(tmp_path)
    _, (account,) = build_manifest(layout, stage, plan, ByteEstimate())
    read = scan_output(layout.data("a"), ByteEstimate())
    assert account.output == read and read.docs > 100 and read.files == TASKS
    _, (counted,) = build_manifest(layout, stage, plan, TokenizerCounter(tokenizer_path))
    read = scan_output(layout.data("a"), TokenizerCounter(tokenizer_path))
    assert counted.output == read and counted.output.label == "exact"


def test_no_final_file_is_opened_without_a_tokenizer(tmp_path) -> None:
    stage, layout, plan = _run(tmp_path)
    before = build_report(layout, stage, plan)
    rng = random.Random(7)
    for file in layout.data("a").glob("*.jsonl.gz"):  # same size, unreadable: reading them would raise
        file.write_bytes(rng.randbytes(file.stat().st_size))
    after = build_report(layout, stage, plan)
    for key in ("docs_out", "bytes_out", "disk_bytes", "files_out", "tokens_out", "complete"):
        assert after["datasets"]["a"][key] == before["datasets"]["a"][key], key
    assert after["warnings"] == before["warnings"] == []


def test_a_final_file_of_another_size_is_named_with_what_to_do(tmp_path) -> None:
    stage, layout, plan = _run(tmp_path)
    final = layout.data("a") / "00001.jsonl.gz"
    final.write_bytes(final.read_bytes()[:-40])
    with pytest.raises(DamagedRunFile) as info:
        build_report(layout, stage, plan)
    assert info.value.path == final
    assert "bytes on disk, its writer wrote" in str(info.value)
    assert str(layout.completions("a", "filter") / "00001") in str(info.value)


def test_a_file_read_for_tokens_is_checked_against_its_record(tmp_path, tokenizer_path) -> None:
    stage, layout, plan = _run(tmp_path, tokenizer_path)
    final = layout.data("a") / "00002.jsonl.gz"
    kept = [{"id": "x", "text": "one document instead of many"}]
    write_jsonl(final, kept)
    size = final.stat().st_size
    recorded = json.loads((layout.logs("a", "filter") / "stats" / "00002.json").read_text())
    recorded[-1]["stats"]["file_bytes"] = {"total": size}  # the size matches, the contents do not
    (layout.logs("a", "filter") / "stats" / "00002.json").write_text(json.dumps(recorded))
    with pytest.raises(DamagedRunFile, match="1 documents of 28 text bytes, its writer wrote"):
        build_report(layout, stage, plan)


def test_above_the_byte_limit_whole_files_are_sampled(tmp_path, tokenizer_path) -> None:
    stage, layout, plan = _run(tmp_path, tokenizer_path)
    exact = build_report(layout, stage, plan)["datasets"]["a"]
    limit = exact["bytes_out"] // 3  # about one file of three
    sampled = build_report(layout, stage, plan, max_tokenized_bytes=limit)["datasets"]["a"]
    assert sampled["tokens_counted"].startswith("extrapolated from ")
    share = float(sampled["tokens_counted"].split()[2].rstrip("%"))
    assert 20 < share < 70  # one or two whole files, not all three
    assert sampled["tokens_out"] == pytest.approx(exact["tokens_out"], rel=0.15)
    assert (sampled["docs_out"], sampled["bytes_out"]) == (exact["docs_out"], exact["bytes_out"])


def test_a_file_no_task_wrote_is_not_counted_and_is_warned_about(tmp_path) -> None:
    stage, layout, plan = _run(tmp_path)
    before = build_report(layout, stage, plan)["datasets"]["a"]
    write_jsonl(layout.data("a") / "00007.jsonl.gz", [{"id": "old", "text": "left by a run with 8 tasks"}])
    after = build_report(layout, stage, plan)
    assert after["datasets"]["a"]["docs_out"] == before["docs_out"]
    (warning,) = after["warnings"]
    assert "00007.jsonl.gz" in warning and "no finished task of filter wrote" in warning


def test_a_missing_final_file_is_reported_missing_not_damaged(tmp_path) -> None:
    stage, layout, plan = _run(tmp_path)
    os.remove(layout.data("a") / "00000.jsonl.gz")
    a = build_report(layout, stage, plan)["datasets"]["a"]
    assert a["missing_files"] == ["00000.jsonl.gz"] and a["complete"] is False
