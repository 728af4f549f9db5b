"""`python launch.py status`: dataset x step, tasks done, running, pending, failed and not submitted, the
causes Slurm's accounting gives, and one sentence on what to do next (exit 0 whatever the state).

`--json` prints one object (see docs/operations.md)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from rich.markup import escape
from rich.table import Table

from smolprep.commands.base import Command
from smolprep.commands.common import Ops, launcher_at_work, on_a_run, run_args, run_options, some
from smolprep.errors import EXIT_OK
from smolprep.plan import StagePlan
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.waves import driver_active
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from smolprep.state.status import StageStatus, StepStatus, stage_status

STATE_STYLE = {
    "done": "green",
    "running": "cyan",
    "pending": "yellow",
    "failed": "bold red",
    "waiting": "yellow",
    "not-submitted": "dim",
}
FAILURE_STATES = {
    "OUT_OF_MEMORY",
    "TIMEOUT",
    "NODE_FAIL",
    "PREEMPTED",
    "FAILED",
    "CANCELLED",
    "BOOT_FAIL",
    "DEADLINE",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object (see docs/operations.md)")


def gather_status(layout: RunLayout, plan: StagePlan, slurm: SlurmClient) -> StageStatus:
    """Markers, failure records, the ledger and (only when the ledger names jobs) the Slurm queue."""
    entries = ledger.read(layout.ledger)
    queue = slurm.queue({e.job_id for e in entries}) if entries else []
    keys = [(s.dataset, s.step) for s in plan.steps]
    completed = {(s.dataset, s.step): layout.done_ranks(s.dataset, s.step, s.tasks) for s in plan.steps}
    failures = {key: layout.failure_records(*key) for key in keys}
    driver = driver_active(layout, slurm) is not None
    return stage_status(plan, completed, entries, queue, driver, failures)


def failure_causes(
    layout: RunLayout, status: StageStatus, slurm: SlurmClient
) -> dict[tuple[str, str], list[str]]:
    """(dataset, step) -> causes from sacct (OUT_OF_MEMORY, TIMEOUT, NODE_FAIL, ...), where accounting exists."""
    entries = ledger.read(layout.ledger)
    failed = {(s.dataset, s.step): set(s.failed_ranks) for s in status.steps if s.failed}
    if not entries or not failed:
        return {}
    states = slurm.accounting({e.job_id for e in entries if (e.dataset, e.step) in failed})
    if not states:
        return {}
    causes: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        for position, rank in enumerate(e.ranks):
            state = states.get(f"{e.job_id}_{position // e.tasks_per_job}")
            key = (e.dataset, e.step)
            if state in FAILURE_STATES and rank in failed.get(key, set()):
                found = causes.setdefault(key, [])
                if state not in found:
                    found.append(state)
    return causes


def status(ops: Ops) -> int:
    found = gather_status(ops.layout, ops.plan, ops.slurm)
    causes = failure_causes(ops.layout, found, ops.slurm)
    if ops.args.json:
        data = found.as_json()
        for (dataset, step), listed in causes.items():
            data["datasets"][dataset][step]["causes"] = listed
        print(json.dumps(data, indent=2))
        return EXIT_OK
    ops.console.print(_status_table(ops, found, causes))
    ops.console.print(_verdict(ops, found), highlight=False, soft_wrap=True)
    return EXIT_OK


def _status_table(ops: Ops, found: StageStatus, causes: Mapping[tuple[str, str], list[str]]) -> Table:
    table = Table(title=escape(f"stage {ops.plan.stage}: {ops.layout.stage_dir}"))
    counts = ("tasks", "done", "running", "pending", "failed", "not submitted")
    for column in ("dataset", "step", *counts, "state", "jobs / reasons / errors"):
        table.add_column(column, justify="right" if column in counts else "left")
    for s in found.steps:
        numbers = (s.tasks, s.completed, s.running, s.pending, s.failed, s.not_submitted)
        state = f"[{STATE_STYLE.get(s.state, '')}]{s.state}[/]"
        table.add_row(s.dataset, s.step, *map(str, numbers), state, escape(_notes(s, causes)) or "-")
    return table


def _notes(s: StepStatus, causes: Mapping[tuple[str, str], list[str]]) -> str:
    """Job ids, pending reasons, sacct causes, failed ranks and their errors, in one cell."""
    notes = [",".join(s.job_ids[-3:]) + (" …" if len(s.job_ids) > 3 else "")]
    notes += s.reasons + causes.get((s.dataset, s.step), [])
    if s.failed_ranks:
        notes.append("failed ranks " + some([str(r) for r in s.failed_ranks], 10))
    errors = [f"rank {rank}: {line}" for rank, line in s.errors.items()]
    if errors:
        notes.append("; ".join(errors[:3]) + (f"; {len(errors) - 3} more errors" if len(errors) > 3 else ""))
    return "; ".join(n for n in notes if n)


def _verdict(ops: Ops, found: StageStatus) -> str:
    """One sentence: done, or not done and what to do next."""
    head = f"stage {ops.plan.stage}:"
    if found.done:
        return f"{head} [green]done[/]: every task of every step completed."
    options = escape(run_args(ops.args))
    failed = [f"{s.dataset}/{s.step}" for s in found.steps if s.state == "failed"]
    launcher = escape(launcher_at_work(ops.layout) or "")
    if failed:
        busy = f" {launcher} is at work on the stage now: run status again when it ends." if launcher else ""
        return (
            f"{head} [yellow]not done[/]. Failed steps: {some(failed)}. "
            f"`python launch.py logs {options}` shows why, `python launch.py resubmit {options}` re-runs them."
            + busy
        )
    active = [s for s in found.steps if s.state in ("running", "pending", "waiting")]
    if active or launcher:
        what = f"{len(active)} step(s) running or queued" if active else f"{launcher} is running it"
        return f"{head} [yellow]not done[/]: {what}; wait, then run status again."
    left = sum(s.state == "not-submitted" for s in found.steps)
    return (
        f"{head} [yellow]not done[/]: {left} step(s) not started and nothing running; "
        f"launch it (a relaunch continues where it stopped): python launch.py {options}"
    )


COMMAND = Command(
    "status",
    "dataset x step: tasks done, running, pending, failed, not submitted (exit 0 whatever the state)",
    add_arguments,
    on_a_run(status),
)
