"""`launch.py export nanotron`: the data_stages block of a nanotron config, checked against our stage configs
and against a trimmed copy of SmolLM3's own training configs (tests/data/smollm3/data_stages.yaml)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from smolprep.cli import main
from smolprep.commands import export
from smolprep.commands.registry import COMMANDS
from smolprep.config.stage import StageConfig, load_stage_config
from smolprep.export import nanotron
from smolprep.paths import configs_dir

SMOLLM3 = Path(__file__).resolve().parents[1] / "data" / "smollm3" / "data_stages.yaml"
COMMANDS_WITH_EXPORT = COMMANDS.with_command(export.COMMAND)


def run(*argv: str) -> int:
    return main(["export", *argv], commands=COMMANDS_WITH_EXPORT)


def write_config(folder: Path, name: str, budget: int | None, datasets: dict[str, float]) -> Path:
    """A stage config of Hub datasets (nothing to find on disk) with these weights."""
    lines = [f"name: {name}"] + ([f"token_budget: {budget}"] if budget is not None else [])
    lines.append("datasets:")
    lines += [f"  - {{name: {d}, source: org/{d}, weight: {w}}}" for d, w in datasets.items()]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stage(folder: Path, name: str, budget: int | None, datasets: dict[str, float]) -> StageConfig:
    return load_stage_config(write_config(folder, name, budget, datasets))


def smollm3() -> dict:
    return yaml.safe_load(SMOLLM3.read_text(encoding="utf-8"))


# (1) stages 1, 2, 3 in one file: our configs' datasets and weights, SmolLM3's structure


def test_stages_1_2_3_export_our_mixtures_in_smollm3s_shape(tmp_path, capsys):
    out = tmp_path / "data_stages.yaml"
    argv = ["nanotron", "--stage", "1", "--stage", "2", "--stage", "3", "--cluster", "local"]
    assert run(*argv, "--output", str(tmp_path / "runs"), "-o", str(out)) == 0
    ours = yaml.safe_load(out.read_text(encoding="utf-8"))["data_stages"]
    reference = smollm3()["data_stages"]
    assert len(ours) == len(reference) == 3
    for number, (entry, theirs) in enumerate(zip(ours, reference, strict=True), start=1):
        config = load_stage_config(configs_dir() / f"stage{number}.yaml")
        dataset = entry["data"]["dataset"]
        names = [Path(folder).name for folder in dataset[nanotron.FOLDERS_KEY]]
        assert names == [d.name for d in config.datasets]
        assert dataset[nanotron.WEIGHTS_KEY] == [d.weight for d in config.datasets]
        assert entry["name"] == config.name
        assert_same_structure(entry, theirs)
        assert_weights_match_where_datasets_correspond(names, dataset[nanotron.WEIGHTS_KEY], theirs)


def assert_same_structure(entry: dict, theirs: dict) -> None:
    assert list(entry) == list(theirs)  # data, name, start_training_step
    assert list(entry["data"]) == list(theirs["data"])  # dataset, num_loading_workers, seed
    ours_keys, their_keys = set(entry["data"]["dataset"]), set(theirs["data"]["dataset"])
    assert {nanotron.FOLDERS_KEY, nanotron.WEIGHTS_KEY} <= ours_keys <= their_keys
    for key in (nanotron.FOLDERS_KEY, nanotron.WEIGHTS_KEY):
        assert isinstance(entry["data"]["dataset"][key], list)
    for key in ("num_loading_workers", "seed"):
        assert entry["data"][key] == theirs["data"][key]


def assert_weights_match_where_datasets_correspond(names: list[str], weights: list[float], theirs: dict):
    """Our dataset names are the basenames of SmolLM3's dataset_read_path, lowercased."""
    dataset = theirs["data"]["dataset"]
    their_names = [Path(p).name.lower() for p in dataset["dataset_read_path"]]
    positions = [names.index(n) for n in their_names]  # every kept SmolLM3 dataset is one of ours
    assert positions == sorted(positions)  # in the same order
    assert [weights[i] for i in positions] == dataset["dataset_weights"]


# (2) folders are named before they exist, with a warning each


def test_folders_are_named_before_they_exist_with_a_warning_each(tmp_path):
    alpha = stage(tmp_path, "alpha", 1000, {"web-a": 0.75, "web-b": 0.25})
    root = tmp_path / "runs"
    [entry] = nanotron.data_stages([alpha], [root])
    folders = entry["data"]["dataset"][nanotron.FOLDERS_KEY]
    assert folders == [
        str(root / "alpha" / "tokenized" / "web-a"),
        str(root / "alpha" / "tokenized" / "web-b"),
    ]
    assert not root.exists()
    warnings = nanotron.export_warnings([alpha], [root], max_epochs=4, global_batch_size=1, sequence_length=1)
    assert len(warnings) == 2
    for folder, warning in zip(folders, warnings, strict=True):
        assert folder in warning and "does not exist yet" in warning

    (Path(folders[0]) / "000_web-a.ds").parent.mkdir(parents=True)
    (Path(folders[0]) / "000_web-a.ds").write_bytes(b"\0" * 8)
    Path(folders[1]).mkdir(parents=True)
    warnings = nanotron.export_warnings([alpha], [root], max_epochs=4, global_batch_size=1, sequence_length=1)
    assert warnings == [f"alpha/web-b: {folders[1]} holds no tokenized shard (*.ds) yet"]


# (3) the manifest: epochs above the limit, zero tokens


def write_manifest(root: Path, stage_name: str, datasets: dict[str, dict]) -> None:
    path = root / stage_name / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": 1, "stage": stage_name, "datasets": datasets}), encoding="utf-8")


def with_shards(root: Path, stage: StageConfig) -> None:
    for spec in stage.datasets:
        folder = nanotron.tokenized_folder(root, stage.name, spec.name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"000_{spec.name}.ds").write_bytes(b"\0" * 8)


def test_a_manifest_with_too_many_epochs_or_no_tokens_warns_naming_the_dataset(tmp_path):
    alpha = stage(tmp_path, "alpha", 1000, {"web-a": 0.5, "web-b": 0.3, "web-c": 0.2})
    root = tmp_path / "runs"
    with_shards(root, alpha)
    write_manifest(
        root,
        "alpha",
        {
            "web-a": {"weight": 0.5, "tokens_out": 100, "epochs": 5.0},
            "web-b": {"weight": 0.3, "tokens_out": 0, "epochs": None},
            "web-c": {"weight": 0.2, "tokens_out": 200, "epochs": 1.0},
        },
    )
    warnings = nanotron.export_warnings([alpha], [root], max_epochs=4, global_batch_size=1, sequence_length=1)
    assert len(warnings) == 2
    assert warnings[0].startswith("alpha/web-a: ") and "5.00 times, above 4 epochs" in warnings[0]
    assert warnings[1].startswith("alpha/web-b: ") and "0 tokens" in warnings[1]
    # the limit is the caller's
    relaxed = nanotron.export_warnings([alpha], [root], max_epochs=6, global_batch_size=1, sequence_length=1)
    assert [w.split(":")[0] for w in relaxed] == ["alpha/web-b"]


def test_the_command_prints_manifest_warnings_on_stderr(tmp_path, capsys):
    config = write_config(tmp_path, "alpha", 1000, {"web-a": 0.5, "web-b": 0.5})
    root = tmp_path / "runs"
    with_shards(root, load_stage_config(config))
    write_manifest(
        root,
        "alpha",
        {"web-a": {"tokens_out": 10, "epochs": 50.0}, "web-b": {"tokens_out": 500, "epochs": 1.0}},
    )
    argv = ["nanotron", "--config", str(config), "--output", str(root), "--cluster", "local"]
    assert run(*argv, "--global-batch-size", "10", "--sequence-length", "100", "--max-epochs", "40") == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "warning: alpha/web-a: the manifest says training repeats it 50.00 times, above 40 epochs "
        "(lower its weight or give it more data)"
    ]
    assert yaml.safe_load(captured.out)["data_stages"][0]["name"] == "alpha"


# (4) start_training_step


def test_each_stage_starts_when_the_previous_budget_is_consumed(tmp_path):
    stages = [
        stage(tmp_path, "a", 1000, {"x": 1.0}),
        stage(tmp_path, "b", 2400, {"x": 1.0}),
        stage(tmp_path, "c", None, {"x": 1.0}),  # the last stage needs no budget
    ]
    exported = nanotron.data_stages(stages, [tmp_path] * 3, global_batch_size=4, sequence_length=100)
    # 400 tokens per step: a takes ceil(1000 / 400) = 3 steps, b 2400 / 400 = 6
    assert [e["start_training_step"] for e in exported] == [1, 1 + 3, 1 + 3 + 6]
    warnings = nanotron.export_warnings(stages, [tmp_path] * 3, 4, global_batch_size=4, sequence_length=100)
    assert [w for w in warnings if "whole number of steps" in w] == [
        "stage a: token_budget 1,000 is not a whole number of steps of 400 tokens; it trains 3 steps (1,200 tokens)"
    ]
    with pytest.raises(nanotron.ExportError, match=r"stage c .* has no token_budget"):
        nanotron.data_stages([stages[2], stages[0]], [tmp_path] * 2)


def test_smollm3s_batch_and_our_budgets_give_smollm3s_start_steps():
    reference = smollm3()
    tokens = reference["tokens"]
    batch = (
        reference["parallelism"]["dp"] * tokens["micro_batch_size"] * tokens["batch_accumulation_per_replica"]
    )
    assert (batch, tokens["sequence_length"]) == (
        nanotron.SMOLLM3_GLOBAL_BATCH_SIZE,
        nanotron.SMOLLM3_SEQUENCE_LENGTH,
    )
    stages = [load_stage_config(configs_dir() / f"stage{n}.yaml") for n in (1, 2, 3)]
    starts = nanotron.start_steps(stages, batch, tokens["sequence_length"])
    assert starts == [s["start_training_step"] for s in reference["data_stages"]]
    last = stages[-1].token_budget
    assert last is not None
    assert starts[-1] + math.ceil(last / (batch * tokens["sequence_length"])) - 1 == tokens["train_steps"]


# (5) the command: exit codes and the -o file


def test_the_output_file_is_valid_yaml_and_the_yaml_on_stdout_is_the_same(tmp_path, capsys):
    config = write_config(tmp_path, "alpha", 2 * 576 * 4096, {"web-a": 0.5, "web-b": 0.5})
    argv = ["nanotron", "--config", str(config), "--output", str(tmp_path / "runs"), "--cluster", "local"]
    out = tmp_path / "out" / "nanotron.yaml"
    assert run(*argv, "-o", str(out)) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"Wrote {out}")
    assert [line.split(":")[0] for line in captured.err.splitlines()] == ["warning"] * 2
    written = out.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.parent.iterdir()) == ["nanotron.yaml"]  # no temporary file left
    assert yaml.safe_load(written)["data_stages"][0]["start_training_step"] == 1
    assert run(*argv) == 0
    assert capsys.readouterr().out == written


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, "alpha", 4096, {"web-a": 1.0})
    out = tmp_path / "nanotron.yaml"
    out.write_text("previous\n", encoding="utf-8")

    def refuse(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("smolprep.state.atomic.os.replace", refuse)
    argv = ["nanotron", "--config", str(config), "--output", str(tmp_path), "--cluster", "local"]
    assert run(*argv, "-o", str(out)) == 2
    assert "cannot write" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.yaml", "nanotron.yaml"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nanotron"], "say which stages to export"),
        (["megatron", "--stage", "1"], "invalid choice: 'megatron'"),
        (["nanotron", "--stage", "9"], "--stage 9: no "),
        (["nanotron", "--stage", "1", "--stage", "1"], "stage stage1 is named more than once"),
        (["nanotron", "--stage", "1", "--global-batch-size", "0"], "expected a whole number >= 1"),
    ],
)
def test_bad_usage_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "nanotron.yaml"
    assert run(*argv, "--cluster", "local", "--output", str(tmp_path), "-o", str(out)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_stage_without_budget_before_another_exits_2(tmp_path, capsys):
    first = write_config(tmp_path, "first", None, {"web-a": 1.0})
    second = write_config(tmp_path, "second", 100, {"web-a": 1.0})
    argv = ["nanotron", "--config", str(first), "--config", str(second), "--cluster", "local"]
    assert run(*argv, "--output", str(tmp_path)) == 2
    assert "stage first" in capsys.readouterr().err
    # in the other order the last stage goes without a budget: fine
    argv = ["nanotron", "--config", str(second), "--config", str(first), "--cluster", "local"]
    assert run(*argv, "--output", str(tmp_path)) == 0
    names = [s["name"] for s in yaml.safe_load(capsys.readouterr().out)["data_stages"]]
    assert names == ["second", "first"]
