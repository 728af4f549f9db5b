"""`filters` is pinned like every output-affecting setting, but only when it is not the default: a config that
leaves it out (or says `all`) has the settings and fingerprints it had before the key existed, so runs pinned
then relaunch as before, while a change of `filters` on a launched run is refused (exit 2)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from smolprep.cli import main
from smolprep.config.stage import StageConfig, load_stage_config
from smolprep.pipelines.build import FilterResources
from smolprep.plan import plan_stage
from smolprep.state import run as pinning
from smolprep.state.fingerprint import (
    DATASET_KEYS,
    STEP_INPUTS,
    LoadedFiles,
    canonical,
    dataset_settings,
    sha256,
    step_fingerprints,
)
from smolprep.state.layout import RunLayout
from tests.conftest import write_jsonl

STAGE = "pin-filters"


def _body(**filters: Any) -> dict:
    datasets = [
        {"name": "web", "path": "docs", "weight": 0.4},
        {"name": "math", "path": "docs", "kind": "math", "weight": 0.3},
        {"name": "code", "path": "docs", "kind": "code", "weight": 0.3, "dedup": False},
    ]
    for spec in datasets:
        if spec["name"] in filters:
            spec["filters"] = filters[spec["name"]]
    return {"name": STAGE, "minhash": {"num_buckets": 4}, "datasets": datasets}


def _write(tmp_path: Path, body: dict, name: str = "stage.yaml") -> Path:
    write_jsonl(tmp_path / "docs" / "a.jsonl", [{"text": "hello"}])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _stage(tmp_path: Path, body: dict, name: str = "stage.yaml") -> StageConfig:
    return load_stage_config(_write(tmp_path, body, name))


def _pin(tmp_path: Path, stage: StageConfig) -> RunLayout:
    layout = RunLayout(tmp_path / "out", STAGE)
    pinning.pin_run(layout, stage, plan_stage(stage), FilterResources.load(stage))
    return layout


# --- the fingerprint of a default config is the one computed without the key ---------------------------

LATER_KEYS = ("filters", "contents")  # dataset keys added after runs were pinned


def _settings_without_the_key(stage: StageConfig, name: str, files: LoadedFiles) -> dict[str, Any]:
    """`dataset_settings` as it was before `filters` existed (by kind only), and `contents` after it."""
    spec = stage.dataset(name)
    settings: dict[str, Any] = {key: getattr(spec, key) for key in DATASET_KEYS if key not in LATER_KEYS}
    settings["dedup"] = bool(spec.dedup)  # `dedup` was true or false then
    settings["seed"] = stage.seed
    if spec.dedup:
        for f in dataclasses.fields(stage.minhash):
            settings[f"minhash.{f.name}"] = getattr(stage.minhash, f.name)
    if spec.kind == "web":
        settings["spam_lists"] = files.spam_lists
    if spec.kind != "code" and files.lid_model is not None:
        settings["lid_model"] = files.lid_model
    return json.loads(canonical(settings))


def _fingerprints_without_the_key(settings: dict[str, Any], steps: list[tuple[str, int]]) -> dict[str, str]:
    fingerprints: dict[str, str] = {}
    upstream = None
    for step, tasks in steps:
        keys = [key for key in STEP_INPUTS[step] if key not in LATER_KEYS]
        payload = {
            "step": step,
            "tasks": tasks,
            "upstream": upstream,
            "inputs": {k: settings.get(k) for k in keys},
        }
        upstream = fingerprints[step] = sha256(payload)
    return fingerprints


@pytest.mark.parametrize("written", [{}, {"web": "all", "math": "all", "code": "all"}])
def test_a_default_config_has_the_settings_and_fingerprints_it_had_before(tmp_path, written):
    stage = _stage(tmp_path, _body(**written))
    files = LoadedFiles.of(stage, FilterResources.load(stage))
    plan = plan_stage(stage)
    for name in ("web", "math", "code"):
        settings = dataset_settings(stage, stage.dataset(name), files)
        assert "filters" not in settings
        assert settings == _settings_without_the_key(stage, name, files)
        steps = [(s.step, s.tasks) for s in plan.for_dataset(name)]
        assert step_fingerprints(settings, steps) == _fingerprints_without_the_key(settings, steps)


def test_a_run_pinned_without_the_key_relaunches_with_a_default_config(tmp_path, capsys):
    """run.json as a smolprep without `filters` wrote it: settings and fingerprints computed without the key."""
    stage = _stage(tmp_path, _body())
    layout = _pin(tmp_path, stage)
    data = json.loads(layout.run_json.read_text())
    files = LoadedFiles.of(stage, FilterResources.load(stage))
    for name in ("web", "math", "code"):
        steps = [(s.step, s.tasks) for s in plan_stage(stage).for_dataset(name)]
        before = _settings_without_the_key(stage, name, files)
        data["resolved_config"][name] = before
        data["fingerprints"][name] = _fingerprints_without_the_key(before, steps)
    layout.run_json.write_text(canonical(data))
    written = layout.run_json.read_bytes()
    for body in (_body(), _body(web="all", math="all", code=["code-sanity"])):
        again = _write(tmp_path, body, "again.yaml")
        args = ["--config", str(again), "--cluster", "local", "--output", str(tmp_path / "out"), "--dry-run"]
        assert main(args) == 0, capsys.readouterr().err
        assert layout.run_json.read_bytes() == written


# --- a change of `filters` is refused like any output-affecting change -----------------------------------


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        ({}, {"web": ["language"]}, "datasets[web].filters: unset -> [language]"),
        ({"web": ["language"]}, {}, "datasets[web].filters: [language] -> unset"),
        ({"web": "none"}, {"web": ["language"]}, "datasets[web].filters: [] -> [language]"),
        (
            {},
            {"math": ["language", "gopher-quality"]},
            "datasets[math].filters: unset -> [language, gopher-quality]",
        ),
        ({}, {"code": "none"}, "datasets[code].filters: unset -> []"),
    ],
)
def test_changing_filters_on_a_launched_run_is_refused(tmp_path, capsys, before, after, shown):
    layout = _pin(tmp_path, _stage(tmp_path, _body(**before)))
    written = layout.run_json.read_bytes()
    changed = _write(tmp_path, _body(**after), "changed.yaml")
    capsys.readouterr()
    for extra in (["--dry-run"], []):
        code = main(
            ["--config", str(changed), "--cluster", "local", "--output", str(tmp_path / "out"), *extra]
        )
        err = capsys.readouterr().err
        assert code == 2 and shown in err and "--force-config" in err, err
        assert "Traceback" not in err
        assert layout.run_json.read_bytes() == written


def test_the_filter_step_and_everything_after_it_rerun(tmp_path):
    layout = _pin(tmp_path, _stage(tmp_path, _body()))
    changed = _stage(tmp_path, _body(web=["language"], code="none"), "changed.yaml")
    comparison = pinning.compare_with_pin(layout, changed, plan_stage(changed))
    assert comparison.rerun == {"web": "filter", "code": "filter"}


def test_the_order_of_the_names_changes_nothing(tmp_path):
    layout = _pin(tmp_path, _stage(tmp_path, _body(web=["language", "spam"])))
    same = _stage(tmp_path, _body(web=["spam", "language"]), "same.yaml")
    assert pinning.check_against_pin(layout, same, plan_stage(same)) == []


def test_files_of_filters_a_dataset_does_not_run_are_not_pinned(tmp_path):
    """Without `spam` the phrase lists change nothing; without `language` neither does the LID model."""
    stage = _stage(tmp_path, _body(web=["language"], math=["repetition", "gopher-quality"]))
    resources = FilterResources.load(stage)
    files = LoadedFiles.of(stage, resources)
    web, math = (dataset_settings(stage, stage.dataset(n), files) for n in ("web", "math"))
    assert "spam_lists" not in web and "lid_model" in web
    assert "spam_lists" not in math and "lid_model" not in math
    layout = _pin(tmp_path, stage)
    fewer = dataclasses.replace(resources, spam_phrases=resources.spam_phrases[1:])
    assert pinning.compare_with_pin(layout, stage, plan_stage(stage), fewer).rerun == {}
