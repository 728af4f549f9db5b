"""Document counts against the files on disk, for tasks that read 1, 2 and 7 input files: the summary's
`in`, `removed by filter`, `removed as duplicate` and `out`, and the manifest's accounting, equal the records
counted in the input, filtered/ and data/ folders. A deleted final file is never reported as complete."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.plan import plan_stage
from smolprep.report import build_report
from smolprep.state.layout import RunLayout
from smolprep.summary import stage_summary, task_stats
from tests.conftest import StageRun, read_jsonl_folder, run_stage, sample_texts, write_jsonl

# dataset -> (kind, input files, tasks): every task reads files / tasks of them
SHAPES = {
    "code-1": ("code", 1, 1),
    "code-2": ("code", 2, 1),
    "en-7": ("web", 7, 1),
    "code-14": ("code", 14, 2),
}


@dataclass
class CountedRun:
    run: StageRun
    inputs: dict[str, int]  # dataset -> records written to its input folder


def _records(kind: str, name: str) -> list[dict]:
    texts = sample_texts("en-web" if kind == "web" else "code")
    if kind == "code":
        texts = texts[:120] + texts[:120:6]  # planted exact copies: the dedup must remove some
    return [{"id": f"{name}-{i}", "text": text} for i, text in enumerate(texts)]


def _write_inputs(folder: Path, name: str, kind: str, files: int) -> int:
    records = _records(kind, name)
    for part in range(files):
        suffix = ".jsonl.gz" if part % 2 else ".jsonl"
        write_jsonl(folder / name / f"part-{part:02d}{suffix}", records[part::files])
    return len(records)


@pytest.fixture(scope="module")
def counted(tmp_path_factory) -> CountedRun:
    base = tmp_path_factory.mktemp("counts")
    inputs = {
        name: _write_inputs(base / "in", name, kind, files) for name, (kind, files, _) in SHAPES.items()
    }
    lines = ["name: counts", "datasets:"]
    for name, (kind, _, tasks) in SHAPES.items():
        language = ", language: en" if kind == "web" else ""
        lines.append(f"  - {{name: {name}, path: in/{name}, kind: {kind}{language}, tasks: {tasks}}}")
    config = base / "counts.yaml"
    config.write_text("\n".join(lines) + "\n")
    run = run_stage(config, base / "out")
    assert run.exit_code == 0, f"the stage failed; logs in {run.layout.stage_dir / 'logs'}"
    return CountedRun(run, inputs)


def test_each_task_read_the_files_it_was_meant_to(counted) -> None:
    for name, (_, files, tasks) in SHAPES.items():
        per_rank = task_stats(counted.run.layout, name, "filter")
        assert {rank: blocks[0].get("input_files") for rank, blocks in per_rank.items()} == {
            rank: files // tasks for rank in range(tasks)
        }


def _on_disk(counted: CountedRun, name: str) -> tuple[int, int, int]:
    """(input records, records in filtered/, records in data/) of a dataset."""
    layout = counted.run.layout
    filtered = len(read_jsonl_folder(layout.filtered(name)))
    return counted.inputs[name], filtered, len(read_jsonl_folder(layout.data(name)))


def test_summary_counts_equal_the_records_on_disk(counted) -> None:
    rows = stage_summary(counted.run.layout, plan_stage(counted.run.config))
    expected = {}
    for name in SHAPES:
        read, filtered, final = _on_disk(counted, name)
        expected[name] = (read, read - filtered, filtered - final, final)
    assert {r.dataset: (r.docs_in, r.removed_filter, r.removed_dedup, r.docs_out) for r in rows} == expected
    assert expected["en-7"][1] > 0  # the English filters removed documents
    assert all(expected[name][2] > 0 for name in ("code-1", "code-2", "code-14"))  # and the dedup
    assert {(r.state, r.corrupt_lines, r.skipped_files) for r in rows} == {("complete", 0, ())}


def test_manifest_accounts_for_the_same_documents(counted) -> None:
    stage = counted.run.config
    manifest = build_report(counted.run.layout, stage, plan_stage(stage))
    for name, d in manifest["datasets"].items():
        read, filtered, final = _on_disk(counted, name)
        steps = d["steps"]
        assert (d["docs_in"], steps["filter"]["docs_out"], d["docs_out"]) == (read, filtered, final)
        assert sum(steps["filter"]["removed"].values()) == read - filtered
        assert sum(steps["minhash-filter"]["removed"].values()) == filtered - final
        for step in steps.values():
            assert step["docs_in"] - step["docs_out"] == sum(step["removed"].values())
            assert "unaccounted" not in step
        assert d["docs_in"] - d["docs_out"] == sum(sum(s["removed"].values()) for s in steps.values())
        assert d["complete"]
    assert not [w for w in manifest["warnings"] if "explained" in w or "incomplete" in w]
    for d in manifest["datasets"].values():
        assert (d["skipped_files"], d["corrupt_files"], d["missing_files"]) == ([], 0, [])


def test_a_deleted_final_file_is_not_complete(counted, tmp_path) -> None:
    source = counted.run.layout
    shutil.copytree(source.stage_dir, tmp_path / source.stage)
    layout = RunLayout(tmp_path, source.stage)
    plan = plan_stage(counted.run.config)
    (layout.data("code-14") / "00001.jsonl.gz").unlink()
    on_disk = len(read_jsonl_folder(layout.data("code-14")))
    row = next(row for row in stage_summary(layout, plan) if row.dataset == "code-14")
    assert row.docs_out == on_disk
    assert row.state == (
        "damaged: 1 output file missing (00001.jsonl.gz); delete its completion marker "
        "logs/code-14/minhash-filter/completions/00001 and relaunch"
    )
    manifest = build_report(layout, counted.run.config, plan)
    d = manifest["datasets"]["code-14"]
    assert (d["docs_out"], d["complete"], manifest["complete"]) == (on_disk, False, False)
    assert d["missing_files"] == ["00001.jsonl.gz"]
    (warning,) = [w for w in d["warnings"] if "missing" in w]
    assert "00001.jsonl.gz" in warning and "logs/code-14/minhash-filter/completions/00001" in warning
    (layout.completions("code-14", "minhash-filter") / "00001").unlink()  # what the state says to do
    config = str(counted.run.config.source_file)
    assert main(["--config", config, "--cluster", "local", "--output", str(tmp_path)]) == 0
    row = next(row for row in stage_summary(layout, plan) if row.dataset == "code-14")
    assert (row.docs_out, row.state) == (len(read_jsonl_folder(source.data("code-14"))), "complete")
    assert read_jsonl_folder(layout.data("code-14")) == read_jsonl_folder(source.data("code-14"))


def test_a_truncated_stats_file_stops_report_and_launch_with_one_line(counted, tmp_path, capsys) -> None:
    source = counted.run.layout
    shutil.copytree(source.stage_dir, tmp_path / source.stage)
    layout = RunLayout(tmp_path, source.stage)
    stats = layout.logs("en-7", "filter") / "stats" / "00000.json"
    stats.write_text(stats.read_text()[:300])
    config = str(counted.run.config.source_file)
    for command in (["report"], []):
        code = main([*command, "--config", config, "--cluster", "local", "--output", str(tmp_path)])
        err = capsys.readouterr().err.strip()
        assert code == 1, err
        assert err.startswith("error: ") and "\n" not in err and str(stats) in err
        assert str(layout.completions("en-7", "filter") / "00000") in err
    before = read_jsonl_folder(layout.data("en-7"))
    stats.unlink()  # what the message says to do
    (layout.completions("en-7", "filter") / "00000").unlink()
    assert main(["--config", config, "--cluster", "local", "--output", str(tmp_path)]) == 0
    row = next(row for row in stage_summary(layout, plan_stage(counted.run.config)) if row.dataset == "en-7")
    assert (row.docs_in, row.docs_out, row.state) == (counted.inputs["en-7"], len(before), "complete")
    assert read_jsonl_folder(layout.data("en-7")) == before
