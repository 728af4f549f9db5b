"""The stage report's resource use: manifest.json's `efficiency` and report.html's Resources section, from
the exit records in a synthetic run directory (no Slurm call), and the sentence of a local run."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

from smolprep.config.stage import parse_stage_config
from smolprep.plan import plan_stage
from smolprep.report import build_report, write_report
from smolprep.report.html import NOTHING_MEASURED
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from tests.conftest import write_jsonl

GIB = 1024**3
READER = "📖 - READER: 📖 JSONL (counting corrupt lines)"
WRITER = "💽 - WRITER: 🐿 Jsonl (atomic)"


def synthetic_run(tmp_path: Path, names: tuple[str, ...] = ("a", "b")):
    """A stage of `dedup: false` code datasets whose filter step ran: two tasks each, stats, markers, data."""
    for name in names:
        write_jsonl(tmp_path / "in" / name / "a.jsonl", [{"text": "x"}])
    raw = {
        "name": "synthetic",
        "datasets": [
            {"name": n, "path": f"in/{n}", "kind": "code", "tasks": 2, "dedup": False} for n in names
        ],
    }
    stage = parse_stage_config(raw, tmp_path / "stage.yaml")
    layout = RunLayout(tmp_path / "out", stage.name)
    for name in names:
        logs = layout.logs(name, "filter")
        (logs / "stats").mkdir(parents=True)
        (logs / "completions").mkdir()
        for rank in range(2):
            blocks = [
                {"name": READER, "time_stats": {"total": 0.1, "n": 1}, "stats": {"documents": 1}},
                {"name": WRITER, "time_stats": {"total": 0.1, "n": 1}, "stats": {"total": 1}},
            ]
            (logs / "stats" / f"{rank:05d}.json").write_text(json.dumps(blocks))
            (logs / "completions" / f"{rank:05d}").touch()
            write_jsonl(layout.final_file(name, rank), [{"id": f"{name}{rank}", "text": "abcd"}])
    return stage, layout, plan_stage(stage)


def exit_record(rank: int, elapsed: float, rss: int, state: str = "completed") -> dict:
    return {
        "rank": rank,
        "job": f"41_{rank}",
        "attempt": 1,
        "node": "node1",
        "cpus": 2,
        "started": 1000.0 + rank,
        "elapsed": elapsed,
        "cpu_seconds": elapsed,  # one of its two CPUs busy
        "max_rss_bytes": rss,
        "mem_limit_bytes": 4 * GIB,
        "time_limit_seconds": 3600,
        "state": state,
    }


def slurm_ran(layout: RunLayout, dataset: str, records: list[dict]) -> None:
    """What a Slurm run leaves: the submission in jobs.jsonl and each task's exit record."""
    resources = {"time": "01:00:00", "cpus": 2, "mem_per_cpu": "2G"}
    entry = ledger.new_entry(dataset, "filter", "41", 0, "0-1", [0, 1], "tag", 1, resources)
    ledger.append(layout.ledger, entry)
    folder = layout.exits(dataset, "filter")
    folder.mkdir(parents=True)
    for record in records:
        (folder / f"{record['rank']:05d}.json").write_text(json.dumps(record))


def _section(page: str) -> str:
    """The text of report.html's Resources section."""
    match = re.search(r"<h2>Resources</h2>(.*?)(?:<h2>|</body>)", page, re.S)
    assert match, "report.html has no Resources section"
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1)))


def test_the_manifest_and_the_page_measure_slurm_tasks_from_their_exit_records(tmp_path) -> None:
    stage, layout, plan = synthetic_run(tmp_path)
    slurm_ran(layout, "a", [exit_record(0, 600.0, GIB), exit_record(1, 1800.0, 3 * GIB)])
    slurm_ran(layout, "b", [exit_record(0, 60.0, GIB), exit_record(1, 30.0, GIB, state="running")])

    manifest = build_report(layout, stage, plan)
    a, b = manifest["efficiency"]
    assert (a["dataset"], a["step"], a["tasks_measured"], a["source"]) == ("a", "filter", 2, "exit records")
    assert a["memory_share"] == {"median": 0.5, "max": 0.75}
    assert a["time_share"] == {"median": round(1200 / 3600, 4), "max": 0.5}
    assert a["cpu_efficiency"] == {"median": 0.5, "max": 0.5}
    assert (a["max_rss_bytes"], a["max_elapsed_seconds"]) == (3 * GIB, 1800.0)
    assert a["asked"] == {"time": "01:00:00", "cpus": 2, "mem_per_cpu": "2G"}
    # 3G × 1.25 over 2 CPUs: 1920M -> 2048M; 1800 s × 1.5 = 45 minutes
    assert a["suggested"] == {"time": "00:45:00", "cpus": 2, "mem_per_cpu": "2G"}
    assert b["tasks_measured"] == 1  # the running task is not measured
    assert b["suggested"] == {"time": "00:10:00", "cpus": 2, "mem_per_cpu": "768M"}
    assert json.loads(json.dumps(manifest)) == manifest

    _, html = write_report(layout, stage, plan)
    assert json.loads(layout.manifest.read_text())["efficiency"] == manifest["efficiency"]
    text = " ".join(_section(html.read_text(encoding="utf-8")).split())
    assert "from the tasks' exit records; suggestions add 25% memory and 50% time headroom" in text
    assert "a/filter 2 50% / 50% 50% / 75% 33% / 50% 2G × 2 CPUs, 01:00:00 2G × 2 CPUs, 00:45:00" in text
    assert "b/filter 1" in text and NOTHING_MEASURED not in text
    # one line per step: the largest of a's and b's suggestions for `filter`
    assert 'steps: filter: {time: "00:45:00", cpus: 2, mem_per_cpu: 2G}' in text


def test_a_local_run_has_nothing_measured(tmp_path) -> None:
    stage, layout, plan = synthetic_run(tmp_path)
    manifest = build_report(layout, stage, plan)
    assert manifest["efficiency"] == []
    _, html = write_report(layout, stage, plan)
    section = " ".join(_section(html.read_text(encoding="utf-8")).split())
    assert section.startswith(NOTHING_MEASURED) and "local run" in NOTHING_MEASURED
    assert "tasks measured" not in section and "steps:" not in section  # no table, no suggestion
