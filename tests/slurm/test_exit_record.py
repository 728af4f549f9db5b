"""Exit records and causes (no Slurm): what a task writes about its attempt, what Slurm's last word in a
task's log says, and which source gives a failed task's cause."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from smolprep.slurm.causes import task_cause
from smolprep.slurm.exit_record import TaskRecorder, cause_from_exit, read_exit_records, slurm_log_cause

GIB = 2**30


def test_a_task_records_its_attempt_while_it_runs_and_how_it_ended(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    recorder = TaskRecorder(tmp_path, 12, mem_limit_bytes=4 * GIB, time_limit_seconds=3600, heartbeat=0.05)
    recorder.start()
    running = read_exit_records(tmp_path)[12]
    assert (running["state"], running["job"], running["attempt"], running["rank"]) == (
        "running",
        "77_3",
        3,
        12,
    )
    assert running["max_rss_bytes"] > 10 * 2**20  # this process's own peak
    recorder.end("error", error="ValueError: bad line")
    ended = read_exit_records(tmp_path)[12]
    assert (ended["state"], ended["error"]) == ("error", "ValueError: bad line")
    recorder.write()  # a late heartbeat does not undo the end
    assert read_exit_records(tmp_path)[12]["state"] == "error"


@pytest.mark.parametrize(
    ("tail", "word"),
    [
        (
            "slurmstepd: error: *** JOB 81 ON node1 CANCELLED AT 2026-11-30T07:01:02 DUE TO TIME LIMIT ***",
            "TIMEOUT",
        ),
        (
            "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=81.0. Some of your processes may have been killed",
            "OUT_OF_MEMORY",
        ),
        (
            "slurmstepd: error: Step 81.0 exceeded memory limit (2100000 > 2048000), being killed",
            "OUT_OF_MEMORY",
        ),
        (
            "slurmstepd: error: *** JOB 81 ON node1 CANCELLED AT 2026-11-30T07:01:02 DUE TO NODE FAILURE ***",
            "NODE_FAIL",
        ),
        (
            "slurmstepd: error: *** JOB 81 ON node1 CANCELLED AT 2026-11-30T07:01:02 DUE TO PREEMPTION ***",
            "PREEMPTED",
        ),
        ("slurmstepd: error: *** JOB 81 ON node1 CANCELLED AT 2026-11-30T07:01:02 ***", "CANCELLED"),
        ("2026-11-30 07:00:00 | INFO | Processing done for rank=3", None),
    ],
)
def test_slurms_last_word_in_a_task_log(tmp_path, tail, word) -> None:
    log = tmp_path / "81_0.out"
    log.write_text("smolprep: array task 0 ...\n" + "x" * 40_000 + "\n" + tail + "\n")
    assert slurm_log_cause(log) == word


def test_the_last_word_wins_and_a_missing_log_says_nothing(tmp_path) -> None:
    log = tmp_path / "1_0.out"
    log.write_text(
        "*** JOB 1 ON n CANCELLED AT x DUE TO TIME LIMIT ***\nrestart 1\n"
        "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=1.0\n"
    )
    assert slurm_log_cause(log) == "OUT_OF_MEMORY"
    assert slurm_log_cause(tmp_path / "none.out") is None


def _record(**fields) -> dict:
    return {"attempt": 1, "node": "n1", "elapsed": 30.0, "mem_limit_bytes": 2 * GIB, **fields}


def test_causes_from_the_exit_record_alone() -> None:
    assert (
        cause_from_exit(_record(state="error", error="KeyError: 'text'"), None).text()
        == "FAILED (KeyError: 'text')"
    )
    assert (
        cause_from_exit(_record(state="time-limit", attempt=3), None).text() == "TIMEOUT (requeued 2 times)"
    )
    terminated = _record(state="terminated", signal="SIGTERM", elapsed=3590.0, time_limit_seconds=3600)
    assert cause_from_exit(terminated, None).state == "TIMEOUT"
    early = _record(state="terminated", signal="SIGTERM", elapsed=50.0, time_limit_seconds=3600)
    assert cause_from_exit(early, None).state == "CANCELLED"
    full = cause_from_exit(_record(state="running", max_rss_bytes=int(1.95 * GIB)), None)
    assert full.state == "OUT_OF_MEMORY" and "1.95 GiB of 2.00 GiB" in full.detail
    assert cause_from_exit(_record(state="running", max_rss_bytes=GIB // 4), None).state == "KILLED"
    assert cause_from_exit(_record(state="completed"), None) is None
    assert cause_from_exit(None, None) is None


def test_slurms_word_completes_the_exit_record() -> None:
    cause = cause_from_exit(_record(state="running", max_rss_bytes=GIB), "OUT_OF_MEMORY")
    assert (cause.state, cause.source) == (
        "OUT_OF_MEMORY",
        "Slurm log",
    ) and "1.00 GiB of 2.00 GiB" in cause.detail
    assert cause_from_exit(None, "NODE_FAIL").state == "NODE_FAIL"


def _slurm(state: str, history: tuple[str, ...] = (), rss: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        state=state, history=history, max_rss_bytes=rss, req_mem_bytes=2 * GIB, restarts=None
    )


def test_which_source_gives_the_cause() -> None:
    failure = {"error": "Traceback ...\nValueError: bad value"}
    assert task_cause(failure, _slurm("FAILED"), None, None, None).text() == "FAILED (ValueError: bad value)"
    oom = task_cause(None, _slurm("OUT_OF_MEMORY", rss=int(2.1 * GIB)), None, _record(state="running"), None)
    assert (oom.state, oom.source) == ("OUT_OF_MEMORY", "sacct") and "2.10 GiB of 2.00 GiB" in oom.detail
    requeued = task_cause(None, _slurm("TIMEOUT", history=("REQUEUED", "REQUEUED")), None, None, None)
    assert requeued.text() == "TIMEOUT (requeued 2 times)"
    # sacct knows the job but not as failed (still RUNNING in its view): the controller is asked next
    assert task_cause(None, _slurm("RUNNING"), _slurm("NODE_FAIL"), None, None).source == "scontrol"
    # Slurm forgot the job: the task's own record and Slurm's last word in its log
    assert task_cause(None, None, None, _record(state="running"), "TIMEOUT").text() == "TIMEOUT"
    unknown = task_cause(None, None, None, None, None)
    assert unknown.state == "UNKNOWN" and "never started" in unknown.detail


def test_records_that_cannot_be_read_are_left_out(tmp_path) -> None:
    (tmp_path / "00001.json").write_text("{truncated")
    (tmp_path / "00002.json").write_text(json.dumps({"state": "completed"}))
    (tmp_path / "notes.json").write_text("{}")
    assert read_exit_records(tmp_path) == {2: {"state": "completed"}}
    assert read_exit_records(Path(os.devnull) / "none") == {}
