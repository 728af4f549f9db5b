"""`python launch.py logs`: the paths and last lines of the task logs and Slurm logs of the failed tasks
(or of the tasks --dataset, --step and --rank choose), each after the error its task recorded."""

from __future__ import annotations

import argparse
import difflib
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from smolprep.commands.base import Command
from smolprep.commands.common import Ops, on_a_run, run_options, some
from smolprep.errors import EXIT_OK, UsageError
from smolprep.plan import StagePlan, StepPlan
from smolprep.slurm.exit_record import Cause
from smolprep.slurm.observe import failure_causes, gather_status
from smolprep.state import ledger
from smolprep.state.layout import RunLayout

Task = tuple[str, str, int]  # dataset, step, rank


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument("--dataset", help="only this dataset")
    parser.add_argument("--step", help="only this step")
    parser.add_argument("--rank", type=int, help="only this task")
    parser.add_argument("--lines", type=int, default=20, metavar="N", help="last N lines of each log (20)")


def logs(ops: Ops) -> int:
    args = ops.args
    if args.lines < 1:
        raise UsageError(f"--lines {args.lines}: give a positive number of lines (default 20)")
    entries = ledger.read(ops.layout.ledger)
    if args.dataset is not None or args.step is not None or args.rank is not None:
        wanted = _chosen_tasks(ops, entries)
        if not wanted:
            ops.console.print("No task of that choice has run yet (no marker, log, record or submission).")
            return EXIT_OK
    found = gather_status(ops.layout, ops.plan, ops.slurm)
    if args.dataset is None and args.step is None and args.rank is None:
        wanted = [(s.dataset, s.step, r) for s in found.steps for r in s.failed_ranks]
        if not wanted:
            ops.console.print("No failed task. Choose tasks with --dataset, --step and --rank.")
            return EXIT_OK
    causes = failure_causes(ops.layout, found, ops.slurm)
    for dataset, step in dict.fromkeys((d, s) for d, s, _ in wanted):
        records = ops.layout.failure_records(dataset, step)
        completed = ops.layout.completed_ranks(dataset, step)
        for rank in (r for d, s, r in wanted if (d, s) == (dataset, step)):
            record = None if rank in completed else records.get(rank)
            cause = causes.get((dataset, step), {}).get(rank)
            _show_task(ops, entries, (dataset, step, rank), record, cause)
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
    return "; ".join(f"0..{tasks - 1} ({some(keys, 3)})" for tasks, keys in by_tasks.items())


def _traced_ranks(layout: RunLayout, step: StepPlan, entries: list[ledger.LedgerEntry]) -> set[int]:
    """Ranks of a step that were submitted, completed, recorded a failure or wrote a task log."""
    key = (step.dataset, step.step)
    ranks = {r for e in entries if (e.dataset, e.step) == key for r in e.ranks}
    ranks |= layout.completed_ranks(*key) | set(layout.failure_records(*key))
    task_logs = layout.task_logs(*key)
    names = (p.name for p in task_logs.glob("task_*.log")) if task_logs.is_dir() else iter(())
    return ranks | {int(n[5:-4]) for n in names if n[5:-4].isdigit()}


def _show_task(
    ops: Ops, entries: list[ledger.LedgerEntry], task: Task, record: Mapping | None, cause: Cause | None
) -> None:
    """A task's cause of failure and its error (when it recorded one), then the tail of its task log and of
    its Slurm logs."""
    dataset, step, rank = task
    console = ops.console
    console.rule(f"{dataset} / {step} / rank {rank}")
    task_log = ops.layout.task_log(dataset, step, rank)
    if cause is not None and record is None:
        source = f" [dim](from {escape(cause.source)})[/]" if cause.source else ""
        console.print(f"[bold red]failed[/]: {escape(cause.text())}{source}", highlight=False, soft_wrap=True)
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


COMMAND = Command(
    "logs",
    "paths and last lines of the task logs and Slurm logs of failed tasks (or of chosen ones)",
    add_arguments,
    on_a_run(logs),
)
