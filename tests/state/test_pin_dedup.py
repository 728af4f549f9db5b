"""`dedup` took true or false before sentence dedup existed. A config that says `minhash` (or `true`, or
nothing) and one that says `none` (or `false`) pin exactly the settings and fingerprints they pinned then,
so runs launched before relaunch without refusal; `sentence` and `minhash+sentence` pin their own value and
the `sentence:` settings, and switching an existing run to them is refused (exit 2)."""

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
from smolprep.state.fingerprint import LoadedFiles, canonical, dataset_settings, sha256, step_fingerprints
from smolprep.state.layout import RunLayout
from tests.conftest import write_jsonl

STAGE = "pin-dedup"

# --- the computation as it was before `dedup` took method names (commit 15705f3), copied ---------------
OLD_DATASET_KEYS = (
    "source",
    "subset",
    "split",
    "path",
    "format",
    "glob",
    "text_key",
    "id_key",
    "kind",
    "filters",
    "language",
    "weight",
    "tasks",
    "sample_rate",
    "max_docs",
    "dedup",
)
OLD_STEP_INPUTS: dict[str, tuple[str, ...]] = {
    "filter": (*OLD_DATASET_KEYS, "seed", "spam_lists", "lid_model"),
    "minhash-signatures": ("minhash.n_grams", "minhash.num_buckets", "minhash.hashes_per_bucket"),
    "minhash-buckets": ("minhash.bucket_tasks_per_bucket",),
    "minhash-cluster": (),
    "minhash-filter": (),
}
OLD_STEPS = tuple(OLD_STEP_INPUTS)


def _old_settings(stage: StageConfig, name: str, files: LoadedFiles, old_dedup: bool) -> dict[str, Any]:
    """`dataset_settings` then; `old_dedup`: the boolean the dataset's `dedup` was."""
    spec = stage.dataset(name)
    settings: dict[str, Any] = {key: getattr(spec, key) for key in OLD_DATASET_KEYS}
    settings["dedup"] = old_dedup
    if settings["filters"] is None:
        del settings["filters"]
    settings["seed"] = stage.seed
    if old_dedup:
        for f in dataclasses.fields(stage.minhash):
            settings[f"minhash.{f.name}"] = getattr(stage.minhash, f.name)
    if spec.kind == "web":
        settings["spam_lists"] = files.spam_lists
    if spec.kind != "code" and files.lid_model is not None:
        settings["lid_model"] = files.lid_model
    return json.loads(canonical(settings))


def _old_steps(stage: StageConfig, name: str, old_dedup: bool) -> list[tuple[str, int]]:
    spec, m = stage.dataset(name), stage.minhash
    tasks = {"minhash-buckets": m.num_buckets * m.bucket_tasks_per_bucket, "minhash-cluster": 1}
    return [(step, tasks.get(step, spec.tasks)) for step in (OLD_STEPS if old_dedup else OLD_STEPS[:1])]


def _old_fingerprints(settings: dict[str, Any], steps: list[tuple[str, int]]) -> dict[str, str]:
    fingerprints: dict[str, str] = {}
    upstream = None
    for step, tasks in steps:
        inputs = {k: settings.get(k) for k in OLD_STEP_INPUTS[step] if k in settings or k != "filters"}
        payload = {"step": step, "tasks": tasks, "upstream": upstream, "inputs": inputs}
        upstream = fingerprints[step] = sha256(payload)
    return fingerprints


# ---------------------------------------------------------------------------------------------------------


def _body(**dedup: Any) -> dict:
    datasets: list[dict[str, Any]] = [
        {"name": "web", "path": "docs", "weight": 0.4},
        {"name": "math", "path": "docs", "kind": "math", "weight": 0.3, "tasks": 3},
        {"name": "code", "path": "docs", "kind": "code", "weight": 0.3},
    ]
    for spec in datasets:
        if spec["name"] in dedup:
            spec["dedup"] = dedup[spec["name"]]
    return {"name": STAGE, "minhash": {"num_buckets": 4}, "datasets": datasets}


def _stage(tmp_path: Path, body: dict, name: str = "stage.yaml") -> StageConfig:
    write_jsonl(tmp_path / "docs" / "a.jsonl", [{"text": "hello"}])
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return load_stage_config(path)


@pytest.mark.parametrize(
    ("written", "old"),
    [
        ({}, {"web": True, "math": True, "code": True}),
        ({"web": True, "math": False, "code": False}, {"web": True, "math": False, "code": False}),
        ({"web": "minhash", "math": "none", "code": "minhash"}, {"web": True, "math": False, "code": True}),
    ],
)
def test_minhash_and_none_have_the_settings_and_fingerprints_of_true_and_false(tmp_path, written, old):
    stage = _stage(tmp_path, _body(**written))
    files = LoadedFiles.of(stage, FilterResources.load(stage))
    plan = plan_stage(stage)
    for name, old_dedup in old.items():
        settings = dataset_settings(stage, stage.dataset(name), files)
        assert settings == _old_settings(stage, name, files, old_dedup), name
        steps = [(s.step, s.tasks) for s in plan.for_dataset(name)]
        assert steps == _old_steps(stage, name, old_dedup)
        assert step_fingerprints(settings, steps) == _old_fingerprints(settings, steps), name


def test_sentence_dedup_pins_its_method_and_its_settings(tmp_path):
    body = _body(web="sentence", math="minhash+sentence", code="none")
    body["sentence"] = {"n_sentences": 4}
    stage = _stage(tmp_path, body)
    files = LoadedFiles.of(stage, FilterResources.load(stage))
    web, math, code = (dataset_settings(stage, stage.dataset(n), files) for n in ("web", "math", "code"))
    assert (web["dedup"], math["dedup"], code["dedup"]) == ("sentence", "minhash+sentence", False)
    sentence = {"sentence.n_sentences": 4, "sentence.min_doc_words": 50, "sentence.min_num_sentences": 3}
    assert web.items() >= {**sentence, "sentence.find_tasks": 1}.items()
    assert not any(k.startswith("minhash.") for k in web) and "minhash.n_grams" in math
    assert "sentence.n_sentences" in math and not any(k.startswith(("minhash.", "sentence.")) for k in code)


def test_a_run_pinned_before_relaunches_and_a_switch_to_sentence_is_refused(tmp_path, capsys):
    """run.json as the smolprep before this change wrote it (settings and fingerprints computed the old way)
    matches `dedup: minhash`; changing a dataset to `sentence` then names the setting and exits 2."""
    stage = _stage(tmp_path, _body(web="minhash", math="none"))
    layout = RunLayout(tmp_path / "out", STAGE)
    pinning.pin_run(layout, stage, plan_stage(stage), FilterResources.load(stage))
    data = json.loads(layout.run_json.read_text())
    files = LoadedFiles.of(stage, FilterResources.load(stage))
    for name, old_dedup in {"web": True, "math": False, "code": True}.items():
        before = _old_settings(stage, name, files, old_dedup)
        data["resolved_config"][name] = before
        data["fingerprints"][name] = _old_fingerprints(before, _old_steps(stage, name, old_dedup))
    data["config_hash"] = sha256(data["resolved_config"])
    layout.run_json.write_text(json.dumps(data))

    assert (
        pinning.compare_with_pin(layout, stage, plan_stage(stage), FilterResources.load(stage)).issues == []
    )

    changed = _stage(tmp_path, _body(web="sentence", math="none"), "changed.yaml")
    comparison = pinning.compare_with_pin(layout, changed, plan_stage(changed), FilterResources.load(changed))
    assert comparison.rerun == {"web": "filter"}
    (issue,) = comparison.issues
    assert (issue.key, issue.value) == ("datasets[web].dedup", "sentence")
    argv = [
        "--config",
        str(tmp_path / "changed.yaml"),
        "--cluster",
        "local",
        "--output",
        str(tmp_path / "out"),
    ]
    assert main([*argv, "--dry-run"]) == 2
    assert "datasets[web].dedup" in " ".join(capsys.readouterr().err.split())
