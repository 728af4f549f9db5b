"""`python launch.py resubmit`: the launch sequence again on a launched run: it re-runs only the tasks
without a completion marker, skips steps whose jobs are still queued, and re-wires the dependents."""

from __future__ import annotations

import argparse

from rich.console import Console

from smolprep.commands.base import Command
from smolprep.commands.common import force_options, require_run, run_options, slurm_options
from smolprep.commands.launch import launch_request
from smolprep.launching import launch_stage
from smolprep.slurm.client import SlurmClient


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument("--wait", action="store_true", help="block until the stage finished (exit 0 if done)")
    slurm_options(parser)
    force_options(parser)


def run(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    request = launch_request(args)
    require_run(request.layout)
    return launch_stage(request, console, slurm)


COMMAND = Command(
    "resubmit",
    "re-run only the incomplete tasks of failed steps and re-wire their dependents",
    add_arguments,
    run,
    submits=True,
)
