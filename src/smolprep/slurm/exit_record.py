"""Exit records: what a Slurm task says about its own attempt, on shared storage, so that the cause of a
failure is known when Slurm has forgotten the job (no accounting, and MinJobAge passed).

The task (`SmolprepSlurmExecutor` on the node) writes `logs/<dataset>/<step>/exits/<rank:05d>.json` when it
starts, rewrites it every `HEARTBEAT` seconds while it runs (max RSS so far), and once more when it ends:

    {"rank", "job": "123_4", "attempt": 1, "node", "pid", "cpus", "started", "updated", "elapsed", "cpu_seconds",
     "max_rss_bytes", "mem_limit_bytes", "time_limit_seconds", "state", "signal", "error"}

(`max_rss_bytes` is the process's peak: with several ranks per array task, a later rank's record includes
the earlier ranks' peak.)

`state` is `running` (the task never wrote its end: killed by SIGKILL, out of memory, a node that died),
`completed`, `error` (a Python error, `error` has its line), `terminated` (SIGTERM: Slurm's time limit or
scancel), `requeued` (requeued itself at its time limit, see `SmolprepSlurmExecutor`) or `time-limit`
(reached its time limit after its last allowed attempt: not requeued).

Slurm itself writes a last line into the task's Slurm log when it ends a job (`*** JOB 123 ON node
CANCELLED AT ... DUE TO TIME LIMIT ***`, `... oom-kill event(s) ...`): `slurm_log_cause` reads it.
`cause_from_exit` combines both (pure).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolprep.state.atomic import write_text_atomic
from smolprep.state.layout import rank_records

HEARTBEAT = 60.0  # seconds between rewrites of a running task's record
OOM_SHARE = 0.9  # a task killed without a word whose max RSS reached this share of its memory: OUT_OF_MEMORY
_LOG_TAIL = 16_384  # bytes of a Slurm log read for Slurm's last word

_SLURM_WORDS = (
    (
        re.compile(r"oom[- ]kill|out of memory|exceeded (job )?memory limit|exceeded step memory", re.I),
        "OUT_OF_MEMORY",
    ),
    (re.compile(r"DUE TO TIME LIMIT"), "TIMEOUT"),
    (re.compile(r"DUE TO NODE FAILURE"), "NODE_FAIL"),
    (re.compile(r"DUE TO PREEMPTION"), "PREEMPTED"),
    (re.compile(r"\*\*\* (JOB|STEP) \S+ ON \S+ CANCELLED AT"), "CANCELLED"),
)


@dataclass(frozen=True)
class Cause:
    """Why a task failed: a Slurm state word (`OUT_OF_MEMORY`, `TIMEOUT`, `NODE_FAIL`, `PREEMPTED`,
    `CANCELLED`, `FAILED`, ...), a detail for people, and where it was learnt (`sacct`, `scontrol`,
    `exit record`, `Slurm log`, `failure record`)."""

    state: str
    detail: str = ""
    source: str = ""

    def text(self) -> str:
        return f"{self.state} ({self.detail})" if self.detail else self.state

    def as_json(self) -> dict[str, str]:
        return {"state": self.state, "detail": self.detail, "source": self.source}


def _usage() -> tuple[int, float]:
    """(max RSS in bytes, CPU seconds) of this process so far (the task runs in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime  # Linux: ru_maxrss in KiB


class TaskRecorder:
    """Writes one rank's exit record on the node (see the module docstring)."""

    def __init__(
        self,
        folder: Path,
        rank: int,
        mem_limit_bytes: int | None = None,
        time_limit_seconds: int | None = None,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.path = folder / f"{rank:05d}.json"
        job = os.environ.get("SLURM_ARRAY_JOB_ID")
        index = os.environ.get("SLURM_ARRAY_TASK_ID")
        self.record: dict[str, Any] = {
            "rank": rank,
            "job": f"{job}_{index}" if job and index else os.environ.get("SLURM_JOB_ID", ""),
            "attempt": int(os.environ.get("SLURM_RESTART_COUNT") or 0) + 1,
            "node": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.time(),
            "cpus": int(os.environ.get("SLURM_CPUS_PER_TASK") or 1),
            "mem_limit_bytes": mem_limit_bytes,
            "time_limit_seconds": time_limit_seconds,
            "state": "running",
        }
        self.heartbeat = heartbeat
        self._cpu_at_start = _usage()[1]  # ranks of one array task run one after the other in one process
        self._stop = threading.Event()
        self._lock = threading.RLock()  # a signal handler may write in the middle of a write, same thread
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.write()
        self._thread = threading.Thread(target=self._beat, name="smolprep-exit-record", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            self.write()

    def write(self, **changes: Any) -> None:
        """Rewrite the record (with `changes`); never raises: the task's work matters more."""
        with self._lock:
            if self.record["state"] != "running" and "state" not in changes:
                return  # ended: a late heartbeat does not undo it
            now = time.time()
            self.record.update(changes)
            self.record.update(updated=now, elapsed=round(now - self.record["started"], 1))
            rss, cpu = _usage()
            self.record.update(max_rss_bytes=rss, cpu_seconds=round(cpu - self._cpu_at_start, 2))
            with contextlib.suppress(OSError):
                write_text_atomic(self.path, json.dumps(self.record, sort_keys=True) + "\n")

    def end(self, state: str, **details: Any) -> None:
        self._stop.set()
        self.write(state=state, **details)


def read_exit_records(folder: Path) -> dict[int, dict]:
    """rank -> its exit record (an unreadable one is left out: it says nothing reliable)."""
    return {rank: record for rank, record in rank_records(folder).items() if record is not None}


def slurm_log_cause(log: Path) -> str | None:
    """The state Slurm wrote into a task's log when it ended it (time limit, memory, node failure,
    preemption, cancel), from the log's tail; None when it wrote none."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - _LOG_TAIL))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    found: tuple[int, str] | None = None  # the last word wins ("CANCELLED ... DUE TO TIME LIMIT": TIMEOUT)
    for pattern, state in _SLURM_WORDS:
        for match in pattern.finditer(tail):
            if found is None or match.start() > found[0]:
                found = (match.start(), state)
    return found[1] if found else None


def _gib(size: int | None) -> str:
    return f"{size / 2**30:.2f} GiB" if size else "?"


def cause_from_exit(record: Mapping[str, Any] | None, slurm_log: str | None) -> Cause | None:
    """The cause a dead task's own record and its Slurm log's last word give (pure); None when neither
    says anything."""
    record = record or {}
    state = record.get("state")
    attempt = record.get("attempt") or 1
    requeued = f"requeued {attempt - 1} times" if attempt > 1 else ""
    if state == "error":
        return Cause("FAILED", str(record.get("error") or "a Python error"), "exit record")
    if state == "time-limit":
        return Cause("TIMEOUT", requeued or "not requeued: its last attempt", "exit record")
    if slurm_log is not None:
        detail = requeued
        if slurm_log == "OUT_OF_MEMORY":
            detail = f"max RSS {_gib(record.get('max_rss_bytes'))} of {_gib(record.get('mem_limit_bytes'))}"
        return Cause(slurm_log, detail, "Slurm log")
    if state == "terminated":
        limit = record.get("time_limit_seconds")
        if limit and (record.get("elapsed") or 0) >= limit - 300:
            return Cause("TIMEOUT", requeued, "exit record")
        return Cause("CANCELLED", f"{record.get('signal') or 'SIGTERM'} before its time limit", "exit record")
    if state == "running":
        rss, limit = record.get("max_rss_bytes"), record.get("mem_limit_bytes")
        if rss and limit and rss >= OOM_SHARE * limit:
            return Cause("OUT_OF_MEMORY", f"max RSS {_gib(rss)} of {_gib(limit)}, then killed", "exit record")
        return Cause(
            "KILLED",
            f"no end recorded on {record.get('node', '?')} after {record.get('elapsed', '?')} s "
            "(SIGKILL, memory or a node failure)",
            "exit record",
        )
    return None


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
