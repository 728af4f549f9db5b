"""Reading what Slurm prints (pure, tested on recorded text): squeue, scontrol, sacct, sacctmgr and sbatch
output.

The commands themselves run in `smolprep.slurm.client`. squeue forgets finished jobs after MinJobAge, and
without slurmdbd there is no sacct: a job missing from the queue is never taken as success; only
completion markers say a task is done.

What Slurm knows about one job or array task, from sacct (the accounting database) or from
`scontrol show job` (the controller, until MinJobAge), is a `JobRecord`; the job limits of the user's
association and QOS, from sacctmgr, are `SubmitLimits`. These parsers are liberal: a field they cannot
read becomes None rather than an error, so that one odd value never hides the state of a whole stage;
only a line without the fields asked for is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

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
T = TypeVar("T")


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


# --- durations and sizes as Slurm prints them ---------------------------------------------------------------

NO_LIMIT = ("UNLIMITED", "INFINITE", "PARTITION_LIMIT", "NONE", "INVALID", "N/A", "")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_CLOCK = re.compile(r"^\d+(?::\d+){0,2}(?:\.\d+)?$")


def parse_duration(text: str) -> float | None:
    """Seconds in a Slurm duration: "1-02:03:04", "1-02", "02:03:04", "03:04" (minutes:seconds),
    "03:04.567" (sacct's TotalCPU), "30" (minutes, as --time takes it). None for no limit or a limit
    Slurm does not state ("UNLIMITED", "Partition_Limit"); SlurmQueryError for anything else."""
    value = text.strip()
    if value.upper() in NO_LIMIT:
        return None
    days, dash, clock = value.rpartition("-") if "-" in value else ("0", "", value)
    if not days.isdigit() or not _CLOCK.match(clock) or ("." in clock and clock.count(":") == 0):
        raise SlurmQueryError(
            f"cannot read the Slurm duration {text!r}: expected [days-]hours:minutes:seconds, "
            "minutes:seconds[.ms], minutes or UNLIMITED"
        )
    parts = [float(p) for p in clock.split(":")]
    if dash:  # days-hours[:minutes[:seconds]]
        parts += [0.0] * (3 - len(parts))
    elif len(parts) == 1:  # minutes
        parts = [0.0, parts[0], 0.0]
    hours, minutes, seconds = [0.0] * (3 - len(parts)) + parts
    return int(days) * 86400 + hours * 3600 + minutes * 60 + seconds


def parse_size(text: str) -> int | None:
    """Bytes in a Slurm size: "1234K", "1.5G", "4000M", "0"; binary units (K = 1024); a bare number is
    bytes. None for an empty field; SlurmQueryError for anything else."""
    value = text.strip()
    if not value:
        return None
    match = _SIZE.match(value)
    if not match:
        raise SlurmQueryError(f"cannot read the Slurm size {text!r}: expected a number with K, M, G, T or P")
    return round(float(match.group(1)) * _UNITS[match.group(2).upper()])


def _lenient(parse: Callable[[str], T], text: str) -> T | None:
    try:
        return parse(text)
    except SlurmQueryError:
        return None


def _seconds(text: str) -> int | None:
    value = _lenient(parse_duration, text)
    return None if value is None else round(value)


def _int(text: str) -> int | None:
    match = re.match(r"^\s*(\d+)", text)
    return int(match.group(1)) if match else None


def _exit_code(text: str) -> tuple[int | None, int | None]:
    """ "1:0" -> (1, 0): the exit code, then the signal that ended the job (0: none)."""
    code, _, signal = text.strip().partition(":")
    return _int(code), _int(signal)


def _node(text: str) -> str | None:
    value = text.strip()
    return None if value in ("", "None assigned", "(null)", "None") else value


def count_hosts(nodelist: str) -> int:
    """Hosts in a Slurm hostlist: "node[01-03,07],gpu1" -> 5 (0 for no node)."""
    count = 0
    for host in re.findall(r"[^,\[]*(?:\[[^\]]*\][^,\[]*)*", nodelist.strip()):
        if not host:
            continue
        product = 1
        for ranges in re.findall(r"\[([^\]]*)\]", host):
            product *= len(expand_indices(ranges))
        count += product
    return count


def expand_indices(spec: str) -> list[int]:
    """An array index list as Slurm prints it: "[4-9%2]", "1,3,5-7", "0-10:5" -> the indices."""
    indices: list[int] = []
    for part in spec.strip().strip("[]").split("%", 1)[0].split(","):
        span, _, step = part.partition(":")
        low, _, high = span.partition("-")
        if low.strip().isdigit() and (high or low).strip().isdigit():
            indices += range(int(low), int(high or low) + 1, int(step) if step.isdigit() else 1)
    return indices


def _names(job_id: str) -> list[str]:
    """An allocation's JobID -> the records it stands for: "123_[4-6]" -> 123_4, 123_5, 123_6."""
    base, sep, index = job_id.partition("_")
    if sep and index.startswith("["):
        return [f"{base}_{i}" for i in expand_indices(index)]
    return [job_id]


# --- one job or array task ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRecord:
    """What Slurm knows about one job or array task. Numbers are None where the command did not say."""

    job_id: str  # "123_4" for an array task, "123" for a job
    state: str  # first word: COMPLETED, FAILED, OUT_OF_MEMORY, TIMEOUT, NODE_FAIL, PREEMPTED, CANCELLED, ...
    exit_code: int | None = None  # "ExitCode=1:0" -> 1
    signal: int | None = None  # "ExitCode=0:9" -> 9
    max_rss_bytes: int | None = None  # sacct only: the largest MaxRSS of the job's steps
    elapsed_seconds: int | None = None
    time_limit_seconds: int | None = None  # None: UNLIMITED (or the partition's limit, unstated)
    req_mem_bytes: int | None = None  # memory asked for the whole job (per CPU x CPUs, per node x nodes)
    total_cpu_seconds: float | None = None  # sacct only
    alloc_cpus: int | None = None
    node: str | None = None  # node list, None before the job has one
    restarts: int | None = None  # scontrol's Restarts; from sacct --duplicates, the earlier attempts
    reason: str | None = None  # scontrol only: why it waits or failed (None when Slurm says None)
    history: tuple[str, ...] = ()  # sacct --duplicates: states of the earlier attempts, oldest first

    @property
    def attempts(self) -> int:
        return len(self.history) + 1

    @property
    def array_job_id(self) -> str:
        return self.job_id.partition("_")[0]


def select_records(records: dict[str, JobRecord], job_ids: Iterable[str]) -> dict[str, JobRecord]:
    """The records of the jobs asked about: an array's job id stands for all its tasks, "123_4" for itself
    (Slurm answers about a task of a pending array with the whole pending range)."""
    wanted = {str(j) for j in job_ids}
    return {name: r for name, r in records.items() if name in wanted or r.array_job_id in wanted}


def _job_memory(text: str, cpus: int | None, nodes: int) -> int | None:
    """sacct's ReqMem for the whole job: "8G" (22.05: the job's total), "2Gc" (per CPU), "4Gn" (per node,
    before 21.08)."""
    value = text.strip()
    per = value[-1:] if value[-1:] in ("c", "n") else ""
    size = _lenient(parse_size, value[: len(value) - len(per)])
    if size is None or per == "":
        return size
    if per == "c":
        return size * cpus if cpus else None
    return size * max(nodes, 1)


SACCT_FIELDS = (
    "JobID",
    "State",
    "ExitCode",
    "MaxRSS",
    "Elapsed",
    "Timelimit",
    "ReqMem",
    "TotalCPU",
    "AllocCPUS",
    "NodeList",
)
SACCT_FORMAT = ",".join(SACCT_FIELDS)


def _sacct_fields(line: str) -> list[str]:
    fields = [f.strip() for f in line.split("|")]
    if len(fields) < len(SACCT_FIELDS) or not fields[0]:
        raise SlurmQueryError(
            f"cannot parse sacct line {line!r}: expected {len(SACCT_FIELDS)} fields {SACCT_FORMAT!r} "
            "(sacct -n -P -o ...)"
        )
    return fields


def _sacct_record(name: str, fields: list[str], history: tuple[str, ...]) -> JobRecord:
    _, state, exit_code, max_rss, elapsed, limit, req_mem, total_cpu, cpus, nodes = fields[:10]
    code, signal = _exit_code(exit_code)
    alloc = _int(cpus)
    return JobRecord(
        job_id=name,
        state=(state.split() or ["UNKNOWN"])[0],
        exit_code=code,
        signal=signal,
        max_rss_bytes=_lenient(parse_size, max_rss),
        elapsed_seconds=_seconds(elapsed),
        time_limit_seconds=_seconds(limit),
        req_mem_bytes=_job_memory(req_mem, alloc, count_hosts(_node(nodes) or "")),
        total_cpu_seconds=_lenient(parse_duration, total_cpu),
        alloc_cpus=alloc,
        node=_node(nodes),
        restarts=len(history),
        history=history,
    )


def parse_sacct_records(text: str) -> dict[str, JobRecord]:
    """`sacct -n -P --duplicates -o <SACCT_FORMAT> -j <ids>` -> {"123_4": JobRecord, ...}.

    Allocation lines ("123_4", "123", a pending array's "123_[5-9]") make the records; step lines
    ("123_4.batch", "123_4.extern", "123_4.0") follow their allocation and only raise its max_rss (MaxRSS is
    measured on steps). A requeued task has one allocation line per attempt, oldest first: the last is the
    record, the earlier ones its `history` (PENDING placeholders of a not yet split array are not attempts)."""
    records: dict[str, JobRecord] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = _sacct_fields(line)
        job_id, is_step, _ = fields[0].partition(".")
        if is_step:
            _add_step(records, job_id, fields)
            continue
        for name in _names(job_id):
            earlier = records.get(name)
            history = earlier.history if earlier else ()
            if earlier and earlier.state != "PENDING":
                history = (*history, earlier.state)
            records[name] = _sacct_record(name, fields, history)
    return records


# a step's state that says more than its job's: a task whose srun step the cgroup killed for memory ends
# its job FAILED (the batch script exits non-zero after srun), while the step says OUT_OF_MEMORY
_STEP_STATES_FIRST = ("OUT_OF_MEMORY",)


def _add_step(records: dict[str, JobRecord], job_id: str, fields: list[str]) -> None:
    record, rss = records.get(job_id), _lenient(parse_size, fields[3])
    if record is None:
        return
    if rss is not None and rss > (record.max_rss_bytes or 0):
        record = replace(record, max_rss_bytes=rss)
    state = fields[1].split()[0] if fields[1].strip() else ""
    if state in _STEP_STATES_FIRST and record.state == "FAILED":
        record = replace(record, state=state)
    records[job_id] = record


# --- the controller's view: scontrol show job -o -------------------------------------------------------------

_KEY = re.compile(r"^[A-Za-z][\w/:.]*$")
_FORGOTTEN = ("invalid job id", "job has expired", "no jobs in the system")


def scontrol_fields(line: str) -> dict[str, str]:
    """One `scontrol show job -o` line -> {key: value}; a value with spaces (Command=, Comment=) keeps them."""
    fields: dict[str, str] = {}
    key = ""
    for token in line.split():
        name, sep, value = token.partition("=")
        if sep and _KEY.match(name):
            key, fields[name] = name, value
        elif key:
            fields[key] += " " + token
    return fields


def _scontrol_memory(fields: dict[str, str], cpus: int | None) -> int | None:
    per_cpu = _lenient(parse_size, fields.get("MinMemoryCPU", ""))
    if per_cpu is not None:
        return per_cpu * cpus if cpus else None
    per_node = _lenient(parse_size, fields.get("MinMemoryNode", ""))
    if per_node is not None:
        return per_node * max(_int(fields.get("NumNodes", "")) or 1, 1)
    tres = dict(t.partition("=")[::2] for t in fields.get("TRES", fields.get("ReqTRES", "")).split(","))
    return _lenient(parse_size, tres.get("mem", ""))


def _scontrol_names(fields: dict[str, str]) -> list[str]:
    array_job, task = fields.get("ArrayJobId", ""), fields.get("ArrayTaskId", "")
    if array_job and task and task != "N/A":
        return [f"{array_job}_{i}" for i in expand_indices(task)]
    return [fields["JobId"]]


def parse_scontrol_jobs(text: str) -> dict[str, JobRecord]:
    """`scontrol show job -o <id>` -> {"123_4": JobRecord, ...}: one line per job or array task, named
    ArrayJobId_ArrayTaskId for array tasks (a pending array's "ArrayTaskId=5-9%2" stands for each task)."""
    records: dict[str, JobRecord] = {}
    for line in text.splitlines():
        fields = scontrol_fields(line)
        if "JobId" not in fields:
            continue
        code, signal = _exit_code(fields.get("ExitCode", ""))
        cpus = _int(fields.get("NumCPUs", ""))
        reason = fields.get("Reason", "")
        for name in _scontrol_names(fields):
            records[name] = JobRecord(
                job_id=name,
                state=(fields.get("JobState", "").split() or ["UNKNOWN"])[0],
                exit_code=code,
                signal=signal,
                elapsed_seconds=_seconds(fields.get("RunTime", "")),
                time_limit_seconds=_seconds(fields.get("TimeLimit", "")),
                req_mem_bytes=_scontrol_memory(fields, cpus),
                alloc_cpus=cpus,
                node=_node(fields.get("NodeList", "")),
                restarts=_int(fields.get("Restarts", "")),
                reason=None if reason in ("", "None") else reason,
            )
    return records


def is_forgotten(message: str) -> bool:
    """Whether scontrol's error says the controller does not know the job (finished past MinJobAge)."""
    return any(words in message.lower() for words in _FORGOTTEN)


# --- association and QOS limits: sacctmgr ---------------------------------------------------------------------

# DefaultQOS tells which QOS a job gets without --qos; an answer without that column is read too
ASSOC_FORMAT = "User,Account,Partition,MaxJobs,MaxSubmit,GrpJobs,GrpSubmit,QOS,DefaultQOS"
QOS_FORMAT = "Name,MaxJobsPU,MaxSubmitPU,GrpJobs,GrpSubmit,MaxJobsPA,MaxSubmitPA"
# column -> (the limit's name in Slurm's docs, bounds queued jobs (else running ones), shared with other users)
_ASSOC_COLUMNS = {
    3: ("MaxJobs", False, False),
    4: ("MaxSubmitJobs", True, False),
    5: ("GrpJobs", False, False),
    6: ("GrpSubmitJobs", True, False),
}
_QOS_COLUMNS = {
    1: ("MaxJobsPerUser", False, False),
    2: ("MaxSubmitJobsPerUser", True, False),
    3: ("GrpJobs", False, True),
    4: ("GrpSubmitJobs", True, True),
    5: ("MaxJobsPerAccount", False, True),
    6: ("MaxSubmitJobsPerAccount", True, True),
}


@dataclass(frozen=True)
class SubmitLimit:
    """One job limit of the accounting database, and where it is set."""

    name: str  # as Slurm's docs name it: MaxSubmitJobs, MaxSubmitJobsPerUser, GrpSubmitJobs, MaxJobs, ...
    value: int
    where: str  # "association alice/physics" ("/<partition>" for a partition's association), "QOS normal"
    queued: bool  # True: bounds queued and running jobs (a submit limit); False: running jobs only
    shared: bool  # True: other users' jobs count against it too (a QOS's Grp and per-account limits)

    def describe(self) -> str:
        return f"{self.where} {self.name} {self.value}"


@dataclass(frozen=True)
class SubmitLimits:
    """The job limits of the user's associations and of the QOS their jobs run under (sacctmgr)."""

    user: str
    limits: tuple[SubmitLimit, ...] = ()

    def submit(self) -> tuple[SubmitLimit, ...]:
        """The limits that bound how many jobs (array tasks count one each) may be queued at once."""
        return tuple(limit for limit in self.limits if limit.queued)

    def running(self) -> tuple[SubmitLimit, ...]:
        """The limits that bound only how many run at once (the rest wait in the queue)."""
        return tuple(limit for limit in self.limits if not limit.queued)

    def describe(self) -> str:
        found = "; ".join(limit.describe() for limit in self.limits)
        return found or f"no association or QOS job limit for {self.user}"


def _rows(text: str, columns: int) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.strip():
            fields = [f.strip() for f in line.split("|")]
            rows.append(fields + [""] * (columns - len(fields)))
    return rows


def _found(fields: list[str], columns: dict[int, tuple[str, bool, bool]], where: str) -> list[SubmitLimit]:
    return [
        SubmitLimit(name, int(fields[column]), where, queued, shared)
        for column, (name, queued, shared) in columns.items()
        if fields[column].isdigit()
    ]


def _association(fields: list[str]) -> str:
    user, account, partition = fields[:3]
    return "association " + "/".join(p for p in (user or "(account)", account, partition) if p)


def _association_limits(row: list[str]) -> list[SubmitLimit]:
    """An account's own row (no user) has Grp limits all its users share; a user's row, the user's own."""
    return [
        replace(limit, shared=not row[0] and limit.name.startswith("Grp"))
        for limit in _found(row, _ASSOC_COLUMNS, _association(row))
    ]


def _job_qos(fields: list[str]) -> str | None:
    """The QOS a job of this association gets without --qos: its default QOS, else its only QOS, else
    "normal" when allowed (as slurmctld chooses)."""
    allowed = [q for q in fields[7].split(",") if q]
    if fields[8]:
        return fields[8]
    if len(allowed) == 1:
        return allowed[0]
    return "normal" if "normal" in allowed else None


def parse_submit_limits(user: str, assoc_text: str, qos_text: str, qos: str | None = None) -> SubmitLimits:
    """`sacctmgr -n -P show assoc where user=<user> format=<ASSOC_FORMAT>` and `sacctmgr -n -P show qos
    format=<QOS_FORMAT>` -> the limits that apply to the user's jobs: every association row (the most
    restrictive applies when the account is not given), and the QOS `qos`, or each association's default."""
    associations = _rows(assoc_text, 9)
    limits = [limit for row in associations for limit in _association_limits(row)]
    names = {qos} if qos else {_job_qos(row) for row in associations} - {None}
    for row in _rows(qos_text, 7):
        if row[0] in names:
            limits += _found(row, _QOS_COLUMNS, f"QOS {row[0]}")
    return SubmitLimits(user, tuple(limits))
