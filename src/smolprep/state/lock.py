"""The launch lock: one launcher (launch, resubmit, cancel) per stage at a time.

`<stage>/lock` holds the holder's host, pid, command and time. A second launcher waits up to `wait`
seconds and then gives up with a message naming the holder. A lock whose pid is gone on this host is
stale and taken over.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class LockHeld(Exception):
    """Another launcher holds the stage's lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_stale(holder: dict[str, Any] | None, path: Path) -> bool:
    if holder is None:  # unreadable: a crash between create and write, or garbage; give it a minute
        try:
            return time.time() - path.stat().st_mtime > 60
        except FileNotFoundError:
            return True
    return holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", 0)))


def describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "an unknown process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("time", 0)))
    return f"{holder.get('command', '?')} (host {holder.get('host')}, pid {holder.get('pid')}, since {since})"


def _try_create(path: Path, me: dict[str, Any]) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(me, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def _take_over(path: Path, stale: dict[str, Any] | None) -> None:
    """Move a stale lock aside; if what we moved is not the stale lock we saw, put it back."""
    aside = path.with_name(f"{path.name}.stale.{os.getpid()}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if read_holder(aside) == stale:
        aside.unlink(missing_ok=True)
    elif not path.exists():
        os.rename(aside, path)  # it was a fresh lock of another launcher
    else:
        aside.unlink(missing_ok=True)


@contextlib.contextmanager
def launch_lock(path: Path, command: str, wait: float = 120.0, on_wait=None) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "command": command}
    deadline = time.monotonic() + wait
    told = False
    while not _try_create(path, me):
        holder = read_holder(path)
        if is_stale(holder, path):
            _take_over(path, holder)
            continue
        if time.monotonic() >= deadline:
            raise LockHeld(
                f"another launcher holds {path}: {describe(holder)}. Wait for it, or, if that process is gone "
                "(another host), remove the lock file."
            )
        if on_wait and not told:
            on_wait(describe(holder))
            told = True
        time.sleep(0.5)
    try:
        yield
    finally:
        if read_holder(path) == me:
            path.unlink(missing_ok=True)
