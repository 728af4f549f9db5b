"""The executor as it runs on a Slurm node (`launch_pickled_pipeline` in a fresh process, with the variables
Slurm sets and a recording `scontrol` on PATH; no Slurm needed): exit and failure records, and the capped
requeue at the time limit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dill
from dill import CONTENTS_FMODE

from smolprep.slurm.exit_record import TaskRecorder, read_exit_records
from smolprep.slurm.node_executor import SmolprepSlurmExecutor

ROOT = Path(__file__).resolve().parents[2]


def sleeping_step(data, rank: int = 0, world_size: int = 1):
    Path(os.environ["SMOLPREP_TEST_STARTED"]).touch()
    time.sleep(60)
    yield from ()


def raising_step(data, rank: int = 0, world_size: int = 1):
    raise ValueError("bad record in part-3.jsonl line 7")
    yield from ()


def quick_step(data, rank: int = 0, world_size: int = 1):
    yield from ()


def _executor(
    logs: Path, step, max_attempts: int = 3, requeue_in_place: bool = True
) -> SmolprepSlurmExecutor:
    return SmolprepSlurmExecutor(
        [step],
        tasks=1,
        time="01:00:00",
        partition="",
        job_name="t",
        logging_dir=str(logs),
        slurm_logs_folder=str(logs / "slurm_logs"),
        mail_user=None,
        exits_dir=str(logs / "exits"),
        failures_dir=str(logs / "failures"),
        mem_limit_bytes=2 * 2**30,
        time_limit_seconds=3600,
        max_attempts=max_attempts,
        requeue_in_place=requeue_in_place,
    )


def _node(tmp_path: Path, step, max_attempts: int = 3, requeue_in_place: bool = True) -> Path:
    logs = tmp_path / "logs"
    executor = _executor(logs, step, max_attempts, requeue_in_place)
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "ranks_to_run.json").write_text("[0]")
    with open(logs / "executor.pik", "wb") as f:
        dill.dump(executor, f, fmode=CONTENTS_FMODE)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.calls"}\n')
    scontrol.chmod(0o755)
    return logs


def _start(tmp_path: Path, logs: Path, restarts: int = 0) -> subprocess.Popen:
    env = os.environ | {
        "SLURM_ARRAY_JOB_ID": "500",
        "SLURM_ARRAY_TASK_ID": "0",
        "SLURM_JOB_ID": "501",
        "SLURM_RESTART_COUNT": str(restarts),
        "SLURM_NODELIST": "localhost",
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "SMOLPREP_TEST_STARTED": str(tmp_path / "started"),
    }
    launcher = Path(sys.executable).parent / "launch_pickled_pipeline"
    return subprocess.Popen(
        [str(launcher), str(logs / "executor.pik")], env=env, cwd=ROOT, stderr=subprocess.PIPE
    )


def _requeues(tmp_path: Path) -> list[str]:
    """The task's `scontrol requeue` calls (datatrove also asks `scontrol show hostnames`)."""
    calls = tmp_path / "scontrol.calls"
    lines = calls.read_text().splitlines() if calls.exists() else []
    return [line for line in lines if line.startswith("requeue")]


def _wait_started(tmp_path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)


def test_a_task_that_raises_leaves_its_error_in_both_records(tmp_path) -> None:
    logs = _node(tmp_path, raising_step)
    proc = _start(tmp_path, logs)
    assert proc.wait(timeout=60) != 0
    record = read_exit_records(logs / "exits")[0]
    assert (record["state"], record["job"], record["attempt"]) == ("error", "500_0", 1)
    assert record["error"] == "ValueError: bad record in part-3.jsonl line 7"
    failure = json.loads((logs / "failures" / "00000.json").read_text())
    assert failure["error"] == record["error"]


def test_a_task_that_completes_says_so_and_leaves_no_failure_record(tmp_path) -> None:
    logs = _node(tmp_path, quick_step)
    (logs / "failures").mkdir()
    (logs / "failures" / "00000.json").write_text('{"error": "an earlier attempt"}')
    proc = _start(tmp_path, logs)
    assert proc.wait(timeout=60) == 0
    assert read_exit_records(logs / "exits")[0]["state"] == "completed"
    assert not (logs / "failures" / "00000.json").exists()


def test_at_its_time_limit_a_task_requeues_itself_while_attempts_are_left(tmp_path) -> None:
    logs = _node(tmp_path, sleeping_step, max_attempts=3)
    proc = _start(tmp_path, logs, restarts=1)  # its second attempt
    _wait_started(tmp_path, proc)
    proc.send_signal(signal.SIGUSR1)
    assert proc.wait(timeout=60) == 15
    assert _requeues(tmp_path) == ["requeue 501"]
    record = read_exit_records(logs / "exits")[0]
    assert (record["state"], record["attempt"]) == ("requeued", 2)


def test_past_its_last_attempt_a_task_is_not_requeued_and_ends_with_its_time_limit(tmp_path) -> None:
    logs = _node(tmp_path, sleeping_step, max_attempts=3)
    proc = _start(tmp_path, logs, restarts=2)  # its third and last attempt
    _wait_started(tmp_path, proc)
    proc.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    assert proc.poll() is None  # still running: no requeue
    proc.send_signal(signal.SIGTERM)  # what Slurm sends at the time limit
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert _requeues(tmp_path) == []
    record = read_exit_records(logs / "exits")[0]
    assert (record["state"], record["attempt"], record["signal"]) == ("time-limit", 3, "SIGTERM")


def test_without_in_place_requeues_the_time_limit_is_left_to_the_next_submission(tmp_path) -> None:
    logs = _node(tmp_path, sleeping_step, max_attempts=3, requeue_in_place=False)
    proc = _start(tmp_path, logs)
    _wait_started(tmp_path, proc)
    proc.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert _requeues(tmp_path) == []
    assert read_exit_records(logs / "exits")[0]["state"] == "time-limit"


def test_slurms_signal_while_the_record_is_being_written_still_ends_the_record(tmp_path) -> None:
    """At the time limit Slurm may send SIGTERM while the task is writing its exit record (its start, its
    end, or the handler of an earlier SIGTERM): the handler runs in the middle of that write, on the same
    thread. It must still write the end and exit, not wait forever on the write it interrupted (until
    Slurm's SIGKILL, with the record left at `running`)."""
    executor = _executor(tmp_path / "logs", sleeping_step, requeue_in_place=False)
    recorder = TaskRecorder(tmp_path / "exits", 0, None, 60)
    recorder.write()
    executor._recorder = recorder
    executor._past_limit = True  # SIGUSR1 came before: this is the time limit
    exits: list[object] = []

    def signalled_inside_a_write() -> None:
        with recorder._lock:  # where the main thread was when the signal came
            try:
                executor._terminated(signal.SIGTERM, None)
            except SystemExit as stop:
                exits.append(stop.code)

    worker = threading.Thread(target=signalled_inside_a_write, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the handler waited on the write it interrupted"
    assert exits == [128 + signal.SIGTERM]
    assert read_exit_records(tmp_path / "exits")[0]["state"] == "time-limit"


def test_a_second_sigterm_during_the_first_ones_handler_is_ignored(tmp_path) -> None:
    """Slurm and srun may each signal the step: the second SIGTERM, handled in the middle of the first one's
    handler, neither rewrites the record nor exits early from inside it."""
    executor = _executor(tmp_path / "logs", sleeping_step, requeue_in_place=False)
    recorder = TaskRecorder(tmp_path / "exits", 0, None, 60)
    executor._recorder = recorder
    executor._past_limit = True
    nested: list[object] = []
    write = recorder.write

    def write_interrupted_by_a_second_sigterm(**changes):
        if not nested:
            try:
                executor._terminated(signal.SIGTERM, None)
                nested.append("returned")
            except SystemExit as stop:
                nested.append(stop.code)
        write(**changes)

    recorder.write = write_interrupted_by_a_second_sigterm  # type: ignore[method-assign]
    try:
        executor._terminated(signal.SIGTERM, None)
    except SystemExit as stop:
        assert stop.code == 128 + signal.SIGTERM
    assert nested == ["returned"]
    assert read_exit_records(tmp_path / "exits")[0]["state"] == "time-limit"
