"""run.json: what a stage's run directory was launched with, pinned so that a relaunch cannot silently
change the number of tasks of a step (outputs and markers are per task)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolprep import __version__
from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.stage import StageConfig
from smolprep.plan import StagePlan
from smolprep.state.atomic import write_json_atomic
from smolprep.state.layout import RunLayout


@dataclass(frozen=True)
class PinnedRun:
    data: dict[str, Any]

    @property
    def tasks(self) -> dict[str, dict[str, int]]:
        return self.data.get("tasks", {})


def read_pinned(layout: RunLayout) -> PinnedRun | None:
    if not layout.run_json.is_file():
        return None
    return PinnedRun(json.loads(layout.run_json.read_text()))


def check_against_pin(layout: RunLayout, stage: StageConfig, plan: StagePlan) -> list[ConfigIssue]:
    """Problems if the plan asks for other task counts than the pinned run (empty when fine)."""
    pinned = read_pinned(layout)
    if pinned is None:
        return []
    issues = []
    for dataset, steps in plan.task_counts().items():
        for step, tasks in steps.items():
            before = pinned.tasks.get(dataset, {}).get(step)
            if before is not None and before != tasks:
                issues.append(
                    ConfigIssue(
                        Path(stage.source_file),
                        f"datasets ({dataset}) -> step {step} tasks",
                        tasks,
                        f"{before}, the task count pinned in {layout.run_json}",
                        f"set the dataset's tasks back so that {step} has {before} tasks, "
                        "or launch into a new --output",
                    )
                )
    return issues


def pin_run(layout: RunLayout, stage: StageConfig, plan: StagePlan) -> None:
    """Write or extend run.json (raises ConfigError when task counts differ from the pin)."""
    issues = check_against_pin(layout, stage, plan)
    if issues:
        raise ConfigError(issues)
    pinned = read_pinned(layout)
    data: dict[str, Any] = dict(pinned.data) if pinned else {"created": time.time()}
    tasks = {k: dict(v) for k, v in (pinned.tasks if pinned else {}).items()}
    for dataset, steps in plan.task_counts().items():
        tasks.setdefault(dataset, {}).update(steps)
    data.update(
        stage=stage.name,
        config=str(Path(stage.source_file).resolve()),
        config_hash=stage.config_hash,
        version=__version__,
        tasks=tasks,
    )
    if pinned is None or data != pinned.data:
        write_json_atomic(layout.run_json, data)
