"""The manifest over a synthetic run directory (datatrove-format stats, markers, output files): mixture,
epochs, warnings; and report.html rendered from it is self-contained."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smolprep.config.stage import parse_stage_config
from smolprep.plan import plan_stage
from smolprep.report import build_report, write_report
from smolprep.report.html import render_html
from smolprep.report.manifest import MixtureRow, mixture
from smolprep.state.errors import DamagedRunFile
from smolprep.state.layout import RunLayout
from smolprep.stats_keys import CORRUPT_FILES, FILES_READ, skipped_file_key
from tests.conftest import write_jsonl

READER = "📖 - READER: 📖 JSONL (counting corrupt lines)"
FILTER = "🔻 - FILTER: 🧑\u200d💻 Code sanity"
WRITER = "💽 - WRITER: 🐿 Jsonl (atomic)"


def _block(name: str, seconds: float, **stats: int) -> dict:
    return {"name": name, "time_stats": {"total": seconds, "n": 1}, "stats": stats}


def _fake_run(
    tmp_path: Path,
    texts: dict[str, list[str]],
    complete: bool = True,
    budget: int | None = None,
    reader_extra: dict[str, int] | None = None,
):
    """A stage of `dedup: false` code datasets whose filter step 'ran': one task each, stats, marker, data.
    `reader_extra`: more counters of each dataset's reader."""
    for name in texts:
        write_jsonl(tmp_path / "in" / name / "a.jsonl", [{"text": "x"}])
    raw = {
        "name": "synthetic",
        "datasets": [
            {"name": n, "path": f"in/{n}", "kind": "code", "tasks": 1, "dedup": False} for n in texts
        ],
    }
    if budget is not None:
        raw["token_budget"] = budget
    stage = parse_stage_config(raw, tmp_path / "stage.yaml")
    layout = RunLayout(tmp_path / "out", stage.name)
    for name, kept in texts.items():
        logs = layout.logs(name, "filter")
        (logs / "stats").mkdir(parents=True)
        blocks = [
            _block(READER, 0.1, documents=len(kept) + 3, corrupt_json=1, **(reader_extra or {})),
            _block(FILTER, 0.2, total=len(kept) + 3, forwarded=len(kept), dropped=3, dropped_too_short=3),
            _block(WRITER, 0.3, total=len(kept)),
        ]
        (logs / "stats" / "00000.json").write_text(json.dumps(blocks))
        if complete:
            (logs / "completions").mkdir()
            (logs / "completions" / "00000").touch()
        if kept:
            write_jsonl(
                layout.data(name) / "00000.jsonl.gz", [{"id": str(i), "text": t} for i, t in enumerate(kept)]
            )
    return stage, layout, plan_stage(stage)


def test_mixture_asks_weight_times_budget() -> None:
    rows = mixture({"a": 0.75, "b": 0.25}, {"a": 100, "b": 0}, 1000)
    assert rows == {"a": MixtureRow(750, 7.5), "b": MixtureRow(250, None)}


def test_manifest_of_a_complete_stage(tmp_path) -> None:
    stage, layout, plan = _fake_run(
        tmp_path, {"big": ["abcd" * 100] * 10, "small": ["abcd" * 10] * 2}, budget=4000
    )
    manifest = build_report(layout, stage, plan)
    big, small = manifest["datasets"]["big"], manifest["datasets"]["small"]
    assert (
        manifest["complete"]
        and manifest["token_budget"] == 4000
        and manifest["token_budget_source"] == "config"
    )
    assert manifest["tokens"]["method"] == "estimate"
    assert (big["docs_in"], big["docs_out"], big["skipped_lines"]) == (13, 10, {"corrupt_json": 1})
    assert big["tokens_out"] == 1000 and small["tokens_out"] == 20  # 4000 and 80 bytes / 4
    assert big["steps"]["filter"]["removed"] == {"Code sanity: too_short": 3}
    assert big["steps"]["filter"]["cpu_seconds"] == pytest.approx(0.6)
    assert (big["tokens_target"], big["epochs"]) == (2000, 2.0)
    assert (small["tokens_target"], small["epochs"]) == (2000, 100.0)
    assert manifest["warnings"] == small["warnings"]
    (warning,) = small["warnings"]
    assert "repeated 100.0 times" in warning and "limit 4 epochs" in warning
    assert json.loads(json.dumps(manifest)) == manifest


def test_the_mixture_plots_say_whether_their_token_counts_are_estimated(tmp_path) -> None:
    stage, layout, plan = _fake_run(tmp_path, {"a": ["abcd"] * 3, "b": ["abcd"] * 2})
    manifest = build_report(layout, stage, plan)

    def titled(phrase: str) -> bool:  # the three token plots' titles end with it
        page = render_html(manifest)
        found = re.findall(r">((?:Mixture: target|Tokens available|Epochs: weight)[^<]*)<", page)
        assert len({t[:12] for t in found}) == 3
        return all(t.endswith(f", {phrase}") for t in found)

    assert titled("ESTIMATED token counts")
    manifest["datasets"]["a"]["tokens_counted"] = "exact (tokenized)"
    assert titled("token counts ESTIMATED for b, exact for the others")
    manifest["datasets"]["b"]["tokens_counted"] = "exact"
    assert titled("exact token counts")


def test_no_budget_means_one_pass_over_the_stage(tmp_path) -> None:
    stage, layout, plan = _fake_run(tmp_path, {"a": ["abcd" * 30] * 3, "b": ["abcd" * 10] * 3})
    manifest = build_report(layout, stage, plan, max_epochs=1.5)
    assert manifest["token_budget"] == manifest["tokens_total"] == 90 + 30
    assert manifest["datasets"]["a"]["epochs"] == pytest.approx(0.5 * 120 / 90, abs=1e-4)
    assert manifest["datasets"]["b"]["epochs"] == 2.0
    assert [w.split(":")[0] for w in manifest["warnings"]] == ["b"]


def test_incomplete_and_empty_datasets_are_warned_about(tmp_path) -> None:
    stage, layout, plan = _fake_run(tmp_path, {"a": ["abcd"] * 3, "empty": []}, complete=False)
    manifest = build_report(layout, stage, plan)
    assert not manifest["complete"]
    text = "\n".join(manifest["warnings"])
    assert "a: incomplete" in text and "filter (0/1 tasks)" in text
    assert "empty: weight 0.5 but no tokens left" in text
    assert manifest["datasets"]["empty"]["epochs"] is None


def test_report_html_is_self_contained(tmp_path) -> None:
    stage, layout, plan = _fake_run(tmp_path, {"a": ["abcd" * 30] * 3, "b": ["<b>&"] * 2})
    manifest_path, html_path = write_report(layout, stage, plan)
    assert (
        manifest_path == layout.stage_dir / "manifest.json" and html_path == layout.stage_dir / "report.html"
    )
    html = html_path.read_text()
    assert json.loads(manifest_path.read_text())["stage"] == "synthetic"
    charts = re.findall(r'<svg class="chart" data-chart="([^"]+)"', html)
    assert charts == ["mixture", "tokens", "epochs", "funnel-a", "funnel-b", "cpu"]
    for forbidden in ("<script", "<link", "<img", "src=", "url(", "@import", "http://", "https://"):
        assert forbidden not in html
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', html))


def test_html_escapes_what_it_shows() -> None:
    manifest = {
        "stage": "s",
        "generated": "now",
        "smolprep_version": "0",
        "config": "<c>",
        "stage_dir": "d",
        "complete": True,
        "cpu_seconds": 0.0,
        "tokens": {"method": "estimate", "label": "ESTIMATE"},
        "tokens_total": 0,
        "token_budget": 0,
        "token_budget_source": "config",
        "max_epochs": 4.0,
        "warnings": ["<script>alert(1)</script>"],
        "datasets": {},
    }
    html = render_html(manifest)
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;c&gt;" in html


def test_a_truncated_stats_file_is_named_with_what_to_do(tmp_path) -> None:
    stage, layout, plan = _fake_run(tmp_path, {"a": ["abcd"] * 3, "b": ["abcd"] * 2})
    stats = layout.logs("b", "filter") / "stats" / "00000.json"
    stats.write_text(stats.read_text()[:100])
    with pytest.raises(DamagedRunFile) as info:
        build_report(layout, stage, plan)
    assert info.value.path == stats
    assert str(layout.completions("b", "filter") / "00000") in str(info.value)


def test_a_truncated_final_file_is_named_with_what_to_do(tmp_path) -> None:
    stage, layout, plan = _fake_run(tmp_path, {"a": ["abcd" * 1000] * 30})
    final = layout.data("a") / "00000.jsonl.gz"
    final.write_bytes(final.read_bytes()[:-40])
    with pytest.raises(DamagedRunFile) as info:
        build_report(layout, stage, plan)
    assert info.value.path == final
    assert str(layout.completions("a", "filter") / "00000") in str(info.value)


def test_skipped_input_files_are_named_in_the_manifest_and_the_page(tmp_path) -> None:
    skipped = {
        "in/a/b.jsonl.gz": "truncated gzip: Compressed file ended before the end-of-stream marker",
        "in/a/<c>.jsonl.gz": "not gzip data",
    }
    counters = {FILES_READ: 3, CORRUPT_FILES: 2} | {skipped_file_key(f, r): 1 for f, r in skipped.items()}
    stage, layout, plan = _fake_run(tmp_path, {"a": ["abcd"] * 3}, reader_extra=counters)
    manifest = build_report(layout, stage, plan)
    a = manifest["datasets"]["a"]
    assert a["skipped_files"] == [{"file": f, "reason": r} for f, r in skipped.items()]
    assert (a["files_read"], a["corrupt_files"], a["docs_in"], a["docs_out"]) == (3, 2, 6, 3)
    assert a["steps"]["filter"]["removed"] == {"Code sanity: too_short": 3}  # no file is a removal reason
    assert a["steps"]["filter"]["skipped_files"] == a["skipped_files"]
    (warning,) = [w for w in manifest["warnings"] if "skipped" in w]
    assert warning.startswith("a: 2 input files skipped") and all(f in warning for f in skipped)
    html = render_html(manifest)
    assert "in/a/b.jsonl.gz" in html and "not gzip data" in html and "in/a/&lt;c&gt;.jsonl.gz" in html
