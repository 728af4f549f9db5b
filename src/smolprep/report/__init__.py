"""Stage report: `<root>/<stage>/manifest.json` (every document accounted for, tokens per dataset, the
mixture against its weights) and `report.html` (the same with inline SVG plots). See docs/report.md.

`write_report` is what the end of a local run, the Slurm stage-level job and `launch.py report` call.
"""

from __future__ import annotations

import json
from pathlib import Path

from smolprep.config.stage import StageConfig
from smolprep.plan import StagePlan
from smolprep.report.html import render_html
from smolprep.report.manifest import DEFAULT_MAX_EPOCHS, build_manifest
from smolprep.report.tokens import MAX_TOKENIZED_BYTES, make_counter
from smolprep.state.atomic import write_text_atomic
from smolprep.state.layout import RunLayout

REPORT_NAME = "report.html"


def build_report(
    layout: RunLayout,
    stage: StageConfig,
    plan: StagePlan,
    max_epochs: float = DEFAULT_MAX_EPOCHS,
    max_tokenized_bytes: int = MAX_TOKENIZED_BYTES,
) -> dict:
    """The manifest as a JSON-ready dict (reads the run directory, writes nothing)."""
    counter = make_counter(stage.tokenizer, stage.source_file)
    manifest, _ = build_manifest(layout, stage, plan, counter, max_epochs, max_tokenized_bytes)
    return manifest


def write_report(
    layout: RunLayout,
    stage: StageConfig,
    plan: StagePlan,
    max_epochs: float = DEFAULT_MAX_EPOCHS,
    max_tokenized_bytes: int = MAX_TOKENIZED_BYTES,
) -> tuple[Path, Path]:
    """Write `<stage_dir>/manifest.json` and `<stage_dir>/report.html` (atomically); returns their paths.

    Raises `smolprep.report.tokens.TokenizerError` when the config's tokenizer cannot be loaded."""
    return save_report(layout, build_report(layout, stage, plan, max_epochs, max_tokenized_bytes))


def save_report(layout: RunLayout, manifest: dict) -> tuple[Path, Path]:
    html_path = layout.stage_dir / REPORT_NAME
    write_text_atomic(layout.manifest, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(html_path, render_html(manifest))
    return layout.manifest, html_path


__all__ = ["REPORT_NAME", "build_report", "save_report", "write_report"]
