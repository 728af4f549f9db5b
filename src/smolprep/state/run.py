"""run.json: what a stage's run directory was made with, pinned so that one run never mixes two configs.

It keeps the resolved, output-affecting settings of every dataset launched (see state/fingerprint.py), their
hash, each step's fingerprint and task count. A relaunch, resubmit or report whose config would change a
step's output is refused (`check_against_pin`), naming each changed setting; `--force-config` instead
removes the outputs of the first changed step and every step after it (state/reset.py) and pins the new
config. `--datasets a,b` compares and pins only those datasets and keeps the others' pins.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolprep import __version__
from smolprep.config.errors import ChangedSetting, ConfigError, ConfigIssue
from smolprep.config.stage import StageConfig
from smolprep.pipelines.resources import FilterResources
from smolprep.pipelines.steps import REGISTRY
from smolprep.plan import StagePlan
from smolprep.state.atomic import write_json_atomic
from smolprep.state.errors import DamagedRunFile
from smolprep.state.fingerprint import (
    DATASET_KEYS,
    STAGE_KEYS,
    LoadedFiles,
    dataset_settings,
    setting_name,
    sha256,
    step_fingerprints,
)
from smolprep.state.layout import RunLayout
from smolprep.state.reset import reset_from

PIN_FORMAT = 2  # run.json without `pin_format` was written before settings and fingerprints were pinned
_KEY_ORDER = {key: i for i, key in enumerate((*DATASET_KEYS, *STAGE_KEYS))}


@dataclass(frozen=True)
class PinnedRun:
    data: dict[str, Any]

    @property
    def tasks(self) -> dict[str, dict[str, int]]:
        return self.data.get("tasks", {})

    @property
    def settings(self) -> dict[str, dict[str, Any]]:
        """dataset -> its resolved output-affecting settings."""
        return self.data.get("resolved_config", {})

    @property
    def fingerprints(self) -> dict[str, dict[str, str]]:
        return self.data.get("fingerprints", {})

    @property
    def legacy(self) -> bool:
        """Written by a smolprep that pinned only task counts and the config file's hash."""
        return "pin_format" not in self.data


@dataclass(frozen=True)
class PinComparison:
    """What a config would change in a pinned run: the issues to show, and per dataset the first step
    whose output changes (--force-config reruns it and every step after it)."""

    issues: list[ConfigIssue]
    rerun: dict[str, str]


def read_pinned(layout: RunLayout) -> PinnedRun | None:
    """The run's pin, None before the first launch; a damaged run.json raises DamagedRunFile."""
    path = layout.run_json
    if not path.is_file():
        return None
    data = _parse(path)
    problem = _shape_problem(data)
    if problem:
        raise _damaged(path, problem)
    return PinnedRun(data)


def _parse(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _damaged(path, "is not UTF-8 text") from None
    except OSError as err:
        raise _damaged(path, f"cannot be read ({err.strerror or err})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        body = text.strip()
        cut = body.startswith(("{", "[")) and not body.endswith(("}", "]"))
        hint = "; it looks truncated" if cut else ""
        raise _damaged(path, f"is not valid JSON ({err.msg} at line {err.lineno}{hint})") from None


def _shape_problem(data: Any) -> str:
    if not isinstance(data, dict):
        return f"holds a JSON {type(data).__name__}, not the object smolprep writes"
    if data.get("pin_format", PIN_FORMAT) != PIN_FORMAT:
        return f"has pin_format {data['pin_format']!r}, which this smolprep ({__version__}) does not know"
    expected = {"tasks": int, "fingerprints": str, "resolved_config": object}
    for key, leaf in expected.items():
        if key in data and not _nested_mapping(data[key], leaf):
            return f"has a `{key}` that is not a mapping of dataset -> step or setting -> value"
    if "pin_format" in data and not all(k in data for k in expected):
        return "lacks " + ", ".join(f"`{k}`" for k in expected if k not in data)
    return ""


def _nested_mapping(value: Any, leaf: type) -> bool:
    return isinstance(value, dict) and all(
        isinstance(inner, dict) and all(isinstance(v, leaf) for v in inner.values())
        for inner in value.values()
    )


def _damaged(path: Path, problem: str) -> DamagedRunFile:
    return DamagedRunFile(
        path,
        problem,
        "It pins the config this run was made with: restore it from a backup; or move it aside "
        f"(mv {path} {path}.damaged) and relaunch with --force-config, which reruns every step; "
        "or launch into a new --output DIR",
    )


def check_against_pin(
    layout: RunLayout, stage: StageConfig, plan: StagePlan, resources: FilterResources | None = None
) -> list[ConfigIssue]:
    """Every way in which this config would change the outputs of the pinned run (empty when none).

    Without `resources` (the cluster profile is unknown, as in `report`), the spam phrases are loaded from
    the stage and the language-ID model is taken as pinned."""
    return compare_with_pin(layout, stage, plan, resources).issues


def compare_with_pin(
    layout: RunLayout, stage: StageConfig, plan: StagePlan, resources: FilterResources | None = None
) -> PinComparison:
    pinned = read_pinned(layout)
    files = _loaded_files(stage, resources)
    issues: list[ConfigIssue] = []
    rerun: dict[str, str] = {}
    for dataset in plan.datasets():
        found = _compare_dataset(layout, stage, plan, dataset, pinned, files)
        if found is not None:
            rerun[dataset] = found[0]
            issues += [i for i in found[1] if i not in issues]
    fix = _fix(rerun)
    return PinComparison([dataclasses.replace(i, fix=fix) for i in issues], rerun)


def _loaded_files(stage: StageConfig, resources: FilterResources | None) -> LoadedFiles:
    try:
        return LoadedFiles.of(stage, resources)
    except (OSError, ValueError) as err:
        issue = ConfigIssue(
            Path(stage.source_file), "spam_lists", stage.spam_lists, "readable phrase lists", str(err)
        )
        raise ConfigError([issue]) from err


def _fix(rerun: dict[str, str]) -> str:
    where = ", ".join(f"{dataset} from {step}" for dataset, step in rerun.items())
    return (
        "launch into a new --output DIR, or relaunch with --force-config to delete the affected outputs "
        f"and redo them ({where})"
    )


def _compare_dataset(
    layout: RunLayout,
    stage: StageConfig,
    plan: StagePlan,
    dataset: str,
    pinned: PinnedRun | None,
    files: LoadedFiles,
) -> tuple[str, list[ConfigIssue]] | None:
    """(first step whose output would change, why) for one dataset; None when nothing changes."""
    steps = [(s.step, s.tasks) for s in plan.for_dataset(dataset)]
    if pinned is not None and pinned.legacy:
        return _compare_legacy(layout, stage, dataset, steps, pinned)
    before = pinned.settings.get(dataset) if pinned else None
    if before is None:
        return _unpinned(layout, stage, dataset, steps[0][0], pinned)
    current = dataset_settings(stage, stage.dataset(dataset), files)
    if files.lid_model is None and "lid_model" in before and "lid_model" not in current:
        current["lid_model"] = before["lid_model"]  # unknown here: taken as pinned
    fingerprints = step_fingerprints(current, steps)
    pinned_fingerprints = pinned.fingerprints.get(dataset, {}) if pinned else {}
    first = next((step for step, _ in steps if fingerprints[step] != pinned_fingerprints.get(step)), None)
    if first is None:
        return None
    changed = _changed_settings(layout, stage, dataset, before, current)
    return first, changed or [_unexplained(layout, stage, dataset, first, pinned)]


def _changed_settings(
    layout: RunLayout, stage: StageConfig, dataset: str, before: dict[str, Any], now: dict[str, Any]
) -> list[ConfigIssue]:
    """One issue per setting that differs. A stage-level setting that only one side has (it came or went
    with `kind`, `filters` or `dedup`, which are shown) is left out."""
    keys = sorted(set(before) | set(now), key=lambda k: _KEY_ORDER.get(k, len(_KEY_ORDER)))
    return [
        ChangedSetting(
            Path(stage.source_file),
            setting_name(dataset, key),
            now.get(key),
            f"pinned by the run in {layout.stage_dir}",
            before=before.get(key),
        )
        for key in keys
        if before.get(key) != now.get(key) and (key not in STAGE_KEYS or (key in before and key in now))
    ]


def _unexplained(
    layout: RunLayout, stage: StageConfig, dataset: str, first: str, pinned: PinnedRun | None
) -> ConfigIssue:
    version = pinned.data.get("version", "?") if pinned else "?"
    return ConfigIssue(
        Path(stage.source_file),
        f"datasets[{dataset}]",
        f"the same settings, but other inputs for step {first}",
        f"step inputs that match the fingerprints in {layout.run_json} (written by smolprep {version}): "
        "this smolprep computes that step from other inputs",
    )


def _unpinned(
    layout: RunLayout, stage: StageConfig, dataset: str, first: str, pinned: PinnedRun | None
) -> tuple[str, list[ConfigIssue]] | None:
    """A dataset run.json does not list: fine unless the run directory already holds its outputs."""
    if not any(layout.completed_ranks(dataset, step) for step in REGISTRY.names):
        return None
    why = "is missing" if pinned is None else f"does not list {dataset}"
    issue = ConfigIssue(
        Path(stage.source_file),
        f"datasets[{dataset}]",
        "outputs made with an unknown config",
        f"a dataset pinned in {layout.run_json}: {layout.stage_dir} holds completed tasks of {dataset}, "
        f"but run.json {why}, so which config made them cannot be told",
    )
    return first, [issue]


def _compare_legacy(
    layout: RunLayout, stage: StageConfig, dataset: str, steps: list[tuple[str, int]], pinned: PinnedRun
) -> tuple[str, list[ConfigIssue]] | None:
    """A run.json of an older smolprep: only the config file's hash and the task counts can be compared."""
    if dataset not in pinned.tasks:
        return _unpinned(layout, stage, dataset, steps[0][0], pinned)
    if pinned.data.get("config_hash") == stage.config_hash and pinned.tasks[dataset] == dict(steps):
        return None
    issue = ConfigIssue(
        Path(stage.source_file),
        f"datasets[{dataset}]",
        "a config file changed since the launch",
        f"the config file as it was: {layout.run_json} was written by an older smolprep that kept only a hash "
        f"of {pinned.data.get('config', 'the config file')}, so which settings changed cannot be told "
        "(restoring the file as it was also works)",
    )
    return steps[0][0], [issue]


def pin_run(
    layout: RunLayout,
    stage: StageConfig,
    plan: StagePlan,
    resources: FilterResources,
    *,
    force_config: bool = False,
) -> PinComparison:
    """Write or extend run.json; call it under the launch lock. A config that changes outputs raises
    ConfigError, unless `force_config`: then the outputs of every changed step and the steps after it are
    removed first. Returns the comparison (what was rerun, if anything)."""
    comparison = compare_with_pin(layout, stage, plan, resources)
    if comparison.issues and not force_config:
        raise ConfigError(comparison.issues)
    for dataset, first in comparison.rerun.items():
        reset_from(layout, dataset, first)
    _write_pin(layout, stage, plan, LoadedFiles.of(stage, resources))
    return comparison


def _write_pin(layout: RunLayout, stage: StageConfig, plan: StagePlan, files: LoadedFiles) -> None:
    pinned = read_pinned(layout)
    keep = pinned.data if pinned is not None and not pinned.legacy else {}
    created = pinned.data.get("created") if pinned is not None else None
    data: dict[str, Any] = dict(keep) or {"created": created or time.time()}
    settings = dict(keep.get("resolved_config", {}))
    fingerprints = dict(keep.get("fingerprints", {}))
    tasks = {k: dict(v) for k, v in (pinned.tasks if pinned else {}).items()}
    for dataset in plan.datasets():
        steps = [(s.step, s.tasks) for s in plan.for_dataset(dataset)]
        settings[dataset] = dataset_settings(stage, stage.dataset(dataset), files)
        fingerprints[dataset] = step_fingerprints(settings[dataset], steps)
        tasks[dataset] = dict(steps)
    data.update(
        pin_format=PIN_FORMAT,
        stage=stage.name,
        config=str(Path(stage.source_file).resolve()),
        config_file_hash=stage.config_hash,
        config_hash=sha256(settings),
        resolved_config=settings,
        fingerprints=fingerprints,
        tasks=tasks,
        version=__version__,
    )
    if pinned is None or data != pinned.data:
        write_json_atomic(layout.run_json, data)
