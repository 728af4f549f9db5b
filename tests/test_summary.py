"""The summary over stats files written by datatrove's own serializer: every shape a counter can take is
counted, a damaged stats file is named with what to do, skipped input files are named and never counted as
documents, and `out` counts only the final files that are on disk."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from datatrove.utils.stats import PipelineStats, Stats

from smolprep.config.stage import parse_stage_config
from smolprep.plan import plan_stage
from smolprep.state.errors import DamagedRunFile
from smolprep.state.layout import RunLayout
from smolprep.stats_keys import CORRUPT_FILES, FILES_READ, skipped_file_key
from smolprep.summary import SkippedFile, merge_stats_files, stage_summary
from tests.conftest import write_jsonl

READER = "📖 - READER: 📖 JSONL (counting corrupt lines)"
FILTER = "🔻 - FILTER: 🧑\u200d💻 Code sanity"
WRITER = "💽 - WRITER: 🐿 Jsonl (atomic)"
UNITS = {"documents": "input_file", "cluster_size": "cluster"}


def stats_json(blocks: list[tuple[str, dict[str, list[int]]]]) -> str:
    """One task's stats file as datatrove writes it: every counter updated once per value given."""
    pipeline = []
    for name, counters in blocks:
        block = Stats(name)
        for key, updates in counters.items():
            for value in updates:
                block[key].update(value, UNITS.get(key))
        pipeline.append(block)
    return PipelineStats(pipeline).to_json()


def code_task(docs_per_file: list[int], dropped: int, extra: dict[str, list[int]] | None = None) -> str:
    """A filter task of a code dataset: the reader reads one file per entry of `docs_per_file`."""
    read = sum(docs_per_file)
    kept = read - dropped
    return stats_json(
        [
            (READER, {"input_files": [1] * len(docs_per_file), "documents": docs_per_file, **(extra or {})}),
            (FILTER, {"total": [1] * read, "forwarded": [1] * kept, "dropped": [1] * dropped}),
            (WRITER, {"_tmp/XXXXX.jsonl.gz": [1] * kept, "total": [1] * kept}),
        ]
    )


@pytest.mark.parametrize(
    "docs_per_file",
    [[0], [1], [100], [1, 1], [100, 100], [0, 0, 5], [3, 0, 4, 1, 1, 1, 9], [1] * 7, [250] * 7],
)
def test_every_counter_shape_datatrove_writes_is_counted(tmp_path, docs_per_file) -> None:
    """documents per file: 0 (bare 0), one update (total and mean), updates of 1 (total = n, no n), several
    files (total, n, mean, min, max...)."""
    tasks = [docs_per_file, list(reversed(docs_per_file)), [7]]
    for rank, files in enumerate(tasks):
        (tmp_path / f"{rank:05d}.json").write_text(code_task(files, dropped=0))
    reader, filter_, writer = merge_stats_files(sorted(tmp_path.glob("*.json")))
    total = sum(sum(files) for files in tasks)
    assert reader.get("documents") == filter_.get("total") == writer.get("total") == total
    assert reader.get("input_files") == sum(len(files) for files in tasks)


def test_counters_are_summed_whatever_their_shape_in_each_task(tmp_path) -> None:
    rng = random.Random(11)
    expected = 0
    for rank in range(12):
        files = [rng.choice([0, 1, 1, 2, 50, 300]) for _ in range(rng.randint(1, 9))]
        expected += sum(files)
        (tmp_path / f"{rank:05d}.json").write_text(code_task(files, dropped=0))
    (reader, *_) = merge_stats_files(sorted(tmp_path.glob("*.json")))
    assert reader.get("documents") == expected


def synthetic_stage(tmp_path: Path, tasks: int = 1, dedup: bool = False):
    write_jsonl(tmp_path / "in" / "code" / "a.jsonl", [{"text": "x = 1"}])
    raw = {
        "name": "synthetic",
        "datasets": [{"name": "code", "path": "in/code", "kind": "code", "tasks": tasks}],
    }
    raw["datasets"][0]["dedup"] = dedup
    stage = parse_stage_config(raw, tmp_path / "stage.yaml")
    return RunLayout(tmp_path / "out", stage.name), plan_stage(stage)


def finish_task(layout: RunLayout, rank: int, stats: str, docs: int) -> None:
    """What a finished filter task of a `dedup: false` dataset leaves: stats, marker, its final file."""
    logs = layout.logs("code", "filter")
    (logs / "stats").mkdir(parents=True, exist_ok=True)
    (logs / "completions").mkdir(exist_ok=True)
    (logs / "stats" / f"{rank:05d}.json").write_text(stats)
    (logs / "completions" / f"{rank:05d}").touch()
    if docs:
        records = [{"id": f"{rank}-{i}", "text": "x = 1"} for i in range(docs)]
        write_jsonl(layout.data("code") / f"{rank:05d}.jsonl.gz", records)


def test_a_task_reading_several_files_is_counted_in_the_summary(tmp_path) -> None:
    layout, plan = synthetic_stage(tmp_path, tasks=2)
    finish_task(layout, 0, code_task([100, 100], dropped=10), 190)
    finish_task(layout, 1, code_task([40, 0, 2, 9, 1, 1, 30], dropped=3), 80)
    (row,) = stage_summary(layout, plan)
    assert (row.docs_in, row.removed_filter, row.docs_out, row.state) == (283, 13, 270, "complete")


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated: a full disk, a killed copy
        lambda text: "",
        lambda text: "\x00\x00\x00\x00",
        lambda text: '{"name": "not a list of blocks"}',
        lambda text: text.replace('"total": 190', '"total": "many"', 1),
    ],
)
def test_a_damaged_stats_file_is_named_with_what_to_do(tmp_path, damage) -> None:
    layout, plan = synthetic_stage(tmp_path, tasks=2)
    finish_task(layout, 0, code_task([100, 100], dropped=10), 190)
    finish_task(layout, 1, code_task([5], dropped=0), 5)
    stats = layout.logs("code", "filter") / "stats" / "00000.json"
    stats.write_text(damage(stats.read_text()))
    with pytest.raises(DamagedRunFile) as info:
        stage_summary(layout, plan)
    message = str(info.value)
    assert info.value.path == stats and str(stats) in message
    assert str(layout.completions("code", "filter") / "00000") in message and "relaunch" in message
    assert "\n" not in message


def test_skipped_input_files_are_named_and_never_counted_as_documents(tmp_path) -> None:
    layout, plan = synthetic_stage(tmp_path, tasks=2)
    bad = skipped_file_key("in/code/b.jsonl.gz", "truncated gzip: Compressed file ended before the end")
    worse = skipped_file_key("in/code/c.jsonl.gz", "not gzip data")
    extra = {FILES_READ: [1, 1, 1], CORRUPT_FILES: [1, 1], bad: [1], worse: [1]}
    finish_task(layout, 0, code_task([100], dropped=4, extra=extra), 96)
    finish_task(layout, 1, code_task([20, 30], dropped=0, extra={FILES_READ: [1, 1]}), 50)
    (row,) = stage_summary(layout, plan)
    assert (row.docs_in, row.removed_filter, row.docs_out, row.corrupt_lines) == (150, 4, 146, 0)
    assert row.skipped_files == (
        SkippedFile("in/code/b.jsonl.gz", "truncated gzip: Compressed file ended before the end"),
        SkippedFile("in/code/c.jsonl.gz", "not gzip data"),
    )


def test_out_counts_only_the_final_files_on_disk(tmp_path) -> None:
    layout, plan = synthetic_stage(tmp_path, tasks=3)
    finish_task(layout, 0, code_task([30], dropped=0), 30)
    finish_task(layout, 1, code_task([11], dropped=0), 11)
    finish_task(layout, 2, code_task([5], dropped=5), 0)  # wrote nothing: no file, nothing missing
    (layout.data("code") / "00001.jsonl.gz").unlink()
    (row,) = stage_summary(layout, plan)
    assert row.docs_out == 30 and row.docs_in == 46 and row.removed_filter == 5
    assert row.state == (
        "damaged: 1 output file missing (00001.jsonl.gz); delete its completion marker "
        "logs/code/filter/completions/00001 and relaunch"
    )


@pytest.mark.parametrize("stats", ["", '[{"name": "📖 - READER', "half a file\x00"])
def test_a_stats_file_without_its_completion_marker_is_not_read(tmp_path, stats) -> None:
    """A task killed while datatrove writes its stats file (the pool stops the other workers when one task
    fails) leaves a half-written file and no marker: that task did not finish, so the summary and the
    report neither read nor count it, and the row says incomplete instead of failing on the file."""
    layout, plan = synthetic_stage(tmp_path, tasks=2)
    finish_task(layout, 0, code_task([30], dropped=2), 28)
    finish_task(layout, 1, code_task([10], dropped=0), 10)
    (layout.completions("code", "filter") / "00001").unlink()
    (layout.logs("code", "filter") / "stats" / "00001.json").write_text(stats)
    (row,) = stage_summary(layout, plan)
    assert (row.docs_in, row.removed_filter, row.docs_out, row.state) == (30, 2, 28, "incomplete")
