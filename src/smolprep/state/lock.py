"""The launch lock: one launcher (launch, resubmit, cancel) per stage at a time.

`<stage>/lock` holds the holder's host, pid, command and time. A second launcher waits up to `wait`
seconds and then gives up with a message naming the holder. A lock whose pid is gone on this host is
stale and taken over.

A local launcher's work is done by processes it started (datatrove's fork server and its workers), and they
may outlive it for a moment after a `kill -9`. They carry `LAUNCHER_ENV=<launcher pid>` in their environment
(`smolprep.pipelines.preload`), so before taking over a stale lock a launcher waits until no such process of
the dead holder is left, and gives up naming them if some still run after `leftover_wait` seconds: a rank is
never run twice at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LAUNCHER_ENV = "SMOLPREP_LAUNCHER_PID"  # in the environment of the processes a local launcher starts
# what the fork server of a local launcher preloads (smolprep.pipelines.preload)
WARM_LANGUAGES_ENV = "SMOLPREP_WARM_LANGUAGES"  # comma-separated language codes: their word tokenizers
WARM_LID_ENV = "SMOLPREP_WARM_LID"  # "default" or a model path: the language-ID model to load
PROC = Path("/proc")


class LockHeld(Exception):
    """Another launcher holds the stage's lock."""


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()  # the state follows the command name in parentheses
    return bool(fields) and fields[0] in ("Z", "X")


def processes_of(launcher: int) -> list[int]:
    """The live processes on this host started for the local launcher `launcher` (see LAUNCHER_ENV)."""
    if launcher <= 0 or not PROC.is_dir():
        return []
    marker = f"{LAUNCHER_ENV}={launcher}".encode()
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and _has_env(entry, marker):
            found.append(int(entry.name))
    return sorted(pid for pid in found if pid_alive(pid))


def _has_env(process: Path, marker: bytes) -> bool:
    try:
        return marker in (process / "environ").read_bytes().split(b"\0")
    except OSError:  # gone meanwhile, or another user's
        return False


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
    return holder.get("host") == socket.gethostname() and not pid_alive(int(holder.get("pid", 0)))


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


def await_leftovers(
    path: Path, holder: dict[str, Any] | None, wait: float, on_wait: Callable[[str], None] | None = None
) -> None:
    """Return once no process started by the stale lock's launcher runs; LockHeld if some still do after
    `wait` seconds."""
    launcher = int(holder.get("pid", 0)) if holder and holder.get("host") == socket.gethostname() else 0
    deadline = time.monotonic() + wait
    told = False
    while leftovers := processes_of(launcher):
        pids = " ".join(map(str, leftovers))
        if time.monotonic() >= deadline:
            raise LockHeld(
                f"the launcher that held {path} (pid {launcher}) has ended, but processes it started still run "
                f"(pids {pids}); they end by themselves within seconds of their launcher: if they do not, "
                f"stop them (kill -9 {pids}) and launch again."
            )
        if on_wait and not told:
            on_wait(f"the processes left by {describe(holder)} to end (pids {pids})")
            told = True
        time.sleep(0.1)


@contextlib.contextmanager
def launch_lock(
    path: Path,
    command: str,
    wait: float = 120.0,
    on_wait: Callable[[str], None] | None = None,
    leftover_wait: float = 30.0,
) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "command": command}
    deadline = time.monotonic() + wait
    told = False
    while not _try_create(path, me):
        holder = read_holder(path)
        if is_stale(holder, path):
            await_leftovers(path, holder, leftover_wait, on_wait)
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
