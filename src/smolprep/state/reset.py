"""Undo a dataset's steps from a given step on, so that `--force-config` reruns them with the new config.

A step's outputs and its logging folder (completion markers, stats, logs) go together: without its markers
a step reruns every task, and without its old outputs no file of the old config survives next to the new
ones. Every step after the first changed one goes too, since each reads what the one before it wrote.
Callers hold the stage's launch lock.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from smolprep.state.layout import STEPS, RunLayout

# step -> the folders it writes. data/<d> is downstream of `filter` whatever `dedup` says: `filter` writes
# it when the dataset has no dedup, `minhash-filter` when it has.
STEP_OUTPUTS: dict[str, Callable[[RunLayout, str], list[Path]]] = {
    "filter": lambda layout, d: [layout.filtered(d), layout.data(d)],
    "minhash-signatures": lambda layout, d: [layout.minhash(d, "signatures")],
    "minhash-buckets": lambda layout, d: [layout.minhash(d, "buckets")],
    "minhash-cluster": lambda layout, d: [layout.minhash(d, "remove")],
    "minhash-filter": lambda layout, d: [layout.data(d)],
}


def steps_from(first: str) -> tuple[str, ...]:
    """`first` and every step after it, in the order steps run."""
    return STEPS[STEPS.index(first) :]


def reset_from(layout: RunLayout, dataset: str, first: str) -> list[Path]:
    """Remove the outputs and logging folders of `first` and every later step of `dataset`; returns
    what was removed."""
    removed: list[Path] = []
    for step in steps_from(first):
        for path in [*STEP_OUTPUTS[step](layout, dataset), layout.logs(dataset, step)]:
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
