"""The launch lock: one holder, a second waits then names the holder, a stale lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from smolprep.state.lock import LockHeld, launch_lock


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
