"""The one launch sequence, shared by `launch.py`, `launch.py resubmit` and the wave driver job.

Checks first (output folder, task bound, the run's pin, the Slurm account/partition/QOS), nothing written
until they pass; then, under the stage's lock, the pin is written and the stage runs: locally with
datatrove's LocalPipelineExecutor, or on Slurm in one go, wave by wave (`--wait`), or through a wave
driver job when the stage does not fit the cluster's job limits. The wave driver job calls this same
function with ``as_driver``: it takes no lock (it runs for the whole stage, and `cancel` must be able to
stop it), it trusts the pin the launcher wrote after checking it again, and it submits the waves itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.profile import ClusterProfile, StepResources, load_profile, time_minutes
from smolprep.config.stage import StageConfig, load_stage_config, task_count_issues
from smolprep.errors import EXIT_FAILED, EXIT_OK, UsageError
from smolprep.filters.lid_model import LidModelNotFoundError
from smolprep.local_run import run_local
from smolprep.pipelines.resources import FilterResources
from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.plan import StagePlan, plan_stage
from smolprep.render import (
    is_damaged,
    make_console,
    render_force_config,
    render_submission,
    render_summary,
)
from smolprep.slurm.client import RealSlurm, SlurmClient, clean_environment, submit_user
from smolprep.slurm.errors import SlurmNotFound, SlurmQueryError
from smolprep.slurm.function_job import FunctionJob, submit_function
from smolprep.slurm.limits import ClusterLimits, Fit, cluster_limits, fit_plan
from smolprep.slurm.monitor import DRIVER_STEP, wait_for_stage
from smolprep.slurm.observe import retry_round
from smolprep.slurm.retry_round import describe
from smolprep.slurm.submit import (
    SlurmStage,
    SubmitOutcome,
    check_submittable,
    submit_report_job,
    submit_stage,
)
from smolprep.slurm.waves import driver_active, register_driver, run_waves
from smolprep.sources.resolve import fetch_issues, resolve_stage
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from smolprep.state.lock import launch_lock
from smolprep.state.run import PinComparison, compare_with_pin, pin_run
from smolprep.summary import stage_summary

PSEUDO_FILE_SYSTEMS = (Path("/proc"), Path("/sys"))
DRIVER_MEM = "2G"


def driver_job(profile: ClusterProfile) -> FunctionJob:
    """The wave driver job: it submits the stage wave by wave, then sees it through its retries, so it lives
    as long as the stage; its time limit is the profile's `driver_time`."""
    return FunctionJob(DRIVER_STEP, minutes=time_minutes(profile.driver_time), mem=DRIVER_MEM)


@dataclass(frozen=True)
class LaunchRequest:
    """A stage to launch (or resubmit) and how."""

    stage: StageConfig
    profile: ClusterProfile
    layout: RunLayout
    plan: StagePlan
    resources: FilterResources
    force: bool = False  # allow steps of more tasks than MAX_TASKS_PER_STEP
    force_config: bool = False  # rerun the steps a changed config affects, instead of refusing
    wait: bool = False  # Slurm: block until the stage finished
    lock_wait: float = 120.0  # seconds to wait for another launcher of the stage
    workers: int | None = None  # local: tasks at once (default: the profile's, else the CPUs)
    overrides: Mapping[str, str] = field(default_factory=dict)  # --partition/--account/--qos given
    command: str = "launch.py"  # who holds the lock, for another launcher's message
    rerun_hint: str = ""  # the options that name this run, for the commands suggested afterwards
    as_driver: bool = False  # the wave driver job, on the cluster
    registry: StepRegistry = REGISTRY  # the steps `plan` was made from
    # (dataset, step) -> resources instead of the profile's: what `resubmit` asks for after the retry policy
    retry_overrides: Mapping[tuple[str, str], StepResources] = field(default_factory=dict)


def filter_resources(stage: StageConfig, profile: ClusterProfile) -> FilterResources:
    """The files the filters load (language-ID model, spam phrase lists), each problem under its own name."""
    try:
        return FilterResources.load(stage, profile.lid_model)
    except LidModelNotFoundError as err:  # an install problem, not the config's: one line with the fix
        raise UsageError(f"no language-ID model: {' '.join(str(err).split())}") from None
    except (OSError, ValueError) as err:
        raise ConfigError(
            [
                ConfigIssue(
                    Path(stage.source_file), "spam_lists", stage.spam_lists, "readable phrase lists", str(err)
                )
            ]
        ) from err


def preflight(request: LaunchRequest) -> PinComparison:
    """The checks that need the plan, before anything is written or queued: the output folder, the task
    bound (unless --force) and the run's pin (unless --force-config)."""
    check_output_root(request.layout)
    too_many = task_count_issues(request.stage, request.plan.task_counts(), request.registry.tasks_from())
    if too_many and not request.force:
        raise ConfigError(too_many)
    comparison = compare_with_pin(request.layout, request.stage, request.plan, request.resources)
    if comparison.issues and not request.force_config:
        raise ConfigError(comparison.issues)
    return comparison


def check_sources(request: LaunchRequest) -> None:
    """A `source:` dataset that is not fetched is refused (exit 2, naming `launch.py fetch`) unless the
    profile says the compute nodes reach the Hub; a dry run shows it instead."""
    if request.profile.compute_nodes_online:
        return
    command = f"python launch.py fetch {request.rerun_hint}".strip()
    issues = fetch_issues(request.stage, request.layout.root, command)
    if issues:
        raise ConfigError(issues)


def check_output_root(layout: RunLayout) -> None:
    """The run directory must be a folder this user can create (or write in); checked on the nearest
    folder that exists, so that a dry run creates nothing."""
    target = layout.stage_dir
    resolved = target.resolve()
    for pseudo in PSEUDO_FILE_SYSTEMS:
        if resolved == pseudo or pseudo in resolved.parents:
            raise UsageError(
                f"output folder {layout.root}: it is under {pseudo}, a kernel file system where no run "
                "directory can live; choose a folder on real storage with --output"
            )
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(
            f"output folder {layout.root}: {existing} is a file, so {target} cannot be a folder; "
            "choose another --output"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"output folder {layout.root}: {existing} is not writable by this user, so {target} cannot be "
            "written; choose a folder you can write to with --output, or get write access to it"
        )


def launch_stage(request: LaunchRequest, console: Console, slurm: SlurmClient) -> int:
    """Launch, resubmit or drive a stage; the exit code. A local profile never calls `slurm`."""
    if request.as_driver:
        try:
            return _drive(request, console, slurm)
        finally:  # a driver that ends, however it ends, no longer submits
            request.layout.driver_file.unlink(missing_ok=True)
    preflight(request)
    check_sources(request)
    target = slurm_target(request, slurm)
    _create_stage_dir(request.layout)
    layout = request.layout
    waiting = lambda holder: console.print(f"Waiting for {holder}")  # noqa: E731
    with launch_lock(layout.lock, request.command, request.lock_wait, waiting):
        if target is not None and request.force_config:
            comparison = compare_with_pin(layout, request.stage, request.plan, request.resources)
            refuse_reset_under_jobs(layout, comparison, slurm)
        comparison = pin_run(
            layout, request.stage, request.plan, request.resources, force_config=request.force_config
        )
        render_force_config(console, layout, comparison, done=True)
        if target is None:
            return _run_local(request, console)
        driver = driver_active(layout, slurm)
        if driver is not None:
            console.print(
                f"A wave driver is submitting this stage ({driver}); it will submit what is missing. "
                "Nothing submitted.",
                highlight=False,
            )
            return EXIT_OK
        if target.fit is not None and not target.fit.fits:
            console.print(f"[bold]cluster limits:[/] {target.fit.explain()}", highlight=False, soft_wrap=True)
            if not request.wait:
                job_id = submit_driver_job(target, dict(request.overrides), request.force, slurm)
                register_driver(layout, job_id)
                console.print(f"Submitted the wave driver job {job_id}: it queues the stage wave by wave.")
                return EXIT_OK
            register_driver(layout)
            try:
                outcome = _submit_waves(target, request.resources, console, slurm)
            finally:
                layout.driver_file.unlink(missing_ok=True)
        else:
            outcome = submit_stage(target, request.resources, slurm)
        render_submission(console, target, outcome)
    return _after_submission(request, target, outcome, console, slurm)


def _drive(request: LaunchRequest, console: Console, slurm: SlurmClient) -> int:
    """The wave driver job's part: the launcher wrote the pin and registered this job; the config file is
    read again here, so it is checked against the pin again (an edit after the launch submits nothing)."""
    preflight(request)
    check_sources(request)
    target = slurm_target(request, slurm)
    if target is None:
        raise UsageError(f"the wave driver is for Slurm profiles; {request.profile.name} is local")
    outcome = _submit_waves(target, request.resources, console, slurm)
    render_submission(console, target, outcome)
    if outcome.errors:
        return EXIT_FAILED
    return EXIT_OK if see_through(request, target, console, slurm) else EXIT_FAILED


def slurm_target(request: LaunchRequest, slurm: SlurmClient) -> SlurmStage | None:
    """The stage as Slurm arrays fitted to the cluster's limits, after Slurm accepted the profile's
    partition, account and QOS; None for a local profile."""
    if request.profile.executor != "slurm":
        return None
    issues = check_submittable(request.profile, slurm)
    if issues:
        raise ConfigError(issues)
    target = SlurmStage(
        request.stage,
        request.plan,
        request.profile,
        request.layout,
        registry=request.registry,
        overrides=request.retry_overrides,
    )
    return dataclasses.replace(target, fit=fit_to_cluster(target, slurm))


def _submit_waves(
    target: SlurmStage, resources: FilterResources, console: Console, slurm: SlurmClient
) -> SubmitOutcome:
    outcome = run_waves(
        target,
        resources,
        slurm,
        lambda s: console.print(f"submitted {s.dataset}/{s.step}: {','.join(s.job_ids)}"),
        reserve=1,  # room for the stage-level report job
    )
    if outcome.submitted_jobs:
        outcome.report_job = submit_report_job(target, outcome.last_jobs, slurm)
    return outcome


def _create_stage_dir(layout: RunLayout) -> None:
    try:
        layout.stage_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"cannot create the run directory {layout.stage_dir}: {err.strerror or err}; "
            "choose another --output"
        ) from None


def refuse_reset_under_jobs(layout: RunLayout, comparison: PinComparison, slurm: SlurmClient) -> None:
    """--force-config deletes outputs: not while jobs of those datasets may still write them."""
    if not comparison.rerun:
        return
    if driver_active(layout, slurm) is not None:
        raise UsageError(
            "--force-config: a wave driver is still submitting this stage; cancel it first "
            "(python launch.py cancel ...), then relaunch"
        )
    jobs = {e.job_id for e in ledger.read(layout.ledger) if e.dataset in comparison.rerun}
    try:
        active = sorted({q.array_job_id for q in slurm.queue(jobs)}) if jobs else []
    except SlurmQueryError as err:
        raise UsageError(f"--force-config: cannot tell whether jobs still run ({err}); retry later") from err
    if active:
        raise UsageError(
            f"--force-config would delete outputs that queued or running jobs still write "
            f"({', '.join(active)}); cancel them first (python launch.py cancel ...), then relaunch"
        )


def read_limits(profile: ClusterProfile, slurm: SlurmClient) -> ClusterLimits:
    """The cluster's job limits: MaxJobCount and MaxArraySize read with scontrol, and the user's association
    and QOS submit limits read with sacctmgr, where Slurm answers; the profile's otherwise."""
    try:
        scontrol: dict[str, str] | None = slurm.config()
    except (SlurmQueryError, SlurmNotFound):
        scontrol = None
    user = submit_user()
    try:
        submit_limits = slurm.submit_limits(user, profile.account, profile.qos) if user and scontrol else None
    except (SlurmQueryError, SlurmNotFound):
        submit_limits = None
    return cluster_limits(profile, scontrol, submit_limits)


def fit_to_cluster(target: SlurmStage, slurm: SlurmClient) -> Fit:
    """How the stage fits the cluster's job limits (`read_limits`)."""
    return fit_plan(target.plan, read_limits(target.profile, slurm), target.profile.max_tasks_per_job)


def _after_submission(
    request: LaunchRequest, target: SlurmStage, outcome: SubmitOutcome, console: Console, slurm: SlurmClient
) -> int:
    if outcome.errors:
        return EXIT_FAILED
    if not outcome.submitted_jobs and all(s.state == "complete" for s in outcome.steps):
        console.print(f"Everything is complete in {target.layout.stage_dir}: nothing to submit.")
        return EXIT_OK
    if not request.wait:
        console.print(f"Watch it with: squeue --me   |   python launch.py status {request.rerun_hint}")
        return EXIT_OK
    complete = see_through(request, target, console, slurm)
    render_summary(console, stage_summary(target.layout, target.plan))
    if not complete:
        hint = request.rerun_hint
        console.print(
            "[bold red]The stage did not complete[/]: some tasks failed. "
            f"`python launch.py status {hint}` shows which, `logs` why, `resubmit` re-runs them.",
            highlight=False,
        )
        return EXIT_FAILED
    return EXIT_OK


def see_through(request: LaunchRequest, target: SlurmStage, console: Console, slurm: SlurmClient) -> bool:
    """Wait until no job of the stage is queued; while its failed tasks have a retry rule and attempts left
    (`smolprep.slurm.retry_round`), submit them again with the rule's resources and wait again. True when
    every task completed. Datasets with a task the policy does not retry are left as they are."""
    logs = f"python launch.py logs {request.rerun_hint}".rstrip()
    while not wait_for_stage(target.layout, target.plan, console, slurm):
        retries = retry_round(target.layout, target.plan, target.profile, slurm, logs)
        for line in describe(retries):
            console.print(f"retry policy: {escape(line)}", highlight=False, soft_wrap=True)
        if not retries.datasets:
            return False
        again = dataclasses.replace(target, overrides=retries.overrides(), only=retries.datasets)
        if again.fit is not None and not again.fit.fits:
            outcome = _submit_waves(again, request.resources, console, slurm)
        else:
            outcome = submit_stage(again, request.resources, slurm)
        render_submission(console, again, outcome)
        if outcome.errors or not outcome.submitted_jobs:
            return False
    return True


def _run_local(request: LaunchRequest, console: Console) -> int:
    stage, layout, plan = request.stage, request.layout, request.plan
    workers = request.workers or request.profile.workers or os.cpu_count() or 1
    outcome = run_local(stage, plan, layout, request.resources, workers, console, request.registry)
    rows = stage_summary(layout, plan)
    damaged = [row for row in rows if is_damaged(row)]
    if not outcome.ran and outcome.ok and not damaged:
        console.print(f"Everything is complete in {layout.stage_dir}: nothing to do.")
    render_summary(console, rows)
    if outcome.ran:
        from smolprep.report import write_report  # the report's plotting code, only when there is news

        try:
            manifest, html = write_report(layout, stage, plan)
            console.print(f"Report: {html}  (manifest: {manifest})")
        except Exception as err:  # the data is there; the report can be redone with `report`
            console.print(
                f"[yellow]warning:[/] no report written ({type(err).__name__}: {err})", highlight=False
            )
    console.print(f"Final data: {layout.data_root}")
    if outcome.console_log:
        console.print(f"Task logs: {layout.logs_root}  (console output: {outcome.console_log})")
    for dataset, error in outcome.failed.items():
        console.print(f"[bold red]failed[/] {dataset}: {escape(error)}", highlight=False, soft_wrap=True)
    for row in damaged:
        console.print(
            f"[bold red]damaged[/] {row.dataset}: {escape(row.state)}", highlight=False, soft_wrap=True
        )
    return EXIT_OK if outcome.ok and not damaged else EXIT_FAILED


# --- the wave driver job -------------------------------------------------------------------------------


class DriverFailed(RuntimeError):
    """Some steps could not be submitted; the job's log has the table (the job ends FAILED)."""


def submit_driver_job(target: SlurmStage, overrides: dict, force: bool, slurm: SlurmClient) -> str:
    """The wave driver (`drive_stage`) as a small submitit job of its own; `overrides` are the command
    line's --partition/--account/--qos, `force` its --force."""
    return submit_function(
        slurm,
        target.profile,
        target.layout,
        driver_job(target.profile),
        drive_stage,
        str(Path(target.stage.source_file).resolve()),
        str(target.layout.root),
        str(Path(target.profile.source_file).resolve()),
        overrides,
        [spec.name for spec in target.stage.datasets],
        force,
    )


def drive_stage(
    config_path: str,
    root: str,
    profile_path: str,
    overrides: dict,
    datasets: list[str],
    force: bool = False,
    slurm: SlurmClient | None = None,
) -> str:
    """The wave driver job, on the node: the launch sequence as the driver (with the node's Slurm commands
    unless a client is given). The config file is read again, so `launch_stage` checks it against the pin."""
    # this job's own SLURM_* variables must not leak into the jobs it submits
    for key in set(os.environ) - set(clean_environment()):
        del os.environ[key]
    stage = resolve_stage(load_stage_config(config_path).select(datasets), Path(root))
    profile = load_profile(profile_path, overrides)
    request = LaunchRequest(
        stage,
        profile,
        RunLayout(Path(root), stage.name),
        plan_stage(stage),
        filter_resources(stage, profile),
        force=force,
        overrides=overrides,
        command="the wave driver job",
        as_driver=True,
    )
    if launch_stage(request, make_console(), slurm or RealSlurm()) != EXIT_OK:
        raise DriverFailed(f"the wave driver could not submit every step of {request.layout.stage_dir}")
    return f"submitted the waves of {request.layout.stage_dir}"
