"""Waiting for a submitted stage: poll squeue (batched, backing off) and the completion markers."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from smolprep.plan import StagePlan
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.errors import SlurmQueryError
from smolprep.state import ledger
from smolprep.state.layout import RunLayout

DRIVER_STEP = "driver"  # the ledger's step of the wave driver job (`FunctionJob.role`)


@dataclass(frozen=True)
class Progression:
    completed: int
    total: int
    queued_jobs: int  # array tasks or jobs of the stage still in the queue
    running: int


def completed_tasks(layout: RunLayout, plan: StagePlan) -> int:
    return sum(len(layout.done_ranks(s.dataset, s.step, s.tasks)) for s in plan.steps)


def stage_complete(layout: RunLayout, plan: StagePlan) -> bool:
    return completed_tasks(layout, plan) == plan.total_tasks


def snapshot(layout: RunLayout, plan: StagePlan, slurm: SlurmClient) -> Progression:
    # the wave driver job is not waited for: it is the one waiting (its report job is)
    job_ids = {e.job_id for e in ledger.read(layout.ledger) if e.step != DRIVER_STEP}
    entries = slurm.queue(job_ids)
    running = sum(1 for e in entries if e.state == "RUNNING")
    return Progression(completed_tasks(layout, plan), plan.total_tasks, len(entries), running)


def wait_for_stage(
    layout: RunLayout,
    plan: StagePlan,
    console: Console,
    slurm: SlurmClient,
    first_poll: float = 1.0,
    max_poll: float = 15.0,
) -> bool:
    """Block until no job of the stage is queued or running; True if every task of every step completed."""
    delay = first_poll
    failures = 0
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tasks  {task.fields[queue]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task(f"{plan.stage}: waiting", total=plan.total_tasks, queue="")
        while True:
            try:
                now = snapshot(layout, plan, slurm)
                failures = 0
            except SlurmQueryError as err:
                failures += 1
                if failures >= 5:
                    raise
                progress.console.print(f"[yellow]squeue failed ({err}); retrying[/]")
                time.sleep(delay)
                continue
            progress.update(
                bar, completed=now.completed, queue=f"({now.running} running, {now.queued_jobs} in queue)"
            )
            if now.queued_jobs == 0:
                break
            time.sleep(delay)
            delay = min(max_poll, delay * 1.5)
    return stage_complete(layout, plan)
