"""The default command: `python launch.py [--stage N | --config PATH] ...` plans a stage and runs it
(locally, or on Slurm through the launch sequence of `smolprep.launching`), or with --dry-run shows the
plan and every sbatch script and submits nothing."""

from __future__ import annotations

import argparse
import dataclasses

from rich.console import Console

from smolprep.commands.base import Command
from smolprep.commands.common import (
    command_line,
    force_options,
    load_inputs,
    overrides,
    positive_int,
    run_args,
    run_options,
    slurm_options,
)
from smolprep.config.errors import ConfigError
from smolprep.config.stage import is_hub_tokenizer
from smolprep.errors import EXIT_OK, EXIT_USAGE, UsageError
from smolprep.launching import (
    DRIVER_MEM,
    LaunchRequest,
    filter_resources,
    launch_stage,
    preflight,
    read_limits,
)
from smolprep.pipelines.input_check import text_field_issues
from smolprep.pipelines.probe import check_stage
from smolprep.plan import plan_stage
from smolprep.render import render_force_config, render_plan
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.errors import SbatchError
from smolprep.slurm.limits import cluster_limits, fit_plan
from smolprep.slurm.submit import SlurmStage
from smolprep.sources.record import source_state
from smolprep.sources.resolve import unfetched

DESCRIPTION = """\
Plan and run a pretraining-mixture stage: per dataset, quality filtering (language ID, Gopher
repetition and quality with per-language thresholds, spam phrases; code gets only cheap sanity
checks) and MinHash near-duplicate removal, with datatrove. Final output:
<output>/<stage>/data/<dataset>/*.jsonl.gz with text, id and metadata (source, config, weight, ...).

examples:
  python launch.py --config configs/sample.yaml --cluster local     # the demo on the shipped sample
  python launch.py --stage 1 --dry-run                              # validate and show the plan
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
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
        help="with --dry-run: also pass each sbatch script through `sbatch --test-only` and read the cluster's "
        "job limits (MaxJobCount, MaxArraySize, submit limits from sacctmgr) to say which binds (needs Slurm)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="Slurm: block until the stage finished; exit 0 only if every task of every step completed",
    )
    slurm_options(parser)
    force_options(parser)
    parser.add_argument(
        "--workers",
        type=positive_int,
        metavar="N",
        help="local executor: tasks run at once (default: profile, else CPUs)",
    )


def launch_request(args: argparse.Namespace) -> LaunchRequest:
    """The launch the command line asks for (launch and resubmit)."""
    stage, profile, layout = load_inputs(args)
    return LaunchRequest(
        stage,
        profile,
        layout,
        plan_stage(stage),
        filter_resources(stage, profile),
        force=args.force,
        force_config=args.force_config,
        wait=args.wait,
        lock_wait=args.lock_wait,
        workers=getattr(args, "workers", None),
        overrides=overrides(args),
        command=command_line(),
        rerun_hint=run_args(args),
    )


def run(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    if args.test_only and not args.dry_run:
        raise UsageError("--test-only goes with --dry-run")
    request = launch_request(args)
    if args.dry_run:
        return dry_run(request, args.test_only, console, slurm)
    problems = check_stage(request.stage, request.layout, request.resources)
    problems += text_field_issues(request.stage)
    if problems:
        raise ConfigError(problems)
    if request.wait and request.profile.executor != "slurm":
        raise UsageError("--wait is for Slurm profiles; a local run always waits")
    return launch_stage(request, console, slurm)


def dry_run(request: LaunchRequest, test_only: bool, console: Console, slurm: SlurmClient) -> int:
    """Every check of the launch that writes and queues nothing, then the plan and every sbatch script."""
    comparison = preflight(request)
    problems = check_stage(request.stage, request.layout, request.resources)
    problems += text_field_issues(request.stage)
    if problems:  # the real launch would be refused: so is the dry run
        raise ConfigError(problems)
    stage, plan, profile, layout = request.stage, request.plan, request.profile, request.layout
    render_plan(console, stage, plan, profile, layout, describe_inputs(request))
    if is_hub_tokenizer(stage.tokenize.tokenizer):
        console.print(
            f"tokenizer {stage.tokenize.tokenizer}: NOT FETCHED (run `launch.py fetch` first)", markup=False
        )
    render_force_config(console, layout, comparison, done=False)
    if profile.executor != "slurm":
        return EXIT_OK
    # only --test-only talks to Slurm: a dry run stays offline (and quick) otherwise
    limits = read_limits(profile, slurm) if test_only else cluster_limits(profile, None)
    fit = fit_plan(plan, limits, profile.max_tasks_per_job)
    code = render_scripts(console, SlurmStage(stage, plan, profile, layout, fit), test_only, slurm)
    style = "green" if fit.fits else "yellow"
    console.print(f"[{style}]cluster limits:[/] {fit.explain()}", highlight=False, soft_wrap=True)
    driver = "submits the waves and sees the stage through" if not fit.fits else "not needed: one wave"
    console.print(
        f"wave driver job: --time={profile.driver_time} (profile `driver_time`), {DRIVER_MEM}; {driver}",
        highlight=False,
        soft_wrap=True,
    )
    return code


def describe_inputs(request: LaunchRequest) -> dict[str, str]:
    """Per dataset, where the launch would read its documents: a folder, a fetched copy, or not yet."""
    missing = unfetched(request.stage, request.layout.root)
    described = {}
    for spec in request.stage.datasets:
        if spec.name in missing:
            state = missing[spec.name]
            if request.profile.compute_nodes_online:
                described[spec.name] = "streams from the Hub (compute_nodes_online)"
            else:
                described[spec.name] = f"NOT FETCHED: {state.problem or 'run `launch.py fetch` first'}"
        elif spec.source is not None:
            record = source_state(request.layout.root, dataclasses.replace(spec, path=None)).record
            files = f"{len(record.files)} files, " if record else ""
            described[spec.name] = f"fetched: {files}{spec.tasks} tasks"
        else:
            described[spec.name] = "local folder"
    return described


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


COMMAND = Command(
    "launch",
    "plan and run a stage (the default command)",
    add_arguments,
    run,
    submits=True,
    description=DESCRIPTION,
)
