"""The operating commands: status, logs, resubmit, cancel (parsing is in cli.py)."""

from __future__ import annotations

import argparse
import json
from collections import deque
from pathlib import Path

from rich.console import Console
from rich.table import Table

from smolprep.cli import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    _filter_resources,
    _launch_locked,
    load_inputs,
)
from smolprep.config.profile import ClusterProfile
from smolprep.plan import StagePlan, plan_stage
from smolprep.slurm import query
from smolprep.slurm.submit import scancel
from smolprep.slurm.waves import driver_active
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from smolprep.state.lock import launch_lock
from smolprep.state.status import StageStatus, stage_status

STATE_STYLE = {
    "done": "green",
    "running": "cyan",
    "pending": "yellow",
    "failed": "bold red",
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


def run(command: str, args: argparse.Namespace, console: Console) -> int:
    stage, profile, layout = load_inputs(args)
    plan = plan_stage(stage)
    if command == "status":
        return _status(args, console, layout, plan, profile)
    if command == "logs":
        return _logs(args, console, layout, plan, profile)
    if command == "cancel":
        with launch_lock(layout.lock, "cancel", args.lock_wait, lambda h: console.print(f"waiting for {h}")):
            return _cancel(console, layout)
    if command == "report":
        from smolprep.report.command import run_report

        return run_report(args, console, stage, layout, plan)
    if command == "resubmit":
        if not layout.run_json.is_file():
            raise UsageError(
                f"nothing was launched in {layout.stage_dir} (no run.json): use launch, not resubmit"
            )
        return _launch_locked(args, stage, profile, layout, plan, _filter_resources(stage, profile), console)
    raise UsageError(f"unknown command {command}")


def gather_status(layout: RunLayout, plan: StagePlan, profile: ClusterProfile) -> StageStatus:
    entries = ledger.read(layout.ledger)
    queue = query.queue({e.job_id for e in entries}) if entries else []
    completed = {(s.dataset, s.step): layout.completed_ranks(s.dataset, s.step) for s in plan.steps}
    return stage_status(plan, completed, entries, queue, driver_active(layout) is not None)


def _failure_causes(layout: RunLayout, status: StageStatus) -> dict[tuple[str, str], list[str]]:
    """(dataset, step) -> causes from sacct (OUT_OF_MEMORY, TIMEOUT, NODE_FAIL, ...), where accounting exists."""
    entries = ledger.read(layout.ledger)
    failed = [s for s in status.steps if s.failed]
    if not failed:
        return {}
    states = query.accounting(
        {e.job_id for e in entries if (e.dataset, e.step) in {(s.dataset, s.step) for s in failed}}
    )
    if not states:
        return {}
    causes: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        for position, rank in enumerate(e.ranks):
            state = states.get(f"{e.job_id}_{position // e.tasks_per_job}")
            key = (e.dataset, e.step)
            if state in FAILURE_STATES and rank in next(
                (s.failed_ranks for s in failed if (s.dataset, s.step) == key), []
            ):
                causes.setdefault(key, [])
                if state not in causes[key]:
                    causes[key].append(state)
    return causes


def _status(args, console: Console, layout: RunLayout, plan: StagePlan, profile: ClusterProfile) -> int:
    try:
        status = gather_status(layout, plan, profile)
    except query.SlurmQueryError as err:
        make_err = Console(stderr=True)
        make_err.print(f"[bold red]error:[/] cannot read the queue: {err}", highlight=False)
        return EXIT_FAILED
    causes = _failure_causes(layout, status)
    if args.json:
        data = status.as_json()
        for (dataset, step), found in causes.items():
            data["datasets"][dataset][step]["causes"] = found
        print(json.dumps(data, indent=2))
        return EXIT_OK
    table = Table(title=f"stage {plan.stage}: {layout.stage_dir}")
    for column in (
        "dataset",
        "step",
        "tasks",
        "done",
        "running",
        "pending",
        "failed",
        "not submitted",
        "state",
        "jobs / reasons",
    ):
        table.add_column(
            column,
            justify="right"
            if column in ("tasks", "done", "running", "pending", "failed", "not submitted")
            else "left",
        )
    for s in status.steps:
        notes = ",".join(s.job_ids[-3:]) + (" …" if len(s.job_ids) > 3 else "")
        extra = s.reasons + causes.get((s.dataset, s.step), [])
        if s.failed_ranks:
            extra.append(
                "failed ranks "
                + ",".join(map(str, s.failed_ranks[:10]))
                + (" …" if len(s.failed_ranks) > 10 else "")
            )
        table.add_row(
            s.dataset,
            s.step,
            str(s.tasks),
            str(s.completed),
            str(s.running),
            str(s.pending),
            str(s.failed),
            str(s.not_submitted),
            f"[{STATE_STYLE[s.state]}]{s.state}[/]",
            " ".join([notes, *extra]).strip() or "-",
        )
    console.print(table)
    verdict = "[green]done[/]" if status.done else "[yellow]not done[/]"
    console.print(
        f"stage {plan.stage}: {verdict}. Failed steps: `python launch.py logs` shows why, "
        "`python launch.py resubmit` re-runs them."
    )
    return EXIT_OK


def _tail(path: Path, lines: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return "".join(deque(f, maxlen=lines))


def _logs(args, console: Console, layout: RunLayout, plan: StagePlan, profile: ClusterProfile) -> int:
    entries = ledger.read(layout.ledger)
    wanted: list[tuple[str, str, int]] = []
    if args.dataset or args.step or args.rank is not None:
        for s in plan.steps:
            if (args.dataset in (None, s.dataset)) and (args.step in (None, s.step)):
                ranks = (
                    [args.rank]
                    if args.rank is not None
                    else sorted(
                        {r for e in entries if (e.dataset, e.step) == (s.dataset, s.step) for r in e.ranks}
                        | layout.completed_ranks(s.dataset, s.step)
                    )
                )
                wanted += [(s.dataset, s.step, r) for r in ranks if r < s.tasks]
    else:
        status = gather_status(layout, plan, profile)
        wanted = [(s.dataset, s.step, r) for s in status.steps for r in s.failed_ranks]
        if not wanted:
            console.print("No failed task. Choose tasks with --dataset, --step and --rank.")
            return EXIT_OK
    for dataset, step, rank in wanted:
        console.rule(f"{dataset} / {step} / rank {rank}")
        task_log = layout.logs(dataset, step) / "logs" / f"task_{rank:05d}.log"
        files = [("datatrove task log", task_log)]
        for e in entries:
            if (e.dataset, e.step) == (dataset, step) and rank in e.ranks:
                index = e.index_of_rank(rank)
                files.append(
                    (
                        f"Slurm log (job {e.job_id}_{index})",
                        layout.logs(dataset, step) / "slurm_logs" / f"{e.job_id}_{index}.out",
                    )
                )
        for label, path in files:
            if path.is_file():
                console.print(f"[bold]{label}[/]: {path}", highlight=False)
                console.print(_tail(path, args.lines), markup=False, highlight=False, end="")
            else:
                console.print(
                    f"[bold]{label}[/]: {path} [dim](not written: the task never started there)[/]",
                    highlight=False,
                )
    return EXIT_OK


def _cancel(console: Console, layout: RunLayout) -> int:
    entries = ledger.read(layout.ledger)
    active = sorted({q.array_job_id for q in query.queue({e.job_id for e in entries})}, key=int)
    if not active:
        console.print(f"No job of {layout.stage_dir} is queued or running.")
        return EXIT_OK
    scancel(active)
    console.print(f"Cancelled {len(active)} job(s) of {layout.stage_dir}: {', '.join(active)}")
    return EXIT_OK
