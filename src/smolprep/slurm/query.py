"""Asking Slurm what it knows: squeue and scontrol runners plus pure parsers (tested on recorded text).

squeue forgets finished jobs after MinJobAge, and without slurmdbd there is no sacct: a job missing from
the queue is never taken as success; only completion markers say a task is done.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

SQUEUE_FORMAT = "%F|%i|%T|%r|%j"


class SlurmQueryError(RuntimeError):
    """A Slurm command failed or printed something we cannot parse."""


@dataclass(frozen=True)
class QueueEntry:
    array_job_id: str  # %F: the array's job id (the job id itself for a non-array job)
    job_id: str  # %i: 123_4, 123_[5-9%2] for pending array tasks, or 123
    state: str  # PENDING, RUNNING, COMPLETING, ...
    reason: str  # Dependency, DependencyNeverSatisfied, Resources, None, ...
    name: str


def parse_squeue(text: str) -> list[QueueEntry]:
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|", 4)  # the job name is last and may itself contain "|"
        if len(parts) != 5:
            raise SlurmQueryError(
                f"cannot parse squeue line {line!r}: expected 5 fields {SQUEUE_FORMAT!r}; "
                "is this a Slurm squeue that supports -o?"
            )
        entries.append(QueueEntry(*(p.strip() for p in parts)))
    return entries


def run(argv: list[str], timeout: float = 60) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as err:
        raise SlurmQueryError(
            f"{argv[0]} not found: is Slurm installed and on PATH on this machine?"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise SlurmQueryError(f"{' '.join(argv)} did not answer in {timeout} s: is slurmctld up?") from err
    if result.returncode != 0:
        raise SlurmQueryError(f"{' '.join(argv)} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def queue(job_ids: Iterable[str]) -> list[QueueEntry]:
    """Queued or running entries (array tasks included) of the given array/job ids."""
    wanted = {str(j) for j in job_ids}
    if not wanted:
        return []
    entries = parse_squeue(run(["squeue", "-h", "--array", "-o", SQUEUE_FORMAT]))
    return [e for e in entries if e.array_job_id in wanted]


def parse_config(text: str) -> dict[str, str]:
    """`scontrol show config` -> {key: value}."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            values[key.strip()] = value.strip()
    return values


def cluster_config() -> dict[str, str]:
    return parse_config(run(["scontrol", "show", "config"]))


def find_by_comment(comment: str) -> list[str]:
    """Job ids whose --comment is `comment` (a submission tag): finds a job that sbatch queued although
    it reported a failure (e.g. a timeout after the controller accepted it)."""
    text = run(["squeue", "-h", "-o", "%F|%k"])
    found = []
    for line in text.splitlines():
        job_id, _, job_comment = line.partition("|")
        if job_comment.strip() == comment:
            found.append(job_id.strip())
    return list(dict.fromkeys(found))


def parse_sacct(text: str) -> dict[str, str]:
    """`sacct -n -P -X -o JobID,State` -> {"123_4": "OUT_OF_MEMORY", ...} (first word of the state)."""
    states = {}
    for line in text.splitlines():
        job_id, _, state = line.partition("|")
        if job_id.strip() and state.strip():
            states[job_id.strip()] = state.strip().split()[0]
    return states


def accounting(job_ids: Iterable[str]) -> dict[str, str] | None:
    """Final states from sacct, or None where there is no accounting (no slurmdbd)."""
    ids = sorted({str(j) for j in job_ids})
    if not ids:
        return {}
    try:
        return parse_sacct(
            run(["sacct", "-n", "-P", "-X", "-j", ",".join(ids), "-o", "JobID,State"], timeout=30)
        )
    except SlurmQueryError:
        return None
