"""Submitting a stage in waves when it does not fit the queue at once.

Only part of the DAG is queued at a time: the driver loop submits the next steps of each dataset as the
stage's array tasks leave the queue, never holding more than `max_queued_tasks` of them. The gating of
dependencies is kept: a step's arrays are submitted only after every array of the step before was
submitted, with `afterok` on those still queued; one that already left the queue must have completed
every task (markers), otherwise the dataset is stopped there (its step failed) and the others go on.

The loop runs in the launcher (`--wait`) or, when the launcher should not stay alive, in a small driver
job submitted with submitit. `<stage>/driver.json` says which, so that `status` shows the steps waiting
for their wave and a second launcher does not submit them.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from smolprep.pipelines.resources import FilterResources
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.errors import SbatchBusy, SbatchError, SlurmQueryError
from smolprep.slurm.plan import StepSubmission
from smolprep.slurm.query import QueueEntry
from smolprep.slurm.submit import (
    SlurmStage,
    SubmitOutcome,
    SubmittedStep,
    submit_chunk,
    write_executor,
)
from smolprep.state import ledger
from smolprep.state.atomic import write_json_atomic
from smolprep.state.layout import RunLayout
from smolprep.state.lock import pid_alive
from smolprep.state.status import queued_indices


def queued_tasks(entries: list[QueueEntry]) -> int:
    """Array tasks in these queue entries (a pending range counts each of its tasks)."""
    return sum(max(1, len(queued_indices(q))) for q in entries)


def driver_active(layout: RunLayout, slurm: SlurmClient) -> dict | None:
    """The running wave driver of this stage, if any."""
    path = layout.driver_file
    if not path.is_file():
        return None
    try:
        driver = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if driver.get("job_id"):
        try:
            return driver if slurm.queue({str(driver["job_id"])}) else None
        except SlurmQueryError:
            return driver
    alive = driver.get("host") == socket.gethostname() and pid_alive(int(driver.get("pid", 0)))
    return driver if alive else None


@dataclass
class _Dataset:
    steps: list[StepSubmission]
    next_step: int = 0
    next_chunk: int = 0
    previous: list[str] = field(default_factory=list)  # job ids of the last fully submitted step
    current: list[str] = field(default_factory=list)  # job ids of the step being submitted
    blocked: str = ""

    @property
    def finished(self) -> bool:
        return bool(self.blocked) or self.next_step >= len(self.steps)


class NoQueueLimit(ValueError):
    """Waves were asked for a stage that was not fitted to the cluster's limits."""


def run_waves(
    target: SlurmStage,
    resources: FilterResources,
    slurm: SlurmClient,
    on_submit: Callable[[SubmittedStep], None] = lambda s: None,
    poll: float = 3.0,
    reserve: int = 0,
) -> SubmitOutcome:
    """Submit the whole stage without ever exceeding the queue limit; returns when all is submitted."""
    if target.fit is None:
        raise NoQueueLimit(
            f"stage {target.stage.name}: waves need the cluster's queue limit; build the SlurmStage "
            "with a fit (smolprep.slurm.limits.fit_plan)"
        )
    limit = target.fit.limits.max_queued_tasks - reserve
    layout = target.layout
    datasets: dict[str, _Dataset] = {}
    for sub in target.submissions():
        datasets.setdefault(sub.step.dataset, _Dataset([])).steps.append(sub)
    outcome = SubmitOutcome()
    while True:
        queue = slurm.queue({e.job_id for e in ledger.read(layout.ledger)})
        capacity = limit - queued_tasks(queue)
        active = {q.array_job_id for q in queue}
        for ds in datasets.values():
            capacity = _advance(target, resources, slurm, ds, capacity, active, outcome, on_submit)
        if all(ds.finished for ds in datasets.values()):
            break
        time.sleep(poll)
    for ds in datasets.values():
        outcome.last_jobs += ds.previous
    return outcome


def _advance(
    target: SlurmStage,
    resources: FilterResources,
    slurm: SlurmClient,
    ds: _Dataset,
    capacity: int,
    active: set[str],
    outcome: SubmitOutcome,
    on_submit: Callable[[SubmittedStep], None],
) -> int:
    while not ds.finished:
        sub = ds.steps[ds.next_step]
        if sub.complete:
            outcome.steps.append(SubmittedStep(sub.step.dataset, sub.step.step, [], "complete"))
            ds.next_step, ds.previous = ds.next_step + 1, []
            continue
        if ds.next_chunk == 0:
            entries = ledger.read(target.layout.ledger)
            queued = [j for j in ledger.jobs_of(entries, sub.step.dataset, sub.step.step) if j in active]
            if queued:  # submitted by an earlier launcher or driver: never submitted twice
                outcome.steps.append(
                    SubmittedStep(sub.step.dataset, sub.step.step, queued, "queued-already", len(sub.ranks))
                )
                ds.next_step, ds.previous = ds.next_step + 1, queued
                continue
        if ds.next_chunk == 0:
            # the step before must be all submitted (it is) and, where it left the queue, complete
            gone = {j for j in ds.previous if j not in active}
            if (
                gone
                and sub.step.after
                and not _chunks_complete(target, sub.step.dataset, sub.step.after, gone)
            ):
                ds.blocked = f"{sub.step.after} did not complete"  # the retry policy may run it again
                outcome.steps.append(
                    SubmittedStep(sub.step.dataset, sub.step.step, [], "held", 0, ds.blocked)
                )
                return capacity
        chunk = sub.chunks[ds.next_chunk]
        if chunk.size > capacity:
            return capacity
        try:
            if ds.next_chunk == 0:
                write_executor(target, sub, resources)
            job_id = submit_chunk(target, sub, chunk, [j for j in ds.previous if j in active], slurm)
        except SbatchBusy:
            return 0  # the controller is at a job limit: the next round tries again
        except (SbatchError, OSError) as err:
            ds.blocked = str(err)
            outcome.steps.append(
                SubmittedStep(sub.step.dataset, sub.step.step, ds.current, "error", 0, str(err))
            )
            return capacity
        active.add(job_id)
        capacity -= chunk.size
        ds.current.append(job_id)
        ds.next_chunk += 1
        if ds.next_chunk == len(sub.chunks):
            done = SubmittedStep(sub.step.dataset, sub.step.step, ds.current, "submitted", len(sub.ranks))
            outcome.steps.append(done)
            on_submit(done)
            ds.previous, ds.current = ds.current, []
            ds.next_step, ds.next_chunk = ds.next_step + 1, 0
    return capacity


def _chunks_complete(target: SlurmStage, dataset: str, step: str, job_ids: set[str]) -> bool:
    """Every rank run by these (finished) arrays of the step has its completion marker; arrays still in
    the queue are covered by the `afterok` dependency instead."""
    ranks = {r for e in ledger.read(target.layout.ledger) if e.job_id in job_ids for r in e.ranks}
    return ranks <= target.layout.completed_ranks(dataset, step)


def register_driver(layout: RunLayout, job_id: str | None = None) -> None:
    write_json_atomic(
        layout.driver_file,
        {"host": socket.gethostname(), "pid": os.getpid(), "job_id": job_id, "time": time.time()},
    )
