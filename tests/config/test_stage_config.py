"""Stage config loading: defaults, and every validation error names file, key, value, expectation, fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolprep.config.errors import ConfigError
from smolprep.config.stage import load_stage_config
from tests.conftest import write_jsonl


def _config(tmp_path: Path, body: str) -> Path:
    write_jsonl(tmp_path / "en" / "a.jsonl", [{"text": "hello"}])
    write_jsonl(tmp_path / "vi" / "a.jsonl", [{"text": "xin chào"}])
    path = tmp_path / "stage.yaml"
    path.write_text(body)
    return path


def _issues(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_stage_config(path)
    return [str(i) for i in info.value.issues]


def test_minimal_config_gets_defaults(tmp_path):
    stage = load_stage_config(
        _config(tmp_path, "name: mini\ndatasets:\n  - {name: en, path: en}\n  - {name: vi, path: vi}\n")
    )
    en, vi = stage.datasets
    assert (en.kind, en.language, en.tasks, en.format, en.dedup, en.sample_rate) == (
        "web",
        ("en",),
        2,
        "jsonl",
        ("minhash",),
        1.0,
    )
    assert en.weight == vi.weight == 0.5
    assert Path(en.path) == (tmp_path / "en").resolve()
    assert en.origin == str((tmp_path / "en").resolve())
    assert stage.minhash.num_buckets == 20 and len(stage.config_hash) == 64


def test_language_list_and_source_dataset(tmp_path):
    stage = load_stage_config(
        _config(
            tmp_path,
            "name: s\ndatasets:\n"
            "  - {name: both, path: en, language: [en, vi], weight: 0.25}\n"
            "  - {name: hub, source: HuggingFaceFW/fineweb-2, subset: vie_Latn, language: vi, weight: 0.75}\n",
        )
    )
    both, hub = stage.datasets
    assert both.language == ("en", "vi")
    assert (hub.source, hub.subset, hub.split, hub.format, hub.origin) == (
        "HuggingFaceFW/fineweb-2",
        "vie_Latn",
        "train",
        None,
        "HuggingFaceFW/fineweb-2",
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "name: s\ndatasets:\n  - {name: en, path: en, langauge: en}\n",
            ["datasets[0] (en).langauge", "did you mean 'language'"],
        ),
        ("name: s\nfoo: 1\ndatasets:\n  - {name: en, path: en}\n", ["foo: got 1", "one of the keys name"]),
        (
            "name: s\ndatasets:\n  - {name: en, path: en}\n  - {name: en, path: vi}\n",
            ["datasets[1] (en).name", "datasets[0] has the same name"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: nowhere}\n",
            ["datasets[0] (en).path: got 'nowhere'; expected an existing folder"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, weight: 0.5}\n  - {name: vi, path: vi, weight: 0.4}\n",
            ["datasets[].weight: got 0.9", "sum"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, weight: 0.5}\n  - {name: vi, path: vi}\n",
            ["a weight on every dataset, or on none", "vi"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, kind: prose}\n",
            ["datasets[0] (en).kind: got 'prose'; expected one of web, code, math"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, language: [en, xx]}\n",
            ["datasets[0] (en).language", "unknown: xx"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, tasks: two}\n",
            ["datasets[0] (en).tasks: got 'two'; expected an integer >= 1"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, tasks: 0}\n",
            ["tasks: got 0; expected an integer >= 1"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, sample_rate: 0}\n",
            ["sample_rate: got 0; expected a number in (0.0, 1.0]"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, dedup: maybe}\n",
            ["dedup: got 'maybe'; expected one of minhash, sentence, minhash+sentence, none"],
        ),
        ("name: s\ndatasets:\n  - {name: En Web, path: en}\n", ["datasets[0] (En Web).name", "lowercase"]),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, source: a/b}\n",
            ["exactly one of `source`", "`path`"],
        ),
        ("name: s\ndatasets:\n  - {name: en}\n", ["exactly one of `source`"]),
        ("name: s\ndatasets: []\n", ["datasets: got []; expected a non-empty list"]),
        ("datasets:\n  - {name: en, path: en}\n", ["name: got None; expected a value"]),
        (
            "name: s\nminhash: {num_buckets: -1}\ndatasets:\n  - {name: en, path: en}\n",
            ["minhash.num_buckets: got -1"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, format: csv}\n",
            ["format: got 'csv'; expected one of jsonl, parquet, hf"],
        ),
        (
            "name: s\ndatasets:\n  - {name: en, path: en, glob: '*.parquet'}\n",
            ["a folder with input files matching '*.parquet'"],
        ),
        ("name: s\ndatasets: [\n", ["(syntax)", "valid YAML"]),
        ("- just\n- a list\n", ["(top level)", "a mapping"]),
    ],
)
def test_each_error_names_file_key_value_and_expectation(tmp_path, body, expected):
    path = _config(tmp_path, body)
    issues = _issues(path)
    text = "\n".join(issues)
    assert all(i.startswith(f"{path}: ") for i in issues), text
    for fragment in expected:
        assert fragment in text, text


def test_all_problems_reported_at_once(tmp_path):
    body = "name: s\ndatasets:\n  - {name: a, path: en, kind: x}\n  - {name: b, path: en, tasks: -3}\n"
    assert len(_issues(_config(tmp_path, body))) == 2


def test_relative_path_found_from_working_directory(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "data" / "en" / "x.jsonl", [{"text": "hi"}])
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "s.yaml"
    path.write_text("name: s\ndatasets:\n  - {name: en, path: data/en}\n")
    monkeypatch.chdir(tmp_path)
    assert Path(load_stage_config(path).datasets[0].path) == (tmp_path / "data" / "en").resolve()


@pytest.mark.parametrize(("stage", "count"), [(1, 41), (2, None), (3, None)])
def test_shipped_smollm3_stage_configs_are_valid(root, stage, count):
    config = load_stage_config(root / "configs" / f"stage{stage}.yaml")
    if count is not None:
        assert len(config.datasets) == count
    assert abs(sum(d.weight or 0 for d in config.datasets) - 1) <= 0.01
    vie = [d for d in config.datasets if d.name == "fw2-vie"]
    assert vie and vie[0].language == ("vi",)
    assert {d.kind for d in config.datasets} == {"web", "code", "math"}
    assert all(d.source for d in config.datasets)


def test_stage1_vietnamese_weight_matches_smollm3(root):
    config = load_stage_config(root / "configs" / "stage1.yaml")
    assert config.dataset("fw2-vie").weight == pytest.approx(0.00325)
    assert config.dataset("fineweb-edu").weight == pytest.approx(0.333)


def test_config_reference_documents_every_key_and_the_task_bound(root):
    import dataclasses

    from smolprep.config.stage import (
        MAX_TASKS_PER_STEP,
        DatasetSpec,
        MinhashSettings,
        SentenceSettings,
        StageConfig,
    )

    doc = (root / "docs" / "config.md").read_text()
    for cls in (StageConfig, DatasetSpec, MinhashSettings, SentenceSettings):
        for field in dataclasses.fields(cls):
            if "help" in field.metadata:
                assert f"| `{field.name}` |" in doc, f"docs/config.md lacks {cls.__name__}.{field.name}"
    assert f"{MAX_TASKS_PER_STEP:,}" in doc and "--force-config" in doc


@pytest.mark.parametrize("absolute", [True, False])
def test_a_missing_folder_names_each_place_looked_in_once(tmp_path, monkeypatch, absolute) -> None:
    """An absolute path is looked for in one place, so the message names it once; a relative one next to
    the config and in the working directory."""
    monkeypatch.chdir(tmp_path / ".." if not absolute else tmp_path)
    missing = tmp_path / "nowhere" if absolute else Path("nowhere")
    config = tmp_path / "stage.yaml"
    config.write_text(f"name: s\ndatasets:\n  - {{name: en, path: {missing}}}\n")
    with pytest.raises(ConfigError) as raised:
        load_stage_config(config)
    fix = raised.value.issues[0].fix
    if absolute:
        assert fix == f"looked in {tmp_path / 'nowhere'}"
    else:
        assert fix == f"looked in {tmp_path / 'nowhere'} and {(tmp_path / '..' / 'nowhere').resolve()}"
