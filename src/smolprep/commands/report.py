"""`python launch.py report [--stage N | --config PATH] [--cluster NAME] [--output DIR]`: write the
manifest and report.html of a stage's run directory and print the summary.

The report is refused (exit 2, nothing written) for a run directory no launch created and for a config
that no longer matches the one the run was pinned to: its manifest would describe data that the config
did not produce."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from smolprep.commands.base import Command
from smolprep.commands.common import Ops, on_a_run, positive_number, run_options
from smolprep.config.errors import ConfigError
from smolprep.errors import EXIT_OK, UsageError
from smolprep.report import build_report, save_report
from smolprep.report.manifest import DEFAULT_MAX_EPOCHS
from smolprep.report.tokens import TokenizerError
from smolprep.state.run import check_against_pin

REASONS_SHOWN = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument(
        "--max-epochs",
        type=positive_number,
        metavar="N",
        help=f"warn about datasets that training would repeat more than N times (default {DEFAULT_MAX_EPOCHS:g})",
    )


def report(ops: Ops) -> int:
    issues = check_against_pin(ops.layout, ops.stage, ops.plan)
    if issues:
        raise ConfigError(issues)
    max_epochs = ops.args.max_epochs or DEFAULT_MAX_EPOCHS
    try:
        manifest = build_report(ops.layout, ops.stage, ops.plan, max_epochs=max_epochs)
    except TokenizerError as err:
        raise UsageError(str(err)) from err
    manifest_path, html_path = save_report(ops.layout, manifest)
    render_report(ops.console, manifest, {s.step for s in ops.plan.steps if s.dedup})
    ops.console.print(f"Wrote {manifest_path} and {html_path}", highlight=False, soft_wrap=True)
    return EXIT_OK


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _removed(d: dict, *steps: str) -> int:
    return sum(sum(d["steps"][s]["removed"].values()) for s in steps if s in d["steps"])


def render_report(console: Console, manifest: dict, dedup_steps: set[str]) -> None:
    """The rich summary: one row per dataset, then the main removal reasons, the token method, warnings.
    `dedup_steps`: the steps whose removals are duplicates (the others' are filtered out)."""
    table = Table(title=f"stage {manifest['stage']}: documents, tokens and the mixture")
    for column in ("dataset", "weight", "docs in", "filtered out", "duplicates", "docs out", "tokens out"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    table.add_column("tokens asked", justify="right")
    table.add_column("epochs", justify="right")
    limit = manifest["max_epochs"]
    for name, d in manifest["datasets"].items():
        epochs = d["epochs"]
        shown = "-" if epochs is None else f"{epochs:.2f}"
        if epochs is None or epochs > limit:
            shown = f"[bold red]{shown}[/]"
        table.add_row(
            name,
            f"{d['weight']:.4g}",
            _n(d["docs_in"]),
            _n(_removed(d, *[s for s in d["steps"] if s not in dedup_steps])),  # contents, filter
            _n(_removed(d, *[s for s in d["steps"] if s in dedup_steps])),
            _n(d["docs_out"]),
            _n(d["tokens_out"]),
            _n(d["tokens_target"]),
            shown,
        )
    console.print(table)
    reasons = Table(title="main removal reasons (all of them: manifest.json, report.html)")
    for column in ("dataset", "step", "removed because", "documents"):
        reasons.add_column(column, justify="right" if column == "documents" else "left")
    for name, d in manifest["datasets"].items():
        found = [(step, r, c) for step, v in d["steps"].items() for r, c in v["removed"].items()]
        found.sort(key=lambda x: -x[2])
        for i, (step, reason, count) in enumerate(found[:REASONS_SHOWN]):
            reasons.add_row(name if i == 0 else "", step, reason, _n(count))
        if len(found) > REASONS_SHOWN:
            rest = sum(c for _, _, c in found[REASONS_SHOWN:])
            reasons.add_row("", "", f"{len(found) - REASONS_SHOWN} more reasons", _n(rest))
    console.print(reasons)
    tokens = manifest["tokens"]
    style = "bold yellow" if tokens["method"] in ("estimate", "mixed") else ""
    console.print(
        f"Tokens: [{style}]{tokens['label']}[/]" if style else f"Tokens: {tokens['label']}", highlight=False
    )
    console.print(
        f"Budget: {manifest['token_budget']:,} tokens ({manifest['token_budget_source']}); "
        f"epochs = weight × budget / tokens out; warning above {limit:g}",
        highlight=False,
    )
    for warning in manifest["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


COMMAND = Command(
    "report",
    "write <root>/<stage>/manifest.json and report.html and print the funnel per dataset",
    add_arguments,
    on_a_run(report),
)
