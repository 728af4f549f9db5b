"""Command line: argument parsing and rendering only; the work is done by the modules it calls.

    python launch.py [--stage N | --config PATH] [--cluster NAME] [--output DIR] [--datasets a,b]
                     [--partition P] [--dry-run [--test-only]] [--wait] [--workers N] [--force] [--force-config]
    python launch.py status|logs|resubmit|cancel [--stage N | --config PATH] [--cluster NAME] [--output DIR]

Exit codes: 0 success; 1 a run failed, a run-directory file is damaged or a Slurm command failed; 2 bad usage
or bad config (nothing written or submitted), Slurm profile on a machine without Slurm; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.profile import ClusterProfile, available_profiles, load_profile
from smolprep.config.stage import MAX_TASKS_PER_STEP, StageConfig, load_stage_config, task_count_issues
from smolprep.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError
from smolprep.filters.lid_model import LidModelNotFoundError
from smolprep.local_run import run_local
from smolprep.paths import configs_dir
from smolprep.pipelines.build import FilterResources
from smolprep.pipelines.probe import check_stage
from smolprep.plan import StagePlan, plan_stage
from smolprep.slurm.client import RealSlurm, SlurmClient
from smolprep.slurm.errors import SbatchError, SlurmError, SlurmNotFound, SlurmQueryError
from smolprep.slurm.limits import Fit, cluster_limits, fit_plan
from smolprep.slurm.monitor import wait_for_stage
from smolprep.slurm.submit import (
    SlurmStage,
    SubmitOutcome,
    check_submittable,
    submit_driver_job,
    submit_report_job,
    submit_stage,
)
from smolprep.slurm.waves import driver_active, register_driver, run_waves
from smolprep.state import ledger
from smolprep.state.errors import DamagedRunFile
from smolprep.state.layout import RunLayout
from smolprep.state.lock import LockHeld, launch_lock
from smolprep.state.reset import steps_from
from smolprep.state.run import PinComparison, compare_with_pin, pin_run
from smolprep.summary import stage_summary

PSEUDO_FILE_SYSTEMS = (Path("/proc"), Path("/sys"))

DESCRIPTION = """\
Plan and run a pretraining-mixture stage: per dataset, quality filtering (language ID, Gopher
repetition and quality with per-language thresholds, spam phrases; code gets only cheap sanity
checks) and MinHash near-duplicate removal, with datatrove. Final output:
<output>/<stage>/data/<dataset>/*.jsonl.gz with text, id and metadata (source, config, weight, ...).

examples:
  python launch.py --config configs/sample.yaml --cluster local     # the demo on the shipped sample
  python launch.py --stage 1 --dry-run                              # validate and show the plan
"""


def make_console(stderr: bool = False) -> Console:
    """A console that does not cut table cells when output goes to a file or a pipe (logs, tests)."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 200)


def _common_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--stage", metavar="N", help="stage number: reads configs/stage<N>.yaml")
    which.add_argument(
        "--config",
        metavar="PATH",
        help="a stage config YAML (see docs/config.md), or the name of a shipped one: sample",
    )
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        default="slurm",
        help=f"cluster profile in cluster/ or a YAML path (default: slurm; available: "
        f"{', '.join(_profiles_or_none())})",
    )
    parser.add_argument("--output", metavar="DIR", help="output root (default: the profile's storage_root)")


def _profiles_or_none() -> list[str]:
    try:
        return available_profiles()
    except FileNotFoundError:
        return []


COMMANDS = {
    "status": "dataset x step: tasks done, running, pending, failed, not submitted (exit 0 whatever the state)",
    "logs": "paths and last lines of the task logs and Slurm logs of failed tasks (or of chosen ones)",
    "resubmit": "re-run only the incomplete tasks of failed steps and re-wire their dependents",
    "cancel": "cancel every queued or running job of the stage (from its ledger), nothing else",
    "report": "write <root>/<stage>/manifest.json and report.html and print the funnel per dataset",
}


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _force_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"allow steps of more than {MAX_TASKS_PER_STEP:,} tasks (each task is a process, files, a marker)",
    )
    parser.add_argument(
        "--force-config",
        action="store_true",
        help="the config changed since the run was launched: delete the outputs of every step the change "
        "affects and rerun them (instead of launching into a new --output)",
    )


def _slurm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--partition", metavar="P", help="Slurm partition (overrides the profile)")
    parser.add_argument("--account", metavar="A", help="Slurm account (overrides the profile)")
    parser.add_argument("--qos", metavar="Q", help="Slurm QOS (overrides the profile)")
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="wait this long for another launcher of the same stage to finish (default 120)",
    )


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<9} {text}" for name, text in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="launch.py",
        description=DESCRIPTION + f"\nother commands (python launch.py COMMAND --help):\n{commands}\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(parser)
    parser.add_argument(
        "--datasets", metavar="A,B", help="only these datasets of the stage (comma-separated)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, print the plan and (Slurm) every sbatch script; submit nothing, needs no Slurm",
    )
    parser.add_argument(
        "--test-only",
        action="store_true",
        help="with --dry-run: also pass each sbatch script through `sbatch --test-only` (needs Slurm)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="Slurm: block until the stage finished; exit 0 only if every task of every step completed",
    )
    _slurm_options(parser)
    _force_options(parser)
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="local executor: tasks run at once (default: profile, else CPUs)",
    )
    return parser


def build_command_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"launch.py {command}", description=COMMANDS[command])
    _common_options(parser)
    if command == "status":
        parser.add_argument(
            "--json", action="store_true", help="print one JSON object (see docs/operations.md)"
        )
    if command == "logs":
        parser.add_argument("--dataset", help="only this dataset")
        parser.add_argument("--step", help="only this step")
        parser.add_argument("--rank", type=int, help="only this task")
        parser.add_argument(
            "--lines", type=int, default=20, metavar="N", help="last N lines of each log (20)"
        )
    if command == "resubmit":
        parser.add_argument(
            "--wait", action="store_true", help="block until the stage finished (exit 0 if done)"
        )
        _slurm_options(parser)
        _force_options(parser)
    if command == "report":
        parser.add_argument(
            "--max-epochs",
            type=positive_number,
            metavar="N",
            help="warn about datasets that training would repeat more than N times (default 4)",
        )
    if command == "cancel":
        parser.add_argument(
            "--lock-wait", type=float, default=120.0, metavar="SECONDS", help=argparse.SUPPRESS
        )
    return parser


def main(argv: list[str] | None = None, slurm: SlurmClient | None = None) -> int:
    """The command line; `slurm` stands in for the machine's Slurm commands (tests pass a fake)."""
    try:
        return _main(argv, slurm)
    except KeyboardInterrupt:
        make_console(stderr=True).print("interrupted; relaunch the same command to continue", highlight=False)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None, slurm: SlurmClient | None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    console = make_console()
    errors = make_console(stderr=True)
    command = args_list.pop(0) if args_list and args_list[0] in COMMANDS else "launch"
    parser = build_parser() if command == "launch" else build_command_parser(command)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    # Building the client runs nothing: only a Slurm profile's launch, or a run whose ledger names Slurm
    # jobs, ever calls a Slurm command.
    client = slurm if slurm is not None else RealSlurm()
    try:
        if command == "launch":
            return _launch(args, console, client)
        from smolprep import cli_ops

        return cli_ops.run(command, args, console, client)
    except (ConfigError, UsageError) as err:
        errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        errors.print("Nothing was written or submitted.", style="dim")
        return EXIT_USAGE
    except LockHeld as err:
        errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except DamagedRunFile as err:
        errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return EXIT_FAILED
    except SlurmNotFound as err:
        # launch and resubmit ask Slurm before writing anything: the Slurm profile was the user's choice
        errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return EXIT_USAGE if command in ("launch", "resubmit") else EXIT_FAILED
    except SlurmError as err:
        errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        return EXIT_FAILED


def resolve_config_path(args: argparse.Namespace) -> Path:
    """--config PATH, or the name of a shipped config (`--config sample`: configs/sample.yaml, also when
    smolprep is installed without the checkout), or --stage N (configs/stage<N>.yaml)."""
    if args.config:
        path = Path(args.config)
        shipped = configs_dir() / f"{args.config}.yaml"
        if not path.is_file() and path.suffix == "" and path.name == args.config and shipped.is_file():
            return shipped
        return path
    if args.stage:
        path = configs_dir() / f"stage{args.stage}.yaml"
        if not path.is_file():
            known = sorted(p.stem.removeprefix("stage") for p in configs_dir().glob("stage*.yaml"))
            raise UsageError(f"--stage {args.stage}: no {path}; stages available: {', '.join(known)}")
        return path
    raise UsageError("say which stage to run: --stage N or --config PATH (see --help)")


def load_inputs(args: argparse.Namespace) -> tuple[StageConfig, ClusterProfile, RunLayout]:
    stage = load_stage_config(resolve_config_path(args))
    if getattr(args, "datasets", None) is not None:
        names = [n.strip() for n in args.datasets.split(",") if n.strip()]
        if not names:
            known = ", ".join(d.name for d in stage.datasets)
            raise UsageError(f"--datasets {args.datasets!r} names no dataset; give some of: {known}")
        stage = stage.select(names)
    overrides = {k: getattr(args, k, None) for k in ("partition", "account", "qos")}
    profile = load_profile(args.cluster, overrides)
    root = Path(args.output or profile.storage_root).expanduser().resolve()
    return stage, profile, RunLayout(root, stage.name)


def _launch(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    stage, profile, layout = load_inputs(args)
    plan = plan_stage(stage)
    resources = filter_resources(stage, profile)
    if args.test_only and not args.dry_run:
        raise UsageError("--test-only goes with --dry-run")
    if args.dry_run:
        comparison = preflight(args, stage, layout, plan, resources)
        problems = check_stage(stage, layout, resources)
        if problems:  # the real launch would be refused: so is the dry run
            raise ConfigError(problems)
        render_plan(console, stage, plan, profile, layout)
        render_force_config(console, layout, comparison, done=False)
        code = EXIT_OK
        if profile.executor == "slurm":
            fit = fit_plan(plan, cluster_limits(profile, None), profile.max_tasks_per_job)
            code = render_scripts(
                console, SlurmStage(stage, plan, profile, layout, fit), args.test_only, slurm
            )
            style = "green" if fit.fits else "bold red"
            console.print(f"[{style}]cluster limits:[/] {fit.explain()}", highlight=False, soft_wrap=True)
        return code
    problems = check_stage(stage, layout, resources)
    if problems:
        raise ConfigError(problems)
    if args.wait and profile.executor != "slurm":
        raise UsageError("--wait is for Slurm profiles; a local run always waits")
    return launch_locked(args, stage, profile, layout, plan, resources, console, slurm)


def preflight(
    args: argparse.Namespace,
    stage: StageConfig,
    layout: RunLayout,
    plan: StagePlan,
    resources: FilterResources,
) -> PinComparison:
    """The checks of a launch or resubmit that need the plan, before anything is written or queued: the
    output folder, the task bound (unless --force) and the run's pin (unless --force-config)."""
    check_output_root(layout)
    too_many = task_count_issues(stage, plan.task_counts())
    if too_many and not getattr(args, "force", False):
        raise ConfigError(too_many)
    comparison = compare_with_pin(layout, stage, plan, resources)
    if comparison.issues and not getattr(args, "force_config", False):
        raise ConfigError(comparison.issues)
    return comparison


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


def _create_stage_dir(layout: RunLayout) -> None:
    try:
        layout.stage_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"cannot create the run directory {layout.stage_dir}: {err.strerror or err}; "
            "choose another --output"
        ) from None


def render_force_config(console: Console, layout: RunLayout, comparison: PinComparison, done: bool) -> None:
    """Say what --force-config deletes and reruns (or, in a dry run, would)."""
    for dataset, first in comparison.rerun.items():
        verb = "deleted the outputs of" if done else "--force-config would delete and rerun"
        steps = ", ".join(steps_from(first))
        console.print(f"{dataset}: {verb} {steps} in {layout.stage_dir}", highlight=False, soft_wrap=True)


def launch_locked(
    args: argparse.Namespace,
    stage: StageConfig,
    profile: ClusterProfile,
    layout: RunLayout,
    plan: StagePlan,
    resources: FilterResources,
    console: Console,
    slurm: SlurmClient,
) -> int:
    """Launch (or resubmit) under the stage's lock; --wait happens after the lock is released. A local
    profile never calls `slurm`."""
    preflight(args, stage, layout, plan, resources)
    target = SlurmStage(stage, plan, profile, layout)
    if profile.executor == "slurm":
        issues = check_submittable(profile, slurm)
        if issues:
            raise ConfigError(issues)
        target = SlurmStage(stage, plan, profile, layout, _fit_to_cluster(target, slurm))
    _create_stage_dir(layout)
    command = " ".join(["launch.py", *sys.argv[1:]])[:200]
    with launch_lock(layout.lock, command, args.lock_wait, lambda h: console.print(f"Waiting for {h}")):
        if profile.executor == "slurm" and getattr(args, "force_config", False):
            refuse_reset_under_jobs(layout, compare_with_pin(layout, stage, plan, resources), slurm)
        comparison = pin_run(
            layout, stage, plan, resources, force_config=getattr(args, "force_config", False)
        )
        render_force_config(console, layout, comparison, done=True)
        if profile.executor != "slurm":
            return _run_local(args, stage, profile, layout, plan, resources, console)
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
            if not getattr(args, "wait", False):
                overrides = {k: getattr(args, k, None) for k in ("partition", "account", "qos")}
                job_id = submit_driver_job(target, {k: v for k, v in overrides.items() if v}, slurm)
                register_driver(layout, job_id)
                console.print(f"Submitted the wave driver job {job_id}: it queues the stage wave by wave.")
                return EXIT_OK
            register_driver(layout)
            try:
                outcome = run_waves(
                    target,
                    resources,
                    slurm,
                    lambda s: console.print(f"submitted {s.dataset}/{s.step}: {','.join(s.job_ids)}"),
                    reserve=1,  # room for the stage-level report job
                )
                if outcome.submitted_jobs:
                    outcome.report_job = submit_report_job(target, outcome.last_jobs, slurm)
            finally:
                layout.driver_file.unlink(missing_ok=True)
        else:
            outcome = submit_stage(target, resources, slurm)
        render_submission(console, target, outcome)
    return _after_submission(args, target, outcome, console, slurm)


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


def _fit_to_cluster(target: SlurmStage, slurm: SlurmClient) -> Fit:
    """How the stage fits the cluster's job limits (limits read with scontrol when Slurm answers)."""
    try:
        scontrol: dict[str, str] | None = slurm.config()
    except (SlurmQueryError, SlurmNotFound):
        scontrol = None
    return fit_plan(target.plan, cluster_limits(target.profile, scontrol), target.profile.max_tasks_per_job)


def render_scripts(console: Console, target: SlurmStage, test_only: bool, slurm: SlurmClient) -> int:
    """Print every sbatch script of the plan (and optionally ask Slurm to check each one)."""
    code = EXIT_OK
    for sub in target.submissions():
        for chunk in sub.chunks:
            script = target.script(
                chunk, f"smolprep:{target.stage.name}:{chunk.dataset}:{chunk.step}:{chunk.index}"
            )
            console.rule(f"{chunk.dataset} / {chunk.step} / chunk {chunk.index} ({chunk.size} array tasks)")
            console.print(script, markup=False, highlight=False, soft_wrap=True)
            if test_only:
                try:
                    console.print(f"sbatch --test-only: {slurm.test_only(script)}", markup=False)
                except SbatchError as err:
                    console.print(f"[bold red]sbatch --test-only failed:[/] {err}", highlight=False)
                    code = EXIT_USAGE
    return code


def _after_submission(
    args: argparse.Namespace, target: SlurmStage, outcome: SubmitOutcome, console: Console, slurm: SlurmClient
) -> int:
    if outcome.errors:
        return EXIT_FAILED
    if not outcome.submitted_jobs and all(s.state == "complete" for s in outcome.steps):
        console.print(f"Everything is complete in {target.layout.stage_dir}: nothing to submit.")
        return EXIT_OK
    if not getattr(args, "wait", False):
        console.print(f"Watch it with: squeue --me   |   python launch.py status {_stage_args(args)}")
        return EXIT_OK
    complete = wait_for_stage(target.layout, target.plan, console, slurm)
    render_summary(console, stage_summary(target.layout, target.plan))
    if not complete:
        console.print(
            "[bold red]The stage did not complete[/]: some tasks failed. "
            f"`python launch.py status {_stage_args(args)}` shows which, `logs` why, `resubmit` re-runs them.",
            highlight=False,
        )
        return EXIT_FAILED
    return EXIT_OK


def _stage_args(args: argparse.Namespace) -> str:
    which = f"--stage {args.stage}" if args.stage else f"--config {args.config}"
    return f"{which} --cluster {args.cluster}" + (f" --output {args.output}" if args.output else "")


def render_submission(console: Console, target: SlurmStage, outcome: SubmitOutcome) -> None:
    table = Table(title=f"stage {target.stage.name}: submission to {target.profile.name}")
    for column in ("dataset", "step", "tasks to run", "job ids", "state"):
        table.add_column(column)
    for step in outcome.steps:
        state = {"queued-already": "already queued: not submitted again"}.get(step.state, step.state)
        if step.state == "error":
            state = f"[red]error[/]: {step.message}"
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


def filter_resources(stage: StageConfig, profile: ClusterProfile) -> FilterResources:
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


def _run_local(
    args: argparse.Namespace,
    stage: StageConfig,
    profile: ClusterProfile,
    layout: RunLayout,
    plan: StagePlan,
    resources: FilterResources,
    console: Console,
) -> int:
    workers = getattr(args, "workers", None) or profile.workers or os.cpu_count() or 1
    outcome = run_local(stage, plan, layout, resources, workers, console)
    rows = stage_summary(layout, plan)
    damaged = [row for row in rows if is_damaged(row)]
    if not outcome.ran and outcome.ok and not damaged:
        console.print(f"Everything is complete in {layout.stage_dir}: nothing to do.")
    render_summary(console, rows)
    if outcome.ran:
        from smolprep.report import write_report

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


def render_plan(
    console: Console, stage: StageConfig, plan: StagePlan, profile: ClusterProfile, layout
) -> None:
    table = Table(
        title=f"plan: stage {stage.name} on {profile.name} ({profile.executor}) -> {layout.stage_dir}"
    )
    for column in ("dataset", "kind", "language", "weight", "step", "tasks", "after"):
        table.add_column(column)
    for spec in stage.datasets:
        for i, step in enumerate(plan.for_dataset(spec.name)):
            first = i == 0
            table.add_row(
                spec.name if first else "",
                spec.kind if first else "",
                ",".join(spec.language) if first else "",
                f"{spec.weight:.5g}" if first else "",
                step.step,
                str(step.tasks),
                f"{step.after} (all tasks)" if step.after else "-",
            )
    console.print(table)
    console.print(f"{len(stage.datasets)} datasets, {len(plan.steps)} steps, {plan.total_tasks} tasks.")


def render_summary(console: Console, rows) -> None:
    """The documents-per-dataset table, then one warning line per skipped input file."""
    table = Table(title="documents per dataset")
    table.add_column("dataset")
    table.add_column("in", justify="right")
    table.add_column("corrupt lines skipped", justify="right")
    table.add_column("input files skipped", justify="right")
    table.add_column("removed by filter", justify="right")
    table.add_column("removed as duplicate", justify="right")
    table.add_column("out", justify="right")
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


def is_damaged(row) -> bool:
    return str(row.state).startswith("damaged")


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


if __name__ == "__main__":
    sys.exit(main())
