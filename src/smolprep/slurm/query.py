"""Reading what Slurm prints (pure, tested on recorded text): squeue, scontrol, sacct and sbatch output.

The commands themselves run in `smolprep.slurm.client`. squeue forgets finished jobs after MinJobAge, and
without slurmdbd there is no sacct: a job missing from the queue is never taken as success; only
completion markers say a task is done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smolprep.slurm.errors import SbatchError, SlurmQueryError

SQUEUE_FORMAT = "%F|%i|%T|%r|%j"
COMMENT_FORMAT = "%F|%k"  # array job id and --comment (our submission tag)

_BUSY = (
    "resource temporarily unavailable",
    "maxjobcount",
    "maxsubmit",
    "qosmaxsubmitjob",
    "assocmaxsubmitjob",
)
_JOB_ID = re.compile(r"^(\d+)(;\S+)?$")


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


def parse_comments(text: str, comment: str) -> list[str]:
    """`squeue -h -o '%F|%k'` -> the (array) job ids whose --comment is `comment`, each once."""
    found = []
    for line in text.splitlines():
        job_id, _, job_comment = line.partition("|")
        if job_comment.strip() == comment:
            found.append(job_id.strip())
    return list(dict.fromkeys(found))


def parse_config(text: str) -> dict[str, str]:
    """`scontrol show config` -> {key: value}."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            values[key.strip()] = value.strip()
    return values


def parse_sacct(text: str) -> dict[str, str]:
    """`sacct -n -P -X -o JobID,State` -> {"123_4": "OUT_OF_MEMORY", ...} (first word of the state)."""
    states = {}
    for line in text.splitlines():
        job_id, _, state = line.partition("|")
        if job_id.strip() and state.strip():
            states[job_id.strip()] = state.strip().split()[0]
    return states


def parse_sbatch_parsable(output: str) -> str:
    """`sbatch --parsable` prints `<jobid>` or `<jobid>;<cluster>`."""
    text = output.strip().splitlines()[-1] if output.strip() else ""
    match = _JOB_ID.match(text)
    if not match:
        raise SbatchError(
            f"cannot read a job id from sbatch's output {output!r}: expected '<jobid>' or '<jobid>;<cluster>' "
            "(--parsable); the job may or may not have been queued: check `squeue --me`"
        )
    return match.group(1)


def is_busy(message: str) -> bool:
    """Whether sbatch's refusal says the controller is at a job limit (worth trying again later)."""
    return any(word in message.lower() for word in _BUSY)
