"""Fault injection on the real single-node Slurm: every scenario ends with the same final documents as a
clean local run of the same stage."""

from __future__ import annotations

import gzip
import json
import os
import shutil
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


@pytest.fixture
def blocked_stage(tmp_path):
    """One filter task whose first input file is a named pipe that nobody writes: the task waits on it,
    however long its time limit, as a task waits on storage that hangs. `storage_back()` puts the plain
    file in its place. Also the final documents of a local run of the plain files."""
    base = tmp_path / "blocked-stage"
    write_marked_copies(base / "plain", 2)
    first = base / "plain" / "part-0.jsonl"  # not compressed: a compressed input is checked whole first
    first.write_bytes(gzip.decompress((base / "plain" / "part-0.jsonl.gz").read_bytes()))
    (base / "plain" / "part-0.jsonl.gz").unlink()
    (base / "en").mkdir()
    os.mkfifo(base / "en" / "part-0.jsonl")
    shutil.copy(base / "plain" / "part-1.jsonl.gz", base / "en" / "part-1.jsonl.gz")
    config = base / "faults.yaml"  # same stage name as the fault stage, so Run() finds its folder
    config.write_text(
        "name: faults\nminhash: {num_buckets: 2}\ndatasets:\n  - {name: en, path: en, tasks: 1}\n"
    )
    clean_config = base / "clean.yaml"
    clean_config.write_text(config.read_text().replace("path: en,", "path: plain,"))
    clean = run_stage(clean_config, base / "clean-local")
    assert clean.exit_code == 0

    def storage_back() -> None:
        shutil.copy(first, base / "en" / "part-0.jsonl.new")
        os.replace(base / "en" / "part-0.jsonl.new", base / "en" / "part-0.jsonl")

    return config, storage_back, _texts(clean.layout.data("en"))


def _one_minute_profile(tmp_path: Path, name: str, retry: str) -> Path:
    """The dev cluster's profile with every step limited to one minute, Slurm's SIGUSR1 10 s before it
    (`requeue_grace`), and the given retry policy."""
    profile = tmp_path / f"{name}.yaml"
    text = (ROOT / "cluster" / "dev-slurm.yaml").read_text().split("steps:")[0]
    text = text.replace("requeue_grace: 30", "requeue_grace: 10")
    assert "requeue_grace: 10" in text
    profile.write_text(
        text + 'steps:\n  default: {time: "00:01:00", cpus: 1, mem_per_cpu: 1G}\n' + f"retry: {retry}\n"
    )
    return profile


def _exit_record(run: Run) -> dict:
    path = run.stage_dir / "logs" / "en" / "filter" / "exits" / "00000.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _start(run: Run, log: Path, *extra: str, command: str = "") -> subprocess.Popen:
    """The launcher in the background, its output to `log`."""
    args = [sys.executable, str(ROOT / "launch.py"), *([command] if command else []), *run.args(*extra)]
    with log.open("w") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=os.environ)


def _stop(launcher: subprocess.Popen, run: Run) -> None:
    """After a failed wait: no launcher and no job of the run are left behind."""
    if launcher.poll() is None:
        launcher.kill()
        launcher.wait()
        subprocess.run(["scancel", *run.job_ids()], check=False)


def test_a_task_over_its_time_limit_requeues_up_to_its_attempts_then_fails_and_twice_the_time_completes(
    dev_slurm, blocked_stage, tmp_path
):
    """A task that cannot finish within its one-minute limit (it waits on its input). With `TIMEOUT: {}` and
    `max_attempts: 2`, Slurm's own SIGUSR1 near the limit makes it requeue itself in place once; the second
    time it is not requeued, Slurm ends it at the limit, and `--wait` stops with the cause, TIMEOUT
    (requeued 1 times), instead of requeueing it forever. Once the storage is back, `resubmit` with
    `TIMEOUT: {time: x2}` runs it again with the two minutes the policy gives it (the ledger's and Slurm's
    time limit), and the stage completes with the documents of a local run."""
    config, storage_back, clean = blocked_stage
    requeue = _one_minute_profile(tmp_path, "requeue-in-place", "{default: {max_attempts: 2, TIMEOUT: {}}}")
    run = Run(config, tmp_path / "out", str(requeue))
    waiting = _start(run, tmp_path / "wait.log", "--wait")

    def ended() -> bool:  # a requeued task waits two minutes (BeginTime) before it may run again: not here
        _release_requeued(run)
        return waiting.poll() is not None

    try:
        _wait_for(ended, 420, "launch --wait to end")
    finally:
        _stop(waiting, run)
    output = (tmp_path / "wait.log").read_text()
    assert waiting.returncode == 1, output
    assert "en/filter rank 0: TIMEOUT (requeued 1 times)" in output, output
    step = run.status()["datasets"]["en"]["filter"]
    assert step["state"] == "failed", step
    cause = step["causes"]["0"]
    assert cause["state"] == "TIMEOUT" and "requeued 1 times" in cause["detail"], cause
    assert step["retry"]["0"]["retry"] is False, step["retry"]
    logs = "".join(
        p.read_text() for p in (run.stage_dir / "logs" / "en" / "filter" / "slurm_logs").glob("*.out")
    )
    assert "time limit near (attempt 1 of 2): requeueing the task and exiting" in logs
    assert "time limit near (attempt 2 of at most 2): not requeued in place" in logs
    assert "DUE TO TIME LIMIT" in logs
    assert (_exit_record(run)["state"], _exit_record(run)["attempt"]) == ("time-limit", 2)

    doubling = _one_minute_profile(
        tmp_path, "twice-the-time", "{default: {max_attempts: 3, TIMEOUT: {time: x2}}}"
    )
    run = Run(config, tmp_path / "out", str(doubling))
    storage_back()
    resubmit = run.command("resubmit", "--wait")
    output = resubmit.stdout + resubmit.stderr
    assert resubmit.returncode == 0, output
    assert "en/filter rank 0: TIMEOUT: retry 3 of 3 with time 00:02:00" in output, output
    filters = [e for e in run.entries() if e.step == "filter"]
    assert [e.resources["time"] for e in filters] == ["00:01:00", "00:02:00"]
    limits = subprocess.run(  # what Slurm enforced, from accounting
        ["sacct", "-n", "-X", "-P", "-o", "Timelimit", "-j", ",".join(e.job_id for e in filters)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert limits == ["00:01:00", "00:02:00"], limits
    assert run.final_texts() == clean


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
