"""Undo a dataset's steps from a given step on, so that `--force-config` reruns them with the new config.

A step's outputs and its logging folder (completion markers, stats, logs) go together: without its markers
a step reruns every task, and without its old outputs no file of the old config survives next to the new
ones. Every step after the first changed one goes too, since each reads what the one before it wrote.
Callers hold the stage's launch lock.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.state.layout import RunLayout


def step_outputs(layout: RunLayout, dataset: str, step: str, registry: StepRegistry = REGISTRY) -> list[Path]:
    """The folders `step` may write for `dataset` (as its declaration says), whatever the dataset's config:
    data/<d> belongs to every document-writing step, since which one writes it depends on `dedup`."""
    return registry.outputs(layout, dataset, step)


def steps_from(first: str, registry: StepRegistry = REGISTRY) -> tuple[str, ...]:
    """`first` and every step after it, in the order steps run."""
    return registry.steps_from(first)


def reset_from(layout: RunLayout, dataset: str, first: str, registry: StepRegistry = REGISTRY) -> list[Path]:
    """Remove the outputs and logging folders of `first` and every later step of `dataset`; returns
    what was removed."""
    removed: list[Path] = []
    for step in steps_from(first, registry):
        for path in [*step_outputs(layout, dataset, step, registry), layout.logs(dataset, step)]:
            if _remove(path):
                removed.append(path)
    return removed


def _remove(path: Path) -> bool:
    if path.is_symlink() or path.is_file():
        path.unlink()
        return True
    if path.is_dir():
        shutil.rmtree(path)
        return True
    return False
