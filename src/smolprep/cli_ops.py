"""The operating commands: status, logs, resubmit, cancel, report (parsing is in cli.py).

Each works on a run directory a launch created: on a missing one it says so (exit 2) and writes nothing.
Option values are checked against the plan (datasets, their steps, a step's ranks) and a bad one is
refused with the valid ones listed. A run with no Slurm job in its ledger (a local run) never runs a Slurm
command, so these commands work on a machine without Slurm.
"""

from __future__ import annotations

import argparse
import difflib
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smolprep.cli import filter_resources, launch_locked, load_inputs, make_console
from smolprep.config.profile import ClusterProfile
from smolprep.config.stage import StageConfig
from smolprep.errors import EXIT_FAILED, EXIT_OK, UsageError
from smolprep.plan import StagePlan, StepPlan, plan_stage
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.errors import SbatchError, SlurmQueryError
from smolprep.slurm.waves import driver_active
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from smolprep.state.lock import describe, is_stale, launch_lock, read_holder
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
SHOWN = 5  # failed ranks, errors or steps named in one table cell or sentence
Task = tuple[str, str, int]  # dataset, step, rank


@dataclass(frozen=True)
class Ops:
    """What every operating command works on."""

    args: argparse.Namespace
    console: Console
    stage: StageConfig
    profile: ClusterProfile
    layout: RunLayout
    plan: StagePlan
    slurm: SlurmClient  # called only when the ledger names Slurm jobs


def run(command: str, args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    handler = HANDLERS.get(command)
    if handler is None:
        raise UsageError(f"unknown command {command}; commands: {', '.join(HANDLERS)}")
    stage, profile, layout = load_inputs(args)
    require_run(layout)
    ops = Ops(args, console, stage, profile, layout, plan_stage(stage), slurm)
    try:
        return handler(ops)
    except SlurmQueryError as err:
        return _slurm_failed(f"cannot ask Slurm about the jobs of {layout.stage_dir}: {err}")
    except SbatchError as err:
        return _slurm_failed(str(err))


def require_run(layout: RunLayout) -> None:
    """Refuse (exit 2) a run directory that no launch created."""
    if not layout.run_json.is_file():
        raise UsageError(
            f"no run in {layout.stage_dir}: nothing has run for stage {layout.stage} there (no run.json); "
            "launch it first, or check --output / --cluster"
        )


def _slurm_failed(message: str) -> int:
    make_console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return EXIT_FAILED


def _command_args(args: argparse.Namespace) -> str:
    """The options that name this run, for the commands we suggest."""
    which = f"--stage {args.stage}" if args.stage else f"--config {args.config}"
    return f"{which} --cluster {args.cluster}" + (f" --output {args.output}" if args.output else "")


def _some(items: list[str], limit: int = SHOWN) -> str:
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


# --- status -------------------------------------------------------------------------------------------


def gather_status(layout: RunLayout, plan: StagePlan, slurm: SlurmClient) -> StageStatus:
    """Markers, failure records, the ledger and (only when the ledger names jobs) the Slurm queue."""
    entries = ledger.read(layout.ledger)
    queue = slurm.queue({e.job_id for e in entries}) if entries else []
    keys = [(s.dataset, s.step) for s in plan.steps]
    completed = {(s.dataset, s.step): layout.done_ranks(s.dataset, s.step, s.tasks) for s in plan.steps}
    failures = {key: layout.failure_records(*key) for key in keys}
    driver = driver_active(layout, slurm) is not None
    return stage_status(plan, completed, entries, queue, driver, failures)


def _failure_causes(
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


def _status(ops: Ops) -> int:
    status = gather_status(ops.layout, ops.plan, ops.slurm)
    causes = _failure_causes(ops.layout, status, ops.slurm)
    if ops.args.json:
        data = status.as_json()
        for (dataset, step), found in causes.items():
            data["datasets"][dataset][step]["causes"] = found
        print(json.dumps(data, indent=2))
        return EXIT_OK
    ops.console.print(_status_table(ops, status, causes))
    ops.console.print(_verdict(ops, status), highlight=False, soft_wrap=True)
    return EXIT_OK


def _status_table(ops: Ops, status: StageStatus, causes: Mapping[tuple[str, str], list[str]]) -> Table:
    table = Table(title=escape(f"stage {ops.plan.stage}: {ops.layout.stage_dir}"))
    counts = ("tasks", "done", "running", "pending", "failed", "not submitted")
    for column in ("dataset", "step", *counts, "state", "jobs / reasons / errors"):
        table.add_column(column, justify="right" if column in counts else "left")
    for s in status.steps:
        numbers = (s.tasks, s.completed, s.running, s.pending, s.failed, s.not_submitted)
        state = f"[{STATE_STYLE.get(s.state, '')}]{s.state}[/]"
        table.add_row(s.dataset, s.step, *map(str, numbers), state, escape(_notes(s, causes)) or "-")
    return table


def _notes(s: StepStatus, causes: Mapping[tuple[str, str], list[str]]) -> str:
    """Job ids, pending reasons, sacct causes, failed ranks and their errors, in one cell."""
    notes = [",".join(s.job_ids[-3:]) + (" …" if len(s.job_ids) > 3 else "")]
    notes += s.reasons + causes.get((s.dataset, s.step), [])
    if s.failed_ranks:
        notes.append("failed ranks " + _some([str(r) for r in s.failed_ranks], 10))
    errors = [f"rank {rank}: {line}" for rank, line in s.errors.items()]
    if errors:
        notes.append("; ".join(errors[:3]) + (f"; {len(errors) - 3} more errors" if len(errors) > 3 else ""))
    return "; ".join(n for n in notes if n)


def _verdict(ops: Ops, status: StageStatus) -> str:
    """One sentence: done, or not done and what to do next."""
    head = f"stage {ops.plan.stage}:"
    if status.done:
        return f"{head} [green]done[/]: every task of every step completed."
    options = escape(_command_args(ops.args))
    failed = [f"{s.dataset}/{s.step}" for s in status.steps if s.state == "failed"]
    launcher = escape(_launcher(ops.layout) or "")
    if failed:
        busy = f" {launcher} is at work on the stage now: run status again when it ends." if launcher else ""
        return (
            f"{head} [yellow]not done[/]. Failed steps: {_some(failed)}. "
            f"`python launch.py logs {options}` shows why, `python launch.py resubmit {options}` re-runs them."
            + busy
        )
    active = [s for s in status.steps if s.state in ("running", "pending", "waiting")]
    if active or launcher:
        what = f"{len(active)} step(s) running or queued" if active else f"{launcher} is running it"
        return f"{head} [yellow]not done[/]: {what}; wait, then run status again."
    left = sum(s.state == "not-submitted" for s in status.steps)
    return (
        f"{head} [yellow]not done[/]: {left} step(s) not started and nothing running; "
        f"launch it (a relaunch continues where it stopped): python launch.py {options}"
    )


def _launcher(layout: RunLayout) -> str | None:
    """Who holds the stage's lock now (a launch, resubmit or cancel at work), if anyone."""
    if not layout.lock.is_file():
        return None
    holder = read_holder(layout.lock)
    return None if is_stale(holder, layout.lock) else describe(holder)


# --- logs ---------------------------------------------------------------------------------------------


def _logs(ops: Ops) -> int:
    args = ops.args
    if args.lines < 1:
        raise UsageError(f"--lines {args.lines}: give a positive number of lines (default 20)")
    entries = ledger.read(ops.layout.ledger)
    if args.dataset is not None or args.step is not None or args.rank is not None:
        wanted = _chosen_tasks(ops, entries)
        if not wanted:
            ops.console.print("No task of that choice has run yet (no marker, log, record or submission).")
            return EXIT_OK
    else:
        status = gather_status(ops.layout, ops.plan, ops.slurm)
        wanted = [(s.dataset, s.step, r) for s in status.steps for r in s.failed_ranks]
        if not wanted:
            ops.console.print("No failed task. Choose tasks with --dataset, --step and --rank.")
            return EXIT_OK
    for dataset, step in dict.fromkeys((d, s) for d, s, _ in wanted):
        records = ops.layout.failure_records(dataset, step)
        completed = ops.layout.completed_ranks(dataset, step)
        for rank in (r for d, s, r in wanted if (d, s) == (dataset, step)):
            record = None if rank in completed else records.get(rank)
            _show_task(ops, entries, (dataset, step, rank), record)
    return EXIT_OK


def _chosen_tasks(ops: Ops, entries: list[ledger.LedgerEntry]) -> list[Task]:
    """The tasks --dataset/--step/--rank choose: a given rank, else every rank that left a trace."""
    wanted: list[Task] = []
    rank = ops.args.rank
    for s in chosen_steps(ops.plan, ops.args.dataset, ops.args.step, rank):
        ranks = {rank} if rank is not None else _traced_ranks(ops.layout, s, entries)
        wanted += [(s.dataset, s.step, r) for r in sorted(ranks) if 0 <= r < s.tasks]
    return wanted


def chosen_steps(plan: StagePlan, dataset: str | None, step: str | None, rank: int | None) -> list[StepPlan]:
    """The plan's steps that --dataset and --step choose; a value the plan lacks is a UsageError that
    lists the valid ones, as is a rank outside every chosen step's 0..tasks-1."""
    if dataset is not None and dataset not in plan.datasets():
        raise UsageError(_unknown("--dataset", dataset, plan.datasets(), f"datasets of stage {plan.stage}"))
    steps = plan.for_dataset(dataset) if dataset is not None else list(plan.steps)
    names = list(dict.fromkeys(s.step for s in steps))
    if step is not None and step not in names:
        owner = f"dataset {dataset}" if dataset is not None else f"stage {plan.stage}"
        raise UsageError(_unknown("--step", step, names, f"steps of {owner}"))
    steps = [s for s in steps if step in (None, s.step)]
    if rank is not None and not any(0 <= rank < s.tasks for s in steps):
        raise UsageError(f"--rank {rank}: no such task; ranks: {_rank_ranges(steps)}")
    return steps


def _unknown(option: str, value: str, valid: list[str], what: str) -> str:
    close = difflib.get_close_matches(value, valid, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{option} {value!r}: no such value{hint}; {what}: {', '.join(valid)}"


def _rank_ranges(steps: list[StepPlan]) -> str:
    """'0..3 (en/filter, en/minhash-signatures); 0..0 (en/minhash-cluster)'."""
    by_tasks: dict[int, list[str]] = {}
    for s in steps:
        by_tasks.setdefault(s.tasks, []).append(s.key)
    return "; ".join(f"0..{tasks - 1} ({_some(keys, 3)})" for tasks, keys in by_tasks.items())


def _traced_ranks(layout: RunLayout, step: StepPlan, entries: list[ledger.LedgerEntry]) -> set[int]:
    """Ranks of a step that were submitted, completed, recorded a failure or wrote a task log."""
    key = (step.dataset, step.step)
    ranks = {r for e in entries if (e.dataset, e.step) == key for r in e.ranks}
    ranks |= layout.completed_ranks(*key) | set(layout.failure_records(*key))
    logs = layout.task_logs(*key)
    names = (p.name for p in logs.glob("task_*.log")) if logs.is_dir() else iter(())
    return ranks | {int(n[5:-4]) for n in names if n[5:-4].isdigit()}


def _show_task(ops: Ops, entries: list[ledger.LedgerEntry], task: Task, record: Mapping | None) -> None:
    """A task's failure (when it recorded one), then the tail of its task log and of its Slurm logs."""
    dataset, step, rank = task
    console = ops.console
    console.rule(f"{dataset} / {step} / rank {rank}")
    task_log = ops.layout.task_log(dataset, step, rank)
    if record is not None:
        error = escape(str(record.get("error")))
        console.print(f"[bold red]failed{_when(record)}[/]: {error}", highlight=False, soft_wrap=True)
        task_log = Path(record["log"]) if isinstance(record.get("log"), str) else task_log
    files = [("datatrove task log", task_log)]
    for e in entries:
        if (e.dataset, e.step) == (dataset, step) and rank in e.ranks:
            index = e.index_of_rank(rank)
            label = f"Slurm log (job {e.job_id}_{index})"
            files.append((label, ops.layout.slurm_log(dataset, step, e.job_id, index)))
    for label, path in files:
        _show_file(console, label, path, ops.args.lines)


def _when(record: Mapping) -> str:
    stamp = record.get("time")
    if isinstance(stamp, int | float):
        return " at " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))
    return f" at {stamp}" if stamp else ""


def _show_file(console: Console, label: str, path: Path, lines: int) -> None:
    if not path.is_file():
        note = "[dim](not written: the task never started there)[/]"
        console.print(f"[bold]{label}[/]: {escape(str(path))} {note}", highlight=False)
        return
    console.print(f"[bold]{label}[/]: {escape(str(path))}", highlight=False)
    console.print(_tail(path, lines), markup=False, highlight=False, end="")


def _tail(path: Path, lines: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return "".join(deque(f, maxlen=lines))


# --- cancel, resubmit, report -------------------------------------------------------------------------


def _cancel(ops: Ops) -> int:
    layout, console = ops.layout, ops.console
    if not ledger.read(layout.ledger):
        launcher = _launcher(layout)
        now = f" {launcher} runs it now: stop it with Ctrl-C in its terminal." if launcher else ""
        console.print(
            f"No Slurm job was submitted for {layout.stage_dir}: nothing to cancel.{now}", markup=False
        )
        return EXIT_OK
    with launch_lock(
        layout.lock, "cancel", ops.args.lock_wait, lambda h: console.print(f"waiting for {h}", markup=False)
    ):
        entries = ledger.read(layout.ledger)
        active = sorted({q.array_job_id for q in ops.slurm.queue({e.job_id for e in entries})}, key=int)
        if not active:
            console.print(f"No job of {layout.stage_dir} is queued or running.", markup=False)
            return EXIT_OK
        ops.slurm.scancel(active)
        console.print(
            f"Cancelled {len(active)} job(s) of {layout.stage_dir}: {', '.join(active)}", markup=False
        )
    return EXIT_OK


def _resubmit(ops: Ops) -> int:
    resources = filter_resources(ops.stage, ops.profile)
    return launch_locked(
        ops.args, ops.stage, ops.profile, ops.layout, ops.plan, resources, ops.console, ops.slurm
    )


def _report(ops: Ops) -> int:
    from smolprep.report.command import run_report

    return run_report(ops.args, ops.console, ops.stage, ops.layout, ops.plan)


HANDLERS: dict[str, Callable[[Ops], int]] = {
    "status": _status,
    "logs": _logs,
    "resubmit": _resubmit,
    "cancel": _cancel,
    "report": _report,
}
