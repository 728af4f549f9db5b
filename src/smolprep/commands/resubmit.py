"""`python launch.py resubmit`: the launch sequence again on a launched run: it re-runs only the tasks
without a completion marker, skips steps whose jobs are still queued, and re-wires the dependents. On Slurm,
the profile's retry policy first decides with what: a step whose tasks failed for a cause with a rule
(OUT_OF_MEMORY, TIMEOUT, ...) asks for the rule's resources; tasks without one (a Python error) are re-run
as they were, because a person asked for it (`--wait` and the wave driver never re-run those)."""

from __future__ import annotations

import argparse
import dataclasses

from rich.console import Console
from rich.markup import escape

from smolprep.commands.base import Command
from smolprep.commands.common import force_options, require_run, run_options, slurm_options
from smolprep.commands.launch import launch_request
from smolprep.launching import launch_stage
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.observe import retry_round
from smolprep.slurm.retry_round import describe
from smolprep.state import ledger


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument("--wait", action="store_true", help="block until the stage finished (exit 0 if done)")
    slurm_options(parser)
    force_options(parser)


def run(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    request = launch_request(args)
    require_run(request.layout)
    if request.profile.executor == "slurm" and ledger.read(request.layout.ledger):
        logs = f"python launch.py logs {request.rerun_hint}".rstrip()
        retries = retry_round(request.layout, request.plan, request.profile, slurm, logs)
        for line in describe(retries):
            console.print(f"retry policy: {escape(line)}", highlight=False, soft_wrap=True)
        request = dataclasses.replace(request, retry_overrides=retries.overrides(everything=True))
    return launch_stage(request, console, slurm)


COMMAND = Command(
    "resubmit",
    "re-run only the incomplete tasks of failed steps and re-wire their dependents",
    add_arguments,
    run,
    submits=True,
)
