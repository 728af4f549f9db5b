"""Shared fixtures and helpers: small JSONL inputs, local stage runs, the shared sample run."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.config.stage import StageConfig, load_stage_config
from smolprep.plan import plan_stage
from smolprep.state.layout import RunLayout

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


def write_jsonl(path: Path, records: Iterable[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def read_jsonl_folder(folder: Path) -> list[dict]:
    records = []
    for file in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def write_marked_copies(folder: Path, copies: int) -> None:
    """``copies`` files, each the whole English sample with ids and texts marked by the copy number: a filter
    task runs for seconds however fast the filters are, and no copy is a duplicate of another."""
    documents = read_jsonl_folder(ROOT / "sample" / "en-web")
    for copy in range(copies):
        write_jsonl(
            folder / f"part-{copy}.jsonl.gz",
            [{"id": f"{d['id']}#{copy}", "text": f"{d['text']}\n\nCopy {copy}."} for d in documents],
        )


def sample_texts(dataset: str) -> list[str]:
    """The texts of one dataset of the shipped sample (``sample/<dataset>``), in file order."""
    return [record["text"] for record in read_jsonl_folder(ROOT / "sample" / dataset)]


@dataclass
class StageRun:
    config: StageConfig
    layout: RunLayout
    exit_code: int
    stdout: str

    def relaunch(self, capsys, cluster: str = "local") -> tuple[int, str]:
        args = ["--config", self.config.source_file, "--cluster", cluster, "--output", str(self.layout.root)]
        return main(args), capsys.readouterr().out


def run_stage(config_path: Path, output: Path, capsys=None, cluster: str = "local", extra=()) -> StageRun:
    code = main(["--config", str(config_path), "--cluster", cluster, "--output", str(output), *extra])
    stdout = capsys.readouterr().out if capsys else ""
    config = load_stage_config(config_path)
    return StageRun(config, RunLayout(output.resolve(), config.name), code, stdout)


def run_held_out_stage(base: Path, config_name: str) -> tuple[Path, StageRun]:
    """Run the held-out evaluation's shape of config, a file with only `name` and `datasets`, on the three
    datasets the caller wrote under ``base/data/{en,vi,code}`` (web en, web vi, code)."""
    config = base / config_name
    config.write_text(
        "name: held-out\n"
        "datasets:\n"
        "  - {name: en, path: data/en, kind: web, language: en}\n"
        "  - {name: vi, path: data/vi, kind: web, language: vi}\n"
        "  - {name: code, path: data/code, kind: code}\n"
    )
    run = run_stage(config, base / "out")
    assert run.exit_code == 0, f"the held-out stage failed; logs in {run.layout.stage_dir / 'logs'}"
    return config, run


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> StageRun:
    output = tmp_path_factory.mktemp("sample-run")
    run = run_stage(ROOT / "configs" / "sample.yaml", output)
    assert run.exit_code == 0, "the sample stage failed; see the logs under " + str(run.layout.stage_dir)
    assert len(plan_stage(run.config).steps) == 15
    return run
