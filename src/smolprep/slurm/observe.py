"""What a launched stage looks like now: markers, failure and exit records, the ledger and the Slurm queue
assembled into a status (`gather_status`), each failed task's cause (`failure_causes`), and the retry
round the profile's policy makes of them (`retry_round`; all three at once: `observe`). Shared by `status`, `logs`, `resubmit`, `--wait`
and the wave driver."""

from __future__ import annotations

from dataclasses import dataclass

from smolprep.config.profile import ClusterProfile
from smolprep.plan import StagePlan
from smolprep.slurm.causes import FAILURE_STATES, last_task_ids, task_cause
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.exit_record import Cause, read_exit_records, slurm_log_cause
from smolprep.slurm.retry_round import RetryRound, plan_round
from smolprep.slurm.waves import driver_active
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from smolprep.state.status import StageStatus, stage_status


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
) -> dict[tuple[str, str], dict[int, Cause]]:
    """(dataset, step) -> failed rank -> its cause (`smolprep.slurm.causes`): Slurm is asked only about the
    failed tasks' last array tasks, sacct first, the controller for what sacct does not know."""
    failed = {(s.dataset, s.step): set(s.failed_ranks) for s in status.steps if s.failed}
    if not failed:
        return {}
    entries = ledger.read(layout.ledger)
    ids = {key: last_task_ids(entries, *key, ranks) for key, ranks in failed.items()}
    wanted = {i for found in ids.values() for i in found.values()}
    sacct = (slurm.job_records(wanted) if wanted else None) or {}
    unknown = {i for i in wanted if i not in sacct or sacct[i].state.split()[0] not in FAILURE_STATES}
    scontrol = slurm.controller_records(unknown) if unknown else {}
    causes: dict[tuple[str, str], dict[int, Cause]] = {}
    for key, ranks in failed.items():
        records, exits = layout.failure_records(*key), read_exit_records(layout.exits(*key))
        for rank in sorted(ranks):
            task = ids[key].get(rank)
            word = None
            if task is not None and task in unknown and task not in scontrol:
                job, _, index = task.partition("_")
                word = slurm_log_cause(layout.slurm_log(*key, job, int(index)))
            causes.setdefault(key, {})[rank] = task_cause(
                records.get(rank),
                sacct.get(task) if task else None,
                scontrol.get(task) if task else None,
                exits.get(rank),
                word,
            )
    return causes


@dataclass(frozen=True)
class Observed:
    """A stage as it is now: its status, each failed task's cause, the ledger, and the retry round."""

    status: StageStatus
    causes: dict[tuple[str, str], dict[int, Cause]]
    entries: list[ledger.LedgerEntry]
    retries: RetryRound


def observe(
    layout: RunLayout, plan: StagePlan, profile: ClusterProfile, slurm: SlurmClient, logs_command: str
) -> Observed:
    """Status, causes and the retry policy's decisions for the stage's failed tasks, as they are now."""
    status = gather_status(layout, plan, slurm)
    causes = failure_causes(layout, status, slurm)
    entries = ledger.read(layout.ledger)
    exits = {key: read_exit_records(layout.exits(*key)) for key in causes}
    retries = plan_round(plan, profile, status, causes, entries, exits, logs_command)
    return Observed(status, causes, entries, retries)


def retry_round(
    layout: RunLayout, plan: StagePlan, profile: ClusterProfile, slurm: SlurmClient, logs_command: str
) -> RetryRound:
    """The retry policy's decisions for the stage's failed tasks as they are now."""
    return observe(layout, plan, profile, slurm, logs_command).retries
