"""What the commands print: the console and the rich tables of a plan, a submission and a run's documents.

Rendering only; nothing here reads the run directory or runs a command."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smolprep.config.profile import ClusterProfile
from smolprep.config.stage import StageConfig
from smolprep.plan import StagePlan
from smolprep.slurm.submit import SlurmStage, SubmitOutcome
from smolprep.state.layout import RunLayout
from smolprep.state.reset import steps_from
from smolprep.state.run import PinComparison
from smolprep.summary import DatasetSummary


def make_console(stderr: bool = False) -> Console:
    """A console that does not cut table cells when output goes to a file or a pipe (logs, tests)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 200)


def print_error(message: str) -> None:
    """One line on stderr: `error: <message>`."""
    make_console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def render_plan(
    console: Console,
    stage: StageConfig,
    plan: StagePlan,
    profile: ClusterProfile,
    layout: RunLayout,
    inputs: Mapping[str, str] | None = None,
) -> None:
    """The plan's table; `inputs` says per dataset where its documents come from (fetched or not...)."""
    table = Table(
        title=f"plan: stage {stage.name} on {profile.name} ({profile.executor}) -> {layout.stage_dir}"
    )
    for column in ("dataset", "kind", "language", "weight", "input", "step", "tasks", "after"):
        table.add_column(column)
    for spec in stage.datasets:
        for i, step in enumerate(plan.for_dataset(spec.name)):
            first = i == 0
            table.add_row(
                spec.name if first else "",
                spec.kind if first else "",
                ",".join(spec.language) if first else "",
                f"{spec.weight:.5g}" if first else "",
                escape((inputs or {}).get(spec.name, "")) if first else "",
                step.step,
                str(step.tasks),
                f"{step.after} (all tasks)" if step.after else "-",
            )
    console.print(table)
    console.print(f"{len(stage.datasets)} datasets, {len(plan.steps)} steps, {plan.total_tasks} tasks.")


def render_force_config(console: Console, layout: RunLayout, comparison: PinComparison, done: bool) -> None:
    """Say what --force-config deletes and reruns (or, in a dry run, would)."""
    for dataset, first in comparison.rerun.items():
        verb = "deleted the outputs of" if done else "--force-config would delete and rerun"
        steps = ", ".join(steps_from(first))
        console.print(f"{dataset}: {verb} {steps} in {layout.stage_dir}", highlight=False, soft_wrap=True)


def render_submission(console: Console, target: SlurmStage, outcome: SubmitOutcome) -> None:
    table = Table(title=f"stage {target.stage.name}: submission to {target.profile.name}")
    for column in ("dataset", "step", "tasks to run", "job ids", "state"):
        table.add_column(column)
    for step in outcome.steps:
        state = {"queued-already": "already queued: not submitted again"}.get(step.state, step.state)
        if step.state == "error":
            state = f"[red]error[/]: {step.message}"
        elif step.state == "held":
            state = f"[yellow]held[/]: {step.message}"
        table.add_row(step.dataset, step.step, str(step.ranks), ",".join(step.job_ids) or "-", state)
    if outcome.report_job:
        table.add_row("(stage)", "report", "1", outcome.report_job, "submitted (submitit, afterany)")
    console.print(table)
    if outcome.report_error:
        console.print(
            f"[yellow]warning:[/] the stage report job was not submitted ({outcome.report_error}); "
            "run `python launch.py report` when the stage is done",
            highlight=False,
        )


def render_summary(console: Console, rows: Iterable[DatasetSummary]) -> None:
    """The documents-per-dataset table, then one warning line per skipped input file."""
    rows = list(rows)
    table = Table(title="documents per dataset")
    table.add_column("dataset")
    for column in (
        "in",
        "corrupt lines skipped",
        "input files skipped",
        "removed by filter",
        "removed as duplicate",
        "out",
    ):
        table.add_column(column, justify="right")
    table.add_column("state")
    for row in rows:
        table.add_row(
            row.dataset,
            _num(row.docs_in),
            _num(row.corrupt_lines),
            _num(len(row.skipped_files)),
            _num(row.removed_filter),
            _num(row.removed_dedup),
            _num(row.docs_out),
            f"[bold red]{escape(row.state)}[/]" if is_damaged(row) else escape(row.state),
        )
    console.print(table)
    for row in rows:
        for skipped in row.skipped_files:
            console.print(
                f"[yellow]warning:[/] {row.dataset}: skipped unreadable input file {escape(skipped.file)} "
                f"({escape(skipped.reason)}); none of its documents are used",
                highlight=False,
                soft_wrap=True,
            )


def is_damaged(row: DatasetSummary) -> bool:
    return str(row.state).startswith("damaged")


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
