"""jobs.jsonl: every submission of a stage (dataset, step, job id, chunk, array, ranks, time, and the
resources its tasks asked for: each attempt of a rank is one entry naming it), appended."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LedgerEntry:
    dataset: str
    step: str
    job_id: str
    chunk: int
    array: str
    ranks: list[int]
    tag: str
    time: float
    host: str = ""
    pid: int = 0
    tasks_per_job: int = 1  # array index i runs ranks[i * tasks_per_job : (i + 1) * tasks_per_job]
    resources: dict[str, Any] | None = None  # {"time", "cpus", "mem_per_cpu"} of this submission

    def ranks_of_index(self, index: int) -> list[int]:
        return self.ranks[index * self.tasks_per_job : (index + 1) * self.tasks_per_job]

    def index_of_rank(self, rank: int) -> int:
        return self.ranks.index(rank) // self.tasks_per_job


def append(ledger: Path, entry: LedgerEntry) -> None:
    ledger.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(entry), sort_keys=True) + "\n"
    with open(ledger, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read(ledger: Path) -> list[LedgerEntry]:
    if not ledger.is_file():
        return []
    entries = []
    for line in ledger.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                entries.append(LedgerEntry(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue  # a line cut by a crash while appending
    return entries


def new_entry(
    dataset: str,
    step: str,
    job_id: str,
    chunk: int,
    array: str,
    ranks: list[int],
    tag: str,
    tasks_per_job: int = 1,
    resources: dict[str, Any] | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        dataset,
        step,
        job_id,
        chunk,
        array,
        ranks,
        tag,
        time.time(),
        socket.gethostname(),
        os.getpid(),
        tasks_per_job,
        resources,
    )


def jobs_of(entries: list[LedgerEntry], dataset: str, step: str) -> list[str]:
    return [e.job_id for e in entries if e.dataset == dataset and e.step == step]


def attempts_of(entries: list[LedgerEntry], dataset: str, step: str) -> dict[int, list[LedgerEntry]]:
    """rank -> the submissions that ran it, oldest first (one per attempt, requeues in place aside)."""
    found: dict[int, list[LedgerEntry]] = {}
    for e in entries:
        if e.dataset == dataset and e.step == step:
            for rank in e.ranks:
                found.setdefault(rank, []).append(e)
    return found
