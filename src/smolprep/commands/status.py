"""`python launch.py status`: dataset x step, tasks done, running, pending, failed and not submitted, each
failed task's cause (`smolprep.slurm.causes`: its failure record, sacct, scontrol, its exit record and Slurm
log), and one sentence on what to do next (exit 0 whatever the state).

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
from smolprep.slurm.efficiency import (
    array_task_ids,
    stage_efficiency_from_exits,
    stage_efficiency_from_sacct,
    suggested_profile_yaml,
    with_exit_memory,
)
from smolprep.slurm.efficiency_render import efficiency_table
from smolprep.slurm.exit_record import Cause
from smolprep.slurm.observe import observe
from smolprep.slurm.retry_round import RetryRound, describe
from smolprep.state import ledger
from smolprep.state.status import StageStatus, StepStatus

STATE_STYLE = {
    "done": "green",
    "running": "cyan",
    "pending": "yellow",
    "failed": "bold red",
    "waiting": "yellow",
    "not-submitted": "dim",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object (see docs/operations.md)")
    parser.add_argument(
        "--efficiency",
        action="store_true",
        help="per step: CPU efficiency, max RSS / memory asked and elapsed / time limit (median and max, from "
        "sacct, else the tasks' exit records), with suggested profile values",
    )


def status(ops: Ops) -> int:
    if ops.args.efficiency:
        return efficiency(ops)
    logs = f"python launch.py logs {run_args(ops.args)}"
    seen = observe(ops.layout, ops.plan, ops.profile, ops.slurm, logs)
    found, causes, entries, retries = seen.status, seen.causes, seen.entries, seen.retries
    if ops.args.json:
        print(json.dumps(_json(found, causes, retries, entries), indent=2))
        return EXIT_OK
    ops.console.print(_status_table(ops, found, causes))
    for line in describe(retries):
        ops.console.print(f"  {escape(line)}", highlight=False, soft_wrap=True)
    ops.console.print(_verdict(ops, found, retries), highlight=False, soft_wrap=True)
    return EXIT_OK


def efficiency(ops: Ops) -> int:
    """`status --efficiency`: resource use per step, from sacct where the cluster has accounting, else
    from the exit records the tasks wrote; `--json` prints the same as a list."""
    entries = ledger.read(ops.layout.ledger)
    ids = [i for found in array_task_ids(entries).values() for i in found]
    records = ops.slurm.job_records(ids) if ids else None
    effs = stage_efficiency_from_exits(ops.layout, ops.plan, ops.profile.resources)
    if records is not None:
        sacct = stage_efficiency_from_sacct(ops.layout, ops.plan, records, ops.profile.resources)
        effs = with_exit_memory(sacct, effs)
    if ops.args.json:
        print(json.dumps([e.as_json() for e in effs], indent=2))
        return EXIT_OK
    if not effs:
        ops.console.print(
            f"stage {ops.plan.stage}: nothing measured yet (no task has ended on Slurm: a local run, or "
            "nothing ran)."
        )
        return EXIT_OK
    ops.console.print(efficiency_table(effs))
    snippet = suggested_profile_yaml(effs)
    if snippet:
        ops.console.print("Suggested profile values (25% memory and 50% time headroom over the largest use):")
        ops.console.print(snippet, markup=False, highlight=False)
    return EXIT_OK


def _json(
    found: StageStatus,
    causes: Mapping[tuple[str, str], Mapping[int, Cause]],
    retries: RetryRound,
    entries: list[ledger.LedgerEntry],
) -> dict:
    """The status object: per step, each failed rank's cause, the retry policy's decision, and the
    attempts (submissions) of the ranks that ran more than once, with the resources each asked for."""
    data = found.as_json()
    decisions = {(t.dataset, t.step, t.rank): t for t in retries.tasks}
    for (dataset, step), found_causes in causes.items():
        step_data = data["datasets"][dataset][step]
        step_data["causes"] = {str(rank): cause.as_json() for rank, cause in found_causes.items()}
        step_data["retry"] = {
            str(t.rank): {"attempts": t.attempt, "retry": t.decision.retry, "reason": t.decision.reason}
            for t in (decisions.get((dataset, step, r)) for r in found_causes)
            if t is not None
        }
    for s in found.steps:
        runs = ledger.attempts_of(entries, s.dataset, s.step)
        data["datasets"][s.dataset][s.step]["attempts"] = {
            str(rank): [
                {"job": f"{e.job_id}_{e.index_of_rank(rank)}", "resources": e.resources} for e in mine
            ]
            for rank, mine in sorted(runs.items())
            if len(mine) > 1 or rank in s.failed_ranks
        }
    return data


def _status_table(
    ops: Ops, found: StageStatus, causes: Mapping[tuple[str, str], Mapping[int, Cause]]
) -> Table:
    table = Table(title=escape(f"stage {ops.plan.stage}: {ops.layout.stage_dir}"))
    counts = ("tasks", "done", "running", "pending", "failed", "not submitted")
    for column in ("dataset", "step", *counts, "state", "jobs / reasons / errors"):
        table.add_column(column, justify="right" if column in counts else "left")
    for s in found.steps:
        numbers = (s.tasks, s.completed, s.running, s.pending, s.failed, s.not_submitted)
        state = f"[{STATE_STYLE.get(s.state, '')}]{s.state}[/]"
        table.add_row(s.dataset, s.step, *map(str, numbers), state, escape(_notes(s, causes)) or "-")
    return table


def _notes(s: StepStatus, causes: Mapping[tuple[str, str], Mapping[int, Cause]]) -> str:
    """Job ids, pending reasons, failed ranks and their causes (grouped), in one cell."""
    notes = [",".join(s.job_ids[-3:]) + (" …" if len(s.job_ids) > 3 else "")]
    notes += s.reasons
    if s.failed_ranks:
        notes.append("failed ranks " + some([str(r) for r in s.failed_ranks], 10))
    grouped: dict[str, list[int]] = {}
    for rank, cause in causes.get((s.dataset, s.step), {}).items():
        grouped.setdefault(cause.text(), []).append(rank)
    shown = [
        f"{text}: rank{'s' if len(ranks) > 1 else ''} {some([str(r) for r in ranks], 5)}"
        for text, ranks in grouped.items()
    ]
    if shown:
        notes.append("; ".join(shown[:3]) + (f"; {len(shown) - 3} more causes" if len(shown) > 3 else ""))
    return "; ".join(n for n in notes if n)


def _verdict(ops: Ops, found: StageStatus, retries: RetryRound) -> str:
    """One sentence: done, or not done and what to do next."""
    head = f"stage {ops.plan.stage}:"
    if found.done:
        return f"{head} [green]done[/]: every task of every step completed."
    options = escape(run_args(ops.args))
    failed = [f"{s.dataset}/{s.step}" for s in found.steps if s.state == "failed"]
    launcher = escape(launcher_at_work(ops.layout) or "")
    if failed:
        busy = f" {launcher} is at work on the stage now: run status again when it ends." if launcher else ""
        retried = len(retries.retried)
        stuck = [t for t in retries.tasks if not t.decision.retry]
        advice = (
            f"`python launch.py logs {options}` shows why, `python launch.py resubmit {options}` re-runs them"
        )
        if retried:
            advice += (
                f" ({retried} task(s) with the retry policy's resources, as `--wait` and the wave driver do)"
            )
        if stuck:
            advice += (
                f"; {len(stuck)} task(s) are not retried by the policy (see above): read their logs "
                "before resubmitting"
            )
        return f"{head} [yellow]not done[/]. Failed steps: {some(failed)}. {advice}." + busy
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
