"""The command line: exit codes, nothing written on a bad config, the stage 1 dry-run offline."""

from __future__ import annotations

import math
import subprocess
import sys

from smolprep.cli import main
from smolprep.config.profile import load_profile
from smolprep.config.stage import load_stage_config
from smolprep.plan import plan_stage
from smolprep.slurm.limits import cluster_limits, fit_plan
from tests.conftest import write_jsonl


def test_missing_folder_exits_2_names_it_and_writes_nothing(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("name: bad\ndatasets:\n  - {name: en, path: no-such-folder}\n")
    out = tmp_path / "out"
    code = main(["--config", str(config), "--cluster", "local", "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-folder" in err and str(config) in err and "expected an existing folder" in err
    assert not out.exists()


def test_unknown_stage_and_no_stage_are_usage_errors(capsys):
    assert main(["--stage", "9", "--dry-run"]) == 2
    assert "stages available: 1, 2, 3" in capsys.readouterr().err
    assert main(["--dry-run"]) == 2
    assert "--stage N or --config PATH" in capsys.readouterr().err


def test_unknown_cluster_profile_lists_the_available_ones(tmp_path, capsys):
    write_jsonl(tmp_path / "en" / "a.jsonl", [{"text": "hi"}])
    config = tmp_path / "s.yaml"
    config.write_text("name: s\ndatasets:\n  - {name: en, path: en}\n")
    assert main(["--config", str(config), "--cluster", "nope", "--dry-run"]) == 2
    assert "local" in capsys.readouterr().err


def test_unknown_dataset_selection_is_a_usage_error(root, capsys):
    assert main(["--stage", "1", "--dry-run", "--datasets", "fineweb-edu,nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_stage1_dry_run_offline_prints_the_plan_and_every_sbatch_script(root, tmp_path):
    env = {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SLURM_CONF": str(tmp_path / "no-slurm.conf"),  # any Slurm command would fail
    }
    result = subprocess.run(
        [
            sys.executable,
            str(root / "launch.py"),
            "--stage",
            "1",
            "--dry-run",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "41 datasets, 205 steps" in result.stdout
    assert "fw2-vie" in result.stdout and "minhash-cluster" in result.stdout
    assert not (tmp_path / "o").exists()
    stage = load_stage_config(root / "configs" / "stage1.yaml")
    plan = plan_stage(stage)
    fit = fit_plan(plan, cluster_limits(load_profile("slurm"), None), load_profile("slurm").max_tasks_per_job)
    per_job = fit.tasks_per_job
    chunks = sum(math.ceil(math.ceil(s.tasks / per_job[(s.dataset, s.step)]) / 1001) for s in plan.steps)
    assert result.stdout.count("#!/bin/bash\n#SBATCH --job-name=smolprep-stage1-") == chunks
    assert f"peak queued {fit.peak_queued} of at most 5000: fits" in result.stdout
    for dataset in stage.datasets:
        for step in ("filter", "minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter"):
            assert f"#SBATCH --job-name=smolprep-stage1-{dataset.name}-{step}\n" in result.stdout


def test_help_explains_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--cluster" in out and "--dry-run" in out and "configs/sample.yaml" in out
