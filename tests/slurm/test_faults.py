"""Fault injection on the real single-node Slurm: every scenario ends with the same final documents as a
clean local run of the same stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smolprep.state import ledger
from tests.conftest import ROOT, read_jsonl_folder, run_stage, write_marked_copies

pytestmark = pytest.mark.slurm
STEPS = ("filter", "minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")


def _launch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=os.environ,
    )


def _wait_for(predicate, timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _squeue(fmt: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "--array", "-o", fmt], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line.strip()]


def _node_state(node: str) -> str:
    return subprocess.run(
        ["sinfo", "-h", "-n", node, "-o", "%T"], capture_output=True, text=True
    ).stdout.strip()


def _texts(folder: Path) -> set[str]:
    return {r["text"] for r in read_jsonl_folder(folder)}


@pytest.fixture(scope="module")
def fault_stage(tmp_path_factory):
    """A small web stage whose two filter tasks run long enough (several seconds each) to be hit mid-run."""
    base = tmp_path_factory.mktemp("fault-stage")
    write_marked_copies(base / "en", 6)  # three copies of the English sample per task
    config = base / "faults.yaml"
    config.write_text(
        "name: faults\nminhash: {num_buckets: 2}\ndatasets:\n  - {name: en, path: en, tasks: 2}\n"
    )
    clean = run_stage(config, base / "clean-local")
    assert clean.exit_code == 0
    return config, _texts(clean.layout.data("en"))


class Run:
    def __init__(self, config: Path, output: Path, cluster: str = "dev-slurm"):
        self.config, self.output, self.cluster = config, output, cluster
        self.stage_dir = output / "faults"

    def args(self, *extra: str) -> list[str]:
        return ["--config", str(self.config), "--cluster", self.cluster, "--output", str(self.output), *extra]

    def launch(self, *extra: str):
        return _launch(*self.args(*extra))

    def command(self, name: str, *extra: str):
        return _launch(name, *self.args(*extra))

    def status(self) -> dict:
        result = self.command("status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def entries(self, data_steps_only: bool = True) -> list[ledger.LedgerEntry]:
        entries = ledger.read(self.stage_dir / "jobs.jsonl")
        return [e for e in entries if e.step in STEPS] if data_steps_only else entries

    def job_ids(self) -> set[str]:
        return {e.job_id for e in self.entries(data_steps_only=False)}

    def queued(self) -> list[str]:
        ids = self.job_ids()
        return [line for line in _squeue("%F|%i|%T|%r") if line.split("|")[0] in ids]

    def running_filter_task(self) -> str | None:
        filter_jobs = {e.job_id for e in self.entries() if e.step == "filter"}
        for line in _squeue("%F|%i|%T"):
            array, job, state = line.split("|")
            if array in filter_jobs and state == "RUNNING":
                return job
        return None

    def final_texts(self) -> set[str]:
        return _texts(self.stage_dir / "data" / "en")


def _settle(run: Run) -> None:
    _wait_for(lambda: not run.queued(), 300, "the stage's jobs to leave the queue")


def _release_requeued(run: Run) -> int:
    """Start the stage's requeued tasks now. Slurm holds a requeued job for two minutes (reason BeginTime)
    before it may run again; the tests check what happens when it runs, not that delay."""
    held = [line.split("|")[1] for line in run.queued() if line.endswith("|PENDING|BeginTime")]
    for job in held:
        subprocess.run(["scontrol", "update", f"jobid={job}", "starttime=now"], check=False)
    return len(held)


def _settle_releasing_requeued(run: Run) -> None:
    _wait_for(
        lambda: not (_release_requeued(run) or run.queued()), 300, "the stage's jobs to leave the queue"
    )


def test_scancel_of_one_task_then_resubmit(dev_slurm, fault_stage, tmp_path):
    config, clean = fault_stage
    run = Run(config, tmp_path)
    assert run.launch().returncode == 0
    _wait_for(lambda: run.running_filter_task() is not None, 120, "a running filter task")
    subprocess.run(["scancel", run.running_filter_task()], check=True)
    _settle(run)

    status = run.status()
    assert status["done"] is False
    assert status["datasets"]["en"]["filter"]["state"] == "failed"
    assert status["datasets"]["en"]["filter"]["failed"] >= 1
    assert status["datasets"]["en"]["minhash-filter"]["completed"] == 0
    logs = run.command("logs")
    assert "en / filter / rank" in logs.stdout and "task_0000" in logs.stdout

    result = run.command("resubmit", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not run.queued()
    assert run.final_texts() == clean
    assert run.status()["done"] is True


def test_kill_9_mid_write_leaves_no_partial_output(dev_slurm, fault_stage, tmp_path):
    config, clean = fault_stage
    run = Run(config, tmp_path)
    assert run.launch().returncode == 0
    filtered = run.stage_dir / "filtered" / "en"
    executor = str(run.stage_dir / "logs" / "en" / "filter" / "executor.pik")

    def writing_pid() -> int | None:
        if not list((filtered / "_tmp").glob("*.jsonl.gz")) if (filtered / "_tmp").exists() else True:
            return None
        found = subprocess.run(
            ["pgrep", "-f", f"launch_pickled_pipeline {executor}"], capture_output=True, text=True
        )
        pids = [int(p) for p in found.stdout.split()]
        return max(pids) if pids else None

    _wait_for(lambda: writing_pid() is not None, 120, "a filter task writing its output")
    os.kill(writing_pid(), signal.SIGKILL)
    _settle(run)

    completed = {p.name for p in (run.stage_dir / "logs" / "en" / "filter" / "completions").glob("*")}
    assert len(completed) < 2
    visible = sorted(p.name for p in filtered.glob("*.jsonl.gz"))
    assert visible == sorted(
        f"{int(r):05d}.jsonl.gz" for r in completed
    )  # only whole outputs of finished tasks
    assert not list((run.stage_dir / "data" / "en").glob("*.jsonl.gz"))

    result = run.command("resubmit", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert run.final_texts() == clean


def test_relaunch_while_held_queues_nothing(dev_slurm, fault_stage, tmp_path):
    config, clean = fault_stage
    run = Run(config, tmp_path)
    assert run.launch().returncode == 0
    ids = sorted(run.job_ids())
    subprocess.run(["scontrol", "hold", *ids], check=True)
    try:
        before = run.entries()
        again = run.launch()
        assert again.returncode == 0
        assert "already queued" in again.stdout
        assert run.entries() == before
    finally:
        subprocess.run(["scontrol", "release", *ids], check=True)
    result = run.launch("--wait")
    assert result.returncode == 0
    assert run.final_texts() == clean
    assert len(run.entries()) == len(STEPS)


def test_two_launchers_at_once_queue_each_step_once(dev_slurm, fault_stage, tmp_path):
    config, clean = fault_stage
    run = Run(config, tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "launch.py"), *run.args()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sorted((e.dataset, e.step) for e in run.entries()) == sorted(("en", s) for s in STEPS)
    assert [e.step for e in run.entries(data_steps_only=False) if e.step not in STEPS] == ["report"]
    assert run.launch("--wait").returncode == 0
    assert run.final_texts() == clean


def test_node_failure_mid_run_then_resubmit(dev_slurm, fault_stage, tmp_path):
    config, clean = fault_stage
    run = Run(config, tmp_path)
    node = subprocess.run(
        ["sinfo", "-h", "-o", "%N"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    assert run.launch().returncode == 0
    _wait_for(lambda: run.running_filter_task() is not None, 120, "a running filter task")
    subprocess.run(
        ["scontrol", "update", f"nodename={node}", "state=down", "reason=smolprep-test"], check=True
    )
    try:
        time.sleep(3)
        status = run.status()
        assert status["done"] is False
        assert status["datasets"]["en"]["filter"]["completed"] < 2
        assert status["datasets"]["en"]["minhash-filter"]["state"] != "done"
    finally:
        # ReturnToService=2 may already have brought the node back when slurmd re-registered
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], check=False)
        _wait_for(
            lambda: "idle" in _node_state(node) or "alloc" in _node_state(node) or "mix" in _node_state(node),
            60,
            "the node to return",
        )
    _settle_releasing_requeued(run)
    result = run.command("resubmit", "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert run.final_texts() == clean


@pytest.fixture(scope="module")
def slow_stage(tmp_path_factory):
    """One filter task over three copies of the English sample: it runs for seconds, long enough to be
    signalled mid-run."""
    base = tmp_path_factory.mktemp("slow-stage")
    write_marked_copies(base / "en", 3)
    config = base / "faults.yaml"  # same stage name as the fault stage, so Run() finds its folder
    config.write_text(
        "name: faults\nminhash: {num_buckets: 2}\ndatasets:\n  - {name: en, path: en, tasks: 1}\n"
    )
    clean = run_stage(config, base / "clean-local")
    assert clean.exit_code == 0
    return config, _texts(clean.layout.data("en"))


def _requeue_profile(tmp_path: Path) -> Path:
    """The dev cluster's profile with a TIMEOUT rule that keeps the resources (`{}`): a task then requeues
    itself in place at its time limit, at most `max_attempts` times in all."""
    profile = tmp_path / "requeue-in-place.yaml"
    text = (ROOT / "cluster" / "dev-slurm.yaml").read_text().split("retry:")[0]
    profile.write_text(text + "retry: {default: {max_attempts: 2, TIMEOUT: {}}}\n")
    return profile


def _exit_record(run: Run) -> dict:
    path = run.stage_dir / "logs" / "en" / "filter" / "exits" / "00000.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def test_time_limit_warning_requeues_the_task_in_place_up_to_its_attempts(dev_slurm, slow_stage, tmp_path):
    """Every task runs with `--signal=USR1@<requeue_grace>`: near its time limit Slurm sends SIGUSR1. With
    `TIMEOUT: {}` and `max_attempts: 2` the task requeues itself the first time and not the second (it then
    runs on, and here completes). Slurm delivers that signal on its own schedule (up to a minute off), so the
    test sends the same signal the same way (`scancel --signal=USR1` to the job step) once the task runs."""
    config, clean = slow_stage
    run = Run(config, tmp_path / "out", str(_requeue_profile(tmp_path)))
    assert run.launch().returncode == 0
    _wait_for(lambda: _exit_record(run).get("state") == "running", 120, "the filter task to start")
    (job,) = sorted({e.job_id for e in run.entries() if e.step == "filter"})
    subprocess.run(["scancel", "--signal=USR1", f"{job}_0"], check=True)
    _wait_for(
        lambda: _release_requeued(run) == 0 and _exit_record(run).get("attempt") == 2,
        180,
        "the requeued task's second attempt",
    )
    _wait_for(lambda: _exit_record(run).get("state") == "running", 120, "the second attempt to run")
    subprocess.run(["scancel", "--signal=USR1", f"{job}_0"], check=True)  # its last attempt: not requeued
    result = run.launch("--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    logs = "".join(
        p.read_text() for p in (run.stage_dir / "logs" / "en" / "filter" / "slurm_logs").glob("*.out")
    )
    assert "time limit near (attempt 1 of 2): requeueing the task and exiting" in logs
    assert "time limit near (attempt 2 of at most 2): not requeued in place" in logs
    assert (_exit_record(run)["state"], _exit_record(run)["attempt"]) == ("completed", 2)
    assert run.final_texts() == clean
    assert len([e for e in run.entries() if e.step == "filter"]) == 1  # requeued by Slurm, not resubmitted


def test_bad_config_exits_2_and_queues_nothing(dev_slurm, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ndatasets:\n  - {name: en, path: missing-folder}\n  - {name: vi, path: missing-folder, kind: prose}\n"
    )
    before = _squeue("%i")
    result = _launch("--config", str(bad), "--cluster", "dev-slurm", "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "missing-folder" in result.stderr and "prose" in result.stderr
    assert _squeue("%i") == before and not (tmp_path / "o").exists()


def test_cancel_cancels_the_stage_and_nothing_else(dev_slurm, fault_stage, tmp_path):
    config, _ = fault_stage
    other = subprocess.run(
        ["sbatch", "--parsable", "--hold", "--job-name=not-smolprep", "--wrap=sleep 1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        run = Run(config, tmp_path)
        assert run.launch().returncode == 0
        assert run.queued()
        result = run.command("cancel")
        assert result.returncode == 0 and "Cancelled" in result.stdout
        _wait_for(lambda: not run.queued(), 60, "the stage's jobs to be cancelled")
        assert any(line.startswith(other) for line in _squeue("%F"))
    finally:
        subprocess.run(["scancel", other], check=False)
