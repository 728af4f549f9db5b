"""`python launch.py fetch [--stage N | --config PATH] [--datasets a,b]`: download every `source:` dataset of
the stage (its subset and split only) to `<storage_root>/sources/`, so that the compute nodes read local
files. Run it on a machine that reaches the Hub (the login node). A dataset fetched before is kept as it is
(its recorded revision), unless --refresh; an interrupted fetch resumes. One failed dataset (gated, missing,
disk full, ...) is one line and exit 1; the others go on."""

from __future__ import annotations

import argparse
import threading

from huggingface_hub import HfApi
from huggingface_hub.utils import disable_progress_bars
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from smolprep.commands.base import Command
from smolprep.commands.common import load_inputs, positive_int, run_options
from smolprep.config.stage import DatasetSpec
from smolprep.errors import EXIT_FAILED, EXIT_OK
from smolprep.render import print_error
from smolprep.slurm.client import SlurmClient
from smolprep.sources import hub
from smolprep.sources.record import source_state


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


class _Bars(hub.Progress):
    """Bytes and files per dataset."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.files: dict[str, list[int]] = {}
        self.lock = threading.Lock()

    def start(self, plan: hub.FetchPlan) -> None:
        name = plan.spec.name
        self.files[name] = [0, len(plan.files)]
        self.tasks[name] = self.progress.add_task(self._label(name), total=plan.size)

    def file_done(self, spec: DatasetSpec, path: str, size: int) -> None:
        with self.lock:
            self.files[spec.name][0] += 1
            self.progress.update(self.tasks[spec.name], advance=size, description=self._label(spec.name))

    def _label(self, name: str) -> str:
        done, total = self.files[name]
        return f"{escape(name)} ({done}/{total} files)"


def run(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    stage, _, layout = load_inputs(args, resolve=False)
    sources = [spec for spec in stage.datasets if spec.source is not None]
    if not sources:
        console.print(f"Stage {stage.name} has no `source:` dataset: nothing to fetch.")
        return EXIT_OK
    disable_progress_bars()  # ours instead, one bar per dataset
    api = HfApi()
    failed: list[str] = []
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
        bars = _Bars(progress)
        for spec in sources:
            state = source_state(layout.root, spec)
            if state.record is not None and not args.refresh:
                progress.console.print(
                    f"{spec.name}: fetched before ({len(state.record.files)} files, revision "
                    f"{state.record.revision[:12]}) in {state.folder}",
                    highlight=False,
                    markup=False,
                )
                continue
            try:
                plan = hub.plan_fetch(spec, layout.root, api)
                bars.start(plan)
                record = hub.fetch(plan, api, args.workers, bars)
            except hub.FetchError as err:
                failed.append(spec.name)
                print_error(str(err))
                continue
            progress.console.print(
                f"{spec.name}: fetched {len(record.files)} files, {record.size / 1e6:,.1f} MB, revision "
                f"{record.revision[:12]}, to {plan.folder}",
                highlight=False,
                markup=False,
            )
    if failed:
        console.print(f"Not fetched: {', '.join(failed)} (the others are).", highlight=False)
        return EXIT_FAILED
    return EXIT_OK


COMMAND = Command(
    "fetch",
    "download the stage's Hugging Face datasets to <storage_root>/sources/ for offline compute nodes",
    add_arguments,
    run,
)
