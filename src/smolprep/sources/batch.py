"""Fetching every `source:` dataset of a stage, on this machine (the login node) or as a Slurm job on a
partition that reaches the Hub (`fetch_job`): one progress bar of bytes and files per dataset, one line
per dataset fetched or failed; a failed dataset does not stop the others."""

from __future__ import annotations

import threading
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.utils import disable_progress_bars
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from smolprep.config.stage import DatasetSpec, StageConfig, is_hub_tokenizer, load_stage_config
from smolprep.sources import hub
from smolprep.sources.record import source_state


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


def fetch_sources(
    stage: StageConfig, root: Path, workers: int, refresh: bool, console: Console, errors: Console
) -> list[str]:
    """Fetch the stage's `source:` datasets to `<root>/sources/`; the names of those that failed (each
    said on `errors` in one line)."""
    disable_progress_bars()  # ours instead, one bar per dataset
    api = HfApi()
    failed: list[str] = []
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
        bars = _Bars(progress)
        for spec in (s for s in stage.datasets if s.source is not None):
            state = source_state(root, spec)
            if state.record is not None and not refresh:
                progress.console.print(
                    f"{spec.name}: fetched before ({len(state.record.files)} files, revision "
                    f"{state.record.revision[:12]}) in {state.folder}",
                    highlight=False,
                    markup=False,
                )
                continue
            try:
                plan = hub.plan_fetch(spec, root, api)
                bars.start(plan)
                record = hub.fetch(plan, api, workers, bars)
            except hub.FetchError as err:
                failed.append(spec.name)
                errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
                continue
            progress.console.print(
                f"{spec.name}: fetched {len(record.files)} files, {record.size / 1e6:,.1f} MB, revision "
                f"{record.revision[:12]}, to {plan.folder}",
                highlight=False,
                markup=False,
            )
    if is_hub_tokenizer(stage.tokenize.tokenizer) and stage.tokenize.tokenizer is not None:
        try:
            path = hub.fetch_tokenizer(stage.tokenize.tokenizer, root, api, refresh)
            console.print(f"tokenizer {stage.tokenize.tokenizer}: {path}", highlight=False, markup=False)
        except hub.FetchError as err:
            failed.append("tokenizer")
            errors.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
    return failed


class FetchFailed(RuntimeError):
    """Some datasets were not fetched (the job's log says why): the fetch job ends FAILED."""


def fetch_job(config_path: str, root: str, datasets: list[str], workers: int, refresh: bool) -> str:
    """The fetch as a Slurm job (submitit calls it on the node): the config is read again there."""
    stage = load_stage_config(config_path).select(datasets)
    out = Console(width=200)
    failed = fetch_sources(stage, Path(root), workers, refresh, out, out)
    if failed:
        raise FetchFailed(f"not fetched: {', '.join(failed)}; see the lines above")
    return f"fetched the sources of {', '.join(datasets)}"
