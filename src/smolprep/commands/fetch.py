"""`python launch.py fetch [--stage N | --config PATH] [--datasets a,b]`: download every `source:` dataset of
the stage (its subset and split only) to `<storage_root>/sources/`, so that the compute nodes read local
files. It runs on this machine (the login node reaches the Hub), or, when the cluster profile names a
`fetch_partition` (a partition whose nodes reach the Hub), as a Slurm job there (`--here` to run it on
this machine anyway). A dataset fetched before is kept as it is (its recorded revision), unless
--refresh; an interrupted fetch resumes. One failed dataset (gated, missing, disk full, ...) is one line
and exit 1; the others go on."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from rich.console import Console

from smolprep.commands.base import Command
from smolprep.commands.common import load_inputs, positive_int, run_options
from smolprep.config.profile import ClusterProfile
from smolprep.config.stage import StageConfig, is_hub_tokenizer
from smolprep.errors import EXIT_FAILED, EXIT_OK
from smolprep.render import make_console, print_error
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.function_job import FunctionJob, submit_function
from smolprep.sources.batch import fetch_job, fetch_sources
from smolprep.sources.record import source_state
from smolprep.state.layout import RunLayout

FETCH_JOB = FunctionJob("fetch", minutes=3 * 24 * 60, mem="4G")
POLL_SECONDS = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument(
        "--datasets", metavar="A,B", help="only these datasets of the stage (comma-separated)"
    )
    parser.add_argument(
        "--workers", type=positive_int, default=4, metavar="N", help="files downloaded at once (default 4)"
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="fetch the latest revision of datasets fetched before (default: keep the fetched revision)",
    )
    parser.add_argument(
        "--here",
        action="store_true",
        help="run on this machine even when the profile names a fetch_partition",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="with a fetch_partition: wait for the fetch job, then say what it fetched",
    )


def run(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    stage, profile, layout = load_inputs(args, resolve=False)
    if not any(spec.source is not None for spec in stage.datasets) and not is_hub_tokenizer(
        stage.tokenize.tokenizer
    ):
        console.print(f"Stage {stage.name} has no `source:` dataset and no Hub tokenizer: nothing to fetch.")
        return EXIT_OK
    if profile.fetch_partition and not args.here:
        return _as_job(args, stage, profile, layout, console, slurm)
    failed = fetch_sources(stage, layout.root, args.workers, args.refresh, console, make_console(stderr=True))
    if failed:
        console.print(f"Not fetched: {', '.join(failed)} (the others are).", highlight=False)
        return EXIT_FAILED
    return EXIT_OK


def _as_job(
    args: argparse.Namespace,
    stage: StageConfig,
    profile: ClusterProfile,
    layout: RunLayout,
    console: Console,
    slurm: SlurmClient,
) -> int:
    """Queue the fetch on the profile's fetch_partition (a submitit job); with --wait, wait for it."""
    on_partition = dataclasses.replace(profile, partition=profile.fetch_partition)
    datasets = [spec.name for spec in stage.datasets]
    config = str(Path(stage.source_file).resolve())
    job_id = submit_function(
        slurm,
        on_partition,
        layout,
        FETCH_JOB,
        fetch_job,
        config,
        str(layout.root),
        datasets,
        args.workers,
        args.refresh,
    )
    log = layout.job_logs("fetch") / job_id
    console.print(
        f"Submitted the fetch job {job_id} on partition {profile.fetch_partition}; its log: {log}",
        highlight=False,
    )
    if not args.wait:
        return EXIT_OK
    while slurm.queue([job_id]):
        time.sleep(POLL_SECONDS)
    missing = [
        s.name for s in stage.datasets if s.source is not None and not source_state(layout.root, s).fetched
    ]
    if missing:
        print_error(f"the fetch job {job_id} did not fetch {', '.join(missing)}; its log says why: {log}")
        return EXIT_FAILED
    console.print(f"The fetch job {job_id} fetched every source dataset.", highlight=False)
    return EXIT_OK


COMMAND = Command(
    "fetch",
    "download the stage's Hugging Face datasets to <storage_root>/sources/ for offline compute nodes",
    add_arguments,
    run,
)
