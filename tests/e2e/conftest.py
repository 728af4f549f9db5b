"""One local run of the shipped sample stage, shared by the end-to-end tests (it takes about a minute)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.config.stage import StageConfig, load_stage_config
from smolprep.plan import plan_stage
from smolprep.state.layout import RunLayout

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class StageRun:
    config: StageConfig
    layout: RunLayout
    exit_code: int
    stdout: str

    def relaunch(self, capsys) -> tuple[int, str]:
        code = main(
            ["--config", self.config.source_file, "--cluster", "local", "--output", str(self.layout.root)]
        )
        return code, capsys.readouterr().out


def run_stage(config_path: Path, output: Path, capsys=None) -> StageRun:
    code = main(["--config", str(config_path), "--cluster", "local", "--output", str(output)])
    stdout = capsys.readouterr().out if capsys else ""
    config = load_stage_config(config_path)
    return StageRun(config, RunLayout(output.resolve(), config.name), code, stdout)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> StageRun:
    output = tmp_path_factory.mktemp("sample-run")
    run = run_stage(ROOT / "configs" / "sample.yaml", output)
    assert run.exit_code == 0, "the sample stage failed; see the logs under " + str(run.layout.stage_dir)
    assert len(plan_stage(run.config).steps) == 15
    return run
