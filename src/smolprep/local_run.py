"""Run a stage plan on this machine with datatrove's LocalPipelineExecutor (the embedded default).

Steps of a dataset run in order, each with all its tasks spread over `workers` processes; a step whose
tasks are all marked complete is skipped, so a relaunch does no work. Datasets are independent: a failed
dataset is reported and the others go on. A task that raises leaves a failure record (`local_executor`)
where `status` and `logs` find it, and every process the run starts dies with this one (`preload`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from smolprep.config.stage import StageConfig
from smolprep.filters.chain import selected_filters
from smolprep.pipelines.build import build_step
from smolprep.pipelines.local_executor import RecordingLocalExecutor, error_line
from smolprep.pipelines.resources import FilterResources
from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.plan import StagePlan, StepPlan
from smolprep.state.layout import RunLayout
from smolprep.state.lock import LAUNCHER_ENV, WARM_LANGUAGES_ENV, WARM_LID_ENV


@dataclass
class LocalOutcome:
    ran: list[str] = field(default_factory=list)  # "dataset/step" that did work
    failed: dict[str, str] = field(default_factory=dict)  # dataset -> error
    console_log: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failed


def step_complete(layout: RunLayout, step: StepPlan) -> bool:
    return layout.step_done(step.dataset, step.step, step.tasks)


def run_local(
    stage: StageConfig,
    plan: StagePlan,
    layout: RunLayout,
    resources: FilterResources,
    workers: int,
    console: Console,
    registry: StepRegistry = REGISTRY,
) -> LocalOutcome:
    """Run the plan's unfinished steps (`registry`: the steps' declarations, the plan's registry)."""
    outcome = LocalOutcome()
    pending = [s for s in plan.steps if not step_complete(layout, s)]
    if not pending:
        return outcome
    with _environment_restored("HF_HOME", LAUNCHER_ENV, WARM_LANGUAGES_ENV, WARM_LID_ENV):
        os.environ.setdefault("HF_HOME", str(layout.hf_cache))
        # imported only here: importing preload warms what the environment names (that is for the fork server)
        from smolprep.pipelines.preload import children_die_with_me, warm_fork_server

        lid = any(
            "language" in selected_filters(d.kind, d.filters) for d in map(stage.dataset, plan.datasets())
        )
        warm_fork_server(word_languages(stage, plan, registry), resources.lid_model, lid=lid)
        outcome.console_log = layout.local_log(time.strftime("%Y%m%d-%H%M%S"))
        outcome.console_log.parent.mkdir(parents=True, exist_ok=True)
        total = sum(s.tasks for s in plan.steps)
        done_before = _done_tasks(layout, plan)
        with (
            Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("tasks"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            ) as progress,
            _stderr_to(outcome.console_log),
            children_die_with_me(),
            _offline_when_local(stage, plan),
        ):
            bar = progress.add_task(f"{stage.name}", total=total, completed=done_before)
            for dataset in plan.datasets():
                for step in plan.for_dataset(dataset):
                    if step_complete(layout, step):
                        continue
                    progress.update(bar, description=f"{stage.name}: {step.key}")
                    try:
                        _run_step(
                            stage,
                            step,
                            layout,
                            resources,
                            workers,
                            lambda: _refresh(progress, bar, layout, plan),
                            registry,
                        )
                        outcome.ran.append(step.key)
                    except Exception as err:  # a failed dataset must not stop the others
                        outcome.failed[dataset] = _failure(layout, step, err)
                        logger.exception(f"{step.key} failed")
                        break
                    finally:
                        _refresh(progress, bar, layout, plan)
            progress.update(bar, description=f"{stage.name}: finished")
    return outcome


@contextlib.contextmanager
def _environment_restored(*keys: str) -> Iterator[None]:
    """The variables `keys` as they were before, whatever the block set. A local run's variables for the
    processes it starts (HF_HOME, the fork server's SMOLPREP_LAUNCHER_PID and warm-up list,
    HF_HUB_OFFLINE) are this run's only: a process that runs stages in-process (tests, notebooks) and then
    starts a launcher must not hand it another launcher's pid, which would make that launcher take itself
    for a fork server."""
    before = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _offline_when_local(stage: StageConfig, plan: StagePlan) -> Iterator[None]:
    """HF_HUB_OFFLINE=1 for the run's processes when every input is a local folder: no task asks the Hub."""
    if any(stage.dataset(name).path is None for name in plan.datasets()):
        yield
        return
    with _environment_restored("HF_HUB_OFFLINE"):
        os.environ["HF_HUB_OFFLINE"] = "1"
        yield


def word_languages(stage: StageConfig, plan: StagePlan, registry: StepRegistry = REGISTRY) -> list[str]:
    """The languages whose word tokenizers the plan's tasks use, as each step declares them."""
    codes: set[str] = set()
    for name in plan.datasets():
        codes.update(registry.word_languages(stage.dataset(name)))
    return sorted(codes)


def _failure(layout: RunLayout, step: StepPlan, err: Exception) -> str:
    """One line for a failed step: the error, and the log of its first failed task when one was recorded."""
    records = layout.failure_records(step.dataset, step.step)
    where = f" (log: {records[min(records)].get('log')})" if records else ""
    return f"{step.step}: {error_line(err)}{where}"


def _done_tasks(layout: RunLayout, plan: StagePlan) -> int:
    return sum(len(layout.done_ranks(s.dataset, s.step, s.tasks)) for s in plan.steps)


def _refresh(progress: Progress, bar: TaskID, layout: RunLayout, plan: StagePlan) -> None:
    progress.update(bar, completed=_done_tasks(layout, plan))


def _run_step(
    stage, step: StepPlan, layout: RunLayout, resources, workers: int, refresh, registry: StepRegistry
) -> None:
    spec = stage.dataset(step.dataset)
    source = registry.documents_in(layout, spec, step.step)
    for folder in (source[1] if source else None, registry.documents_out(layout, spec, step.step)):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    pipeline = build_step(stage, spec, step.step, layout, resources, registry)
    executor = RecordingLocalExecutor(
        pipeline,
        failures_dir=layout.failures(step.dataset, step.step),
        tasks=step.tasks,
        workers=max(1, min(workers, step.tasks)),
        logging_dir=str(layout.logs(step.dataset, step.step)),
        skip_completed=True,
    )
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(stop, refresh), daemon=True)
    poller.start()
    try:
        executor.run()
    finally:
        stop.set()
        poller.join()
    if not step_complete(layout, step):
        missing = sorted(set(range(step.tasks)) - layout.done_ranks(step.dataset, step.step, step.tasks))
        raise RuntimeError(
            f"tasks {missing} did not complete; see {layout.task_logs(step.dataset, step.step)}"
        )


def _poll(stop: threading.Event, refresh) -> None:
    while not stop.wait(0.5):
        refresh()


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send the datatrove workers' log output (fd 2) to a file while the progress bar owns the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as target:
        os.dup2(target.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
