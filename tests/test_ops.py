"""The operating commands (status, logs, resubmit, cancel, report) on real local runs: failed local tasks,
missing run directories, bad option values, the verdict line, a config that no longer matches the run,
and machines without Slurm."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from tests.conftest import StageRun, run_stage, write_jsonl

CONFIG = """\
name: ops
minhash: {num_buckets: 2}
datasets:
  - {name: code, path: code, kind: code, tasks: 2}
  - {name: notes, path: notes, kind: code, tasks: 1, dedup: false}
"""
MISSING_RUN = "launch it first, or check --output / --cluster"
COMMANDS = ("status", "logs", "resubmit", "cancel", "report")


def _sources(n: int, tag: str) -> list[dict]:
    body = "def {name}(values):\n    total = 0\n    for v in values:\n        total += v * {k}\n    return total\n"
    return [{"text": body.format(name=f"{tag}_sum_{k}", k=k), "id": f"{tag}-{k}"} for k in range(n)]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> StageRun:
    base = tmp_path_factory.mktemp("ops")
    write_jsonl(base / "code" / "a.jsonl", _sources(6, "a"))
    write_jsonl(base / "code" / "b.jsonl", _sources(6, "b"))
    write_jsonl(base / "notes" / "a.jsonl", _sources(3, "n"))
    (base / "ops.yaml").write_text(CONFIG)
    run = run_stage(base / "ops.yaml", base / "out")
    assert run.exit_code == 0, f"the local run failed; logs in {run.layout.stage_dir / 'logs'}"
    return run


@pytest.fixture
def run_copy(local_run, tmp_path) -> StageRun:
    """A copy of the finished local run that a test may damage."""
    output = tmp_path / "out"
    shutil.copytree(local_run.layout.root, output)
    return StageRun(local_run.config, RunLayout(output.resolve(), "ops"), 0, "")


def cli(capsys, command: str, run: StageRun, *extra: str, config: str | None = None) -> tuple[int, str, str]:
    argv = [command, "--config", config or run.config.source_file, "--cluster", "local"]
    code = main([*argv, "--output", str(run.layout.root), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def status_json(capsys, run: StageRun) -> dict:
    code, out, _ = cli(capsys, "status", run, "--json")
    assert code == 0
    return json.loads(out)


def fail_rank(
    run: StageRun, dataset: str, step: str, rank: int, error: str, keep_marker: bool = False
) -> Path:
    """What a local task that raised leaves: no completion marker, a failure record next to its log."""
    layout = run.layout
    if not keep_marker:
        (layout.completions(dataset, step) / f"{rank:05d}").unlink()
    log = layout.logs(dataset, step) / "logs" / f"task_{rank:05d}.log"
    assert log.is_file()
    record = {"rank": rank, "error": error, "log": str(log), "time": time.time()}
    folder = layout.logs(dataset, step) / "failures"  # <logging dir>/failures/<rank:05d>.json
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{rank:05d}.json").write_text(json.dumps(record))
    return log


def fake_slurm(folder: Path, squeue_says: str | None = None) -> Path:
    """A PATH holding only stand-ins for the Slurm commands: each writes its call to `calls`; squeue prints
    `squeue_says` when given, and every other call fails as Slurm does without a controller."""
    folder.mkdir()
    for name in ("squeue", "sacct", "scancel", "scontrol", "sbatch"):
        answer = f"printf '%s\\n' '{squeue_says}'; exit 0" if name == "squeue" and squeue_says else ""
        script = folder / name
        script.write_text(
            f'#!/bin/sh\nprintf "%s\\n" "{name} $*" >> {folder / "calls"}\n{answer}\n'
            f'printf "%s\\n" "slurm_load_jobs error: Unable to contact slurm controller" >&2\nexit 1\n'
        )
        script.chmod(0o755)
    return folder


# --- failed local tasks ---------------------------------------------------------------------------------


def test_a_failed_local_task_is_failed_with_its_error_and_a_marker_wins_over_a_record(run_copy, capsys):
    fail_rank(run_copy, "code", "filter", 1, "ValueError: bad record in a.jsonl line 3")
    fail_rank(run_copy, "code", "filter", 0, "OSError: an earlier attempt", keep_marker=True)
    step = status_json(capsys, run_copy)["datasets"]["code"]["filter"]
    assert (step["state"], step["completed"], step["failed"]) == ("failed", 1, 1)
    assert step["failed_ranks"] == [1]
    assert step["errors"] == {"1": "ValueError: bad record in a.jsonl line 3"}
    assert step["causes"] == {
        "1": {
            "state": "FAILED",
            "detail": "ValueError: bad record in a.jsonl line 3",
            "source": "failure record",
        }
    }
    code, out, _ = cli(capsys, "status", run_copy)
    assert code == 0
    assert "FAILED (ValueError: bad record in a.jsonl line 3): rank 1" in out and "earlier attempt" not in out
    assert "not done" in out and "Failed steps: code/filter." in out


def test_logs_prints_the_failed_local_tasks_error_then_its_log(run_copy, capsys):
    log = fail_rank(run_copy, "notes", "filter", 0, "RuntimeError: disk quota exceeded")
    code, out, _ = cli(capsys, "logs", run_copy, "--lines", "2")
    assert code == 0 and "No failed task" not in out
    last_lines = log.read_text().splitlines()[-2:]
    assert "notes / filter / rank 0" in out
    at = out.index("RuntimeError: disk quota exceeded")
    assert at < out.index(str(log)) < out.index(last_lines[-1])
    assert all(line in out for line in last_lines)
    assert log.read_text().splitlines()[0] not in out  # only the last 2 lines


def test_a_local_task_that_raises_shows_as_failed_in_status_and_logs(tmp_path, capsys):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.jsonl.gz").write_bytes(os.urandom(4096))  # not gzip at all
    (tmp_path / "s.yaml").write_text(
        "name: broken\ndatasets:\n  - {name: broken, path: broken, kind: code, tasks: 1}\n"
    )
    run = run_stage(tmp_path / "s.yaml", tmp_path / "out", capsys)
    assert run.exit_code == 1
    step = status_json(capsys, run)["datasets"]["broken"]["filter"]
    assert (step["state"], step["failed_ranks"]) == ("failed", [0])
    assert step["errors"]["0"]
    code, out, _ = cli(capsys, "logs", run)
    assert code == 0 and "broken / filter / rank 0" in out and step["errors"]["0"] in out


# --- missing run directory ------------------------------------------------------------------------------


def test_every_command_on_a_missing_run_says_so_exits_2_and_creates_nothing(local_run, tmp_path, capsys):
    missing = StageRun(local_run.config, RunLayout(tmp_path / "out", "ops"), 0, "")
    for command in ("cancel", *COMMANDS):  # cancel first: it used to create the directory for report
        code, _, err = cli(capsys, command, missing)
        assert code == 2, command
        assert MISSING_RUN in err and str(tmp_path / "out" / "ops") in err, command
        assert not (tmp_path / "out").exists(), command
    (tmp_path / "out" / "ops").mkdir(parents=True)  # a folder without run.json is no run either
    for command in COMMANDS:
        assert cli(capsys, command, missing)[0] == 2, command
        assert list((tmp_path / "out" / "ops").iterdir()) == [], command


# --- option values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "listed"),
    [
        (["--dataset", "nosuch"], "datasets of stage ops: code, notes"),
        (["--dataset", "code_"], "did you mean code?"),
        (["--step", "bogus"], "filter, minhash-signatures, minhash-buckets, minhash-cluster, minhash-filter"),
        (["--dataset", "notes", "--step", "minhash-buckets"], "steps of dataset notes: filter"),
        (["--dataset", "code", "--step", "filter", "--rank", "99"], "ranks: 0..1 (code/filter)"),
        (
            ["--dataset", "code", "--rank", "2"],
            "0..1 (code/filter, code/minhash-signatures, code/minhash-buckets",
        ),
        (["--rank", "-1"], "0..0 (code/minhash-cluster, notes/filter)"),
        (["--lines", "-1"], "positive number of lines"),
        (["--lines", "0"], "positive number of lines"),
    ],
)
def test_bad_logs_options_exit_2_and_list_the_valid_values(local_run, capsys, options, listed):
    code, out, err = cli(capsys, "logs", local_run, *options)
    assert code == 2 and listed in err and options[1] in err
    assert out == ""


def test_a_valid_choice_shows_that_task(local_run, capsys):
    code, out, _ = cli(capsys, "logs", local_run, "--dataset", "code", "--step", "filter", "--rank", "1")
    log = local_run.layout.logs("code", "filter") / "logs" / "task_00001.log"
    assert code == 0 and "code / filter / rank 1" in out and str(log) in out
    assert "rank 0" not in out


# --- the verdict line -----------------------------------------------------------------------------------


def test_status_of_a_done_stage_says_done_and_gives_no_repair_advice(local_run, capsys):
    code, out, _ = cli(capsys, "status", local_run)
    assert code == 0 and "stage ops: done" in out
    assert "Failed steps" not in out and "resubmit" not in out


def test_status_of_an_unfinished_local_run_says_to_launch_or_to_wait(run_copy, capsys):
    for marker in run_copy.layout.completions("notes", "filter").iterdir():
        marker.unlink()
    code, out, _ = cli(capsys, "status", run_copy)
    assert code == 0 and "not done" in out and "Failed steps" not in out
    assert (
        f"launch it (a relaunch continues where it stopped): python launch.py --config {run_copy.config.source_file}"
        in out
    )
    me = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "command": "launch.py --x"}
    run_copy.layout.lock.write_text(json.dumps(me))  # a launcher at work on it now
    out = cli(capsys, "status", run_copy)[1]
    assert "launch.py --x" in out and "wait" in out and "launch it" not in out


# --- a config that no longer matches the run ------------------------------------------------------------


def test_report_refuses_a_config_that_no_longer_matches_the_run(run_copy, capsys):
    changed = Path(run_copy.config.source_file).with_name("ops-changed.yaml")
    changed.write_text(CONFIG.replace("tasks: 2", "tasks: 3"))
    written = {
        p: p.read_bytes() for p in (run_copy.layout.manifest, run_copy.layout.stage_dir / "report.html")
    }
    code, _, err = cli(capsys, "report", run_copy, config=str(changed))
    assert code == 2 and "tasks" in err and str(changed) in err
    assert {p: p.read_bytes() for p in written} == written
    assert cli(capsys, "report", run_copy)[0] == 0  # the config the run was launched with


# --- Slurm: never for a local run, one line when it fails ------------------------------------------------


def test_a_local_run_is_operated_without_running_any_slurm_command(run_copy, capsys, tmp_path, monkeypatch):
    fail_rank(run_copy, "code", "filter", 1, "ValueError: bad record")
    bin_dir = fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", str(bin_dir))
    code, out, _ = cli(capsys, "status", run_copy)
    assert code == 0 and "FAILED (ValueError: bad record): rank 1" in out
    code, out, _ = cli(capsys, "logs", run_copy)
    assert code == 0 and "ValueError: bad record" in out
    code, out, _ = cli(capsys, "cancel", run_copy)
    assert code == 0 and "No Slurm job was submitted" in out
    assert not (bin_dir / "calls").exists()


def _slurm_submitted(run: StageRun) -> None:
    entry = ledger.new_entry("code", "filter", "4242", 0, "0", [1], "tag")
    ledger.append(run.layout.ledger, entry)


@pytest.mark.parametrize("slurm", ["failing", "missing"])
def test_slurm_query_failures_are_one_line_with_exit_1(run_copy, capsys, tmp_path, monkeypatch, slurm):
    _slurm_submitted(run_copy)
    bin_dir = fake_slurm(tmp_path / "bin") if slurm == "failing" else tmp_path
    monkeypatch.setenv("PATH", str(bin_dir))
    said = "Unable to contact slurm controller" if slurm == "failing" else "no Slurm commands found"
    for command in ("logs", "cancel", "status"):
        code, _, err = cli(capsys, command, run_copy)
        assert code == 1 and said in err, command
        assert len(err.strip().splitlines()) == 1, command  # one line, no traceback


def test_status_while_slurm_runs_a_task_says_to_wait(run_copy, capsys, tmp_path, monkeypatch):
    (run_copy.layout.completions("code", "filter") / "00001").unlink()
    _slurm_submitted(run_copy)
    monkeypatch.setenv("PATH", str(fake_slurm(tmp_path / "bin", "4242|4242_0|RUNNING|None|smolprep-ops")))
    code, out, _ = cli(capsys, "status", run_copy)
    assert code == 0 and "1 step(s) running or queued; wait" in out
    assert "Failed steps" not in out and "launch it" not in out


def test_report_takes_the_epoch_warning_limit(run_copy, capsys):
    assert cli(capsys, "report", run_copy, "--max-epochs", "1.5")[0] == 0
    assert json.loads(run_copy.layout.manifest.read_text())["max_epochs"] == 1.5
    for bad in ("0", "-2", "many", "nan"):
        code, _, err = cli(capsys, "report", run_copy, "--max-epochs", bad)
        assert code == 2 and "expected a number > 0" in err and "Traceback" not in err
