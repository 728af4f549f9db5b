"""The launch lock: one holder, a second waits then names the holder, a stale lock is taken over once the
processes its launcher started have ended."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smolprep.state.lock import LAUNCHER_ENV, LockHeld, launch_lock


def test_second_launcher_gives_up_naming_the_holder(tmp_path):
    lock = tmp_path / "lock"
    with launch_lock(lock, "launch.py --stage 1"):
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with (
            pytest.raises(LockHeld, match=r"launch.py --stage 1 \(host .*, pid \d+"),
            launch_lock(lock, "other", wait=0.6),
        ):
            pass
    assert not lock.exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    lock = tmp_path / "lock"
    lock.write_text(
        json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "time": 0, "command": "x"})
    )
    with launch_lock(lock, "me", wait=0):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_lock_of_another_host_is_not_stale(tmp_path):
    lock = tmp_path / "lock"
    lock.write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": time.time(), "command": "x"}))
    with pytest.raises(LockHeld, match="elsewhere"), launch_lock(lock, "me", wait=0):
        pass
    assert lock.exists()


def test_waiting_launcher_gets_the_lock_when_released(tmp_path):
    lock = tmp_path / "lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from smolprep.state.lock import launch_lock\nimport time\nwith launch_lock(__import__('pathlib').Path({str(lock)!r}), 'h'):\n    time.sleep(1.5)",
        ]
    )
    while not lock.exists():
        time.sleep(0.05)
    start = time.monotonic()
    with launch_lock(lock, "waiter", wait=20):
        assert time.monotonic() - start > 0.5
    holder.wait()


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _stale_lock(path, pid: int) -> None:
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "time": 0, "command": "killed"}))


def _leftover(launcher: int, seconds: float) -> subprocess.Popen:
    """A process started for `launcher` (as its fork server and workers are): it has LAUNCHER_ENV set."""
    return subprocess.Popen(["sleep", str(seconds)], env={**os.environ, LAUNCHER_ENV: str(launcher)})


def test_takeover_waits_for_the_processes_the_dead_launcher_started(tmp_path):
    launcher = _dead_pid()
    lock = tmp_path / "lock"
    _stale_lock(lock, launcher)
    leftover = _leftover(launcher, 1.5)
    told: list[str] = []
    start = time.monotonic()
    with launch_lock(lock, "me", wait=0, on_wait=told.append):
        assert leftover.poll() is not None, "took the lock while a process of the old launcher still ran"
        assert time.monotonic() - start > 1.0
    assert str(leftover.pid) in told[0]


def test_takeover_gives_up_naming_processes_that_do_not_end(tmp_path):
    launcher = _dead_pid()
    lock = tmp_path / "lock"
    _stale_lock(lock, launcher)
    leftover = _leftover(launcher, 60)
    try:
        with (
            pytest.raises(LockHeld, match=rf"pid {launcher}\) has ended.*pids {leftover.pid}\b.*kill -9"),
            launch_lock(lock, "me", wait=0, leftover_wait=0.5),
        ):
            pass
        assert json.loads(lock.read_text())["pid"] == launcher  # not taken over
    finally:
        leftover.kill()
        leftover.wait()


def test_a_killed_launcher_not_yet_reaped_holds_nothing(tmp_path):
    """A zombie (killed, not yet reaped by its parent) is dead: its lock is stale."""
    zombie = subprocess.Popen(["sleep", "60"])
    zombie.kill()
    while (Path("/proc") / str(zombie.pid) / "stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.01)
    lock = tmp_path / "lock"
    _stale_lock(lock, zombie.pid)
    try:
        with launch_lock(lock, "me", wait=0):
            assert json.loads(lock.read_text())["pid"] == os.getpid()
    finally:
        zombie.wait()
