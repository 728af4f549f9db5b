"""A Slurm controller in memory, with the methods of `smolprep.slurm.client.SlurmClient`.

It keeps jobs and array tasks in the states Slurm gives them (PENDING, with `Dependency` or
`DependencyNeverSatisfied` as the reason, RUNNING, COMPLETED, FAILED, CANCELLED), honours `afterok` and
`afterany` dependencies and `--kill-on-invalid-dep`, and refuses what a controller refuses: an array index
past MaxArraySize, more queued array tasks than MaxJobCount (busy), a dependency on an unknown job.
Its answers go through the same parsers as real squeue, scontrol, sacct, sacctmgr and sbatch output. With
`accounting=True` it has a slurmdbd: sacct knows every task it ran (the state `finish` gave, the resources
of the script's #SBATCH lines; `records` replaces or adds records), and sacctmgr tells the association's
`max_submit_jobs` (which sbatch enforces, busy, like MaxJobCount) and the QOS lines of `qos_text`.
`scontrol show job` knows every job but the `forgotten` ones (past MinJobAge).

Nothing runs by itself: a test runs tasks (`finish`, `run_all`, or `tick`, called at each look at the
queue). A completed task of a datatrove array writes the completion markers of its ranks, found the way
datatrove finds them on the node (executor.json, ranks_to_run.json, RUN_OFFSET and the array index), so
status, resubmit and waves read real run state; a failed one writes none.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from smolprep.slurm.errors import SbatchBusy, SbatchError
from smolprep.slurm.query import (
    JobRecord,
    QueueEntry,
    SubmitLimits,
    is_busy,
    parse_comments,
    parse_config,
    parse_sacct_records,
    parse_sbatch_parsable,
    parse_scontrol_jobs,
    parse_size,
    parse_squeue,
    parse_submit_limits,
    select_records,
)

ACTIVE = ("PENDING", "RUNNING")
EXIT_CODES = {"COMPLETED": "0:0", "FAILED": "1:0", "OUT_OF_MEMORY": "0:125", "CANCELLED": "0:15"}
FAKE_RSS = "10240K"  # MaxRSS of every finished task's batch step
_DIRECTIVE = re.compile(r"^#SBATCH\s+--([\w-]+)(?:=(.*))?$")


def directives(script: str) -> dict[str, str]:
    """The script's `#SBATCH --key=value` lines ('' for a flag)."""
    found = {}
    for line in script.splitlines():
        match = _DIRECTIVE.match(line.strip())
        if match:
            value = match.group(2) or ""
            found[match.group(1)] = shlex.split(value)[0] if value else ""
    return found


def array_indices(spec: str) -> list[int]:
    """'0-4%8' -> [0, 1, 2, 3, 4]."""
    indices: list[int] = []
    for part in spec.split("%", 1)[0].split(","):
        low, _, high = part.partition("-")
        indices += range(int(low), int(high or low) + 1)
    return indices


@dataclass
class FakeJob:
    job_id: str
    name: str
    comment: str
    script: str
    after: list[tuple[str, str]]  # (afterok | afterany, job id)
    kill_on_invalid_dep: bool
    is_array: bool
    states: dict[int, str]  # array index (0 for a plain job) -> state
    reasons: dict[int, str] = field(default_factory=dict)

    def task_id(self, index: int) -> str:
        return f"{self.job_id}_{index}" if self.is_array else self.job_id

    def active(self) -> list[int]:
        return [i for i, state in self.states.items() if state in ACTIVE]

    @property
    def finished(self) -> bool:
        return not self.active()

    @property
    def succeeded(self) -> bool:
        return all(state == "COMPLETED" for state in self.states.values())

    def resources(self) -> tuple[str, int, str]:
        """Time limit, CPUs and memory per CPU from the #SBATCH lines."""
        options = directives(self.script)
        return (
            options.get("time", "UNLIMITED"),
            int(options.get("cpus-per-task", "1")),
            options.get("mem-per-cpu", "0"),
        )

    def ranks(self, index: int) -> list[int]:
        """The datatrove ranks array index `index` runs (SlurmPipelineExecutor.run), [] for other jobs."""
        match = re.search(r"launch_pickled_pipeline (\S+)", self.script)
        offset = re.search(r"^export RUN_OFFSET=(\d+)$", self.script, re.MULTILINE)
        if not match or not offset:
            return []
        logs = Path(shlex.split(match.group(1))[0]).parent
        executor = json.loads((logs / "executor.json").read_text())
        ranks = json.loads((logs / "ranks_to_run.json").read_text())
        job = index + executor["max_array_size"] * int(offset.group(1))
        per_job = executor["tasks_per_job"]
        return ranks[job * per_job : (job + 1) * per_job]

    def write_markers(self, index: int) -> None:
        match = re.search(r"launch_pickled_pipeline (\S+)", self.script)
        if not match:
            return
        completions = Path(shlex.split(match.group(1))[0]).parent / "completions"
        completions.mkdir(parents=True, exist_ok=True)
        for rank in self.ranks(index):
            (completions / f"{rank:05d}").touch()


class FakeSlurm:
    """A SlurmClient over an in-memory controller; `calls` lists every command it answered."""

    def __init__(
        self,
        max_array_size: int = 1001,
        max_job_count: int = 10_000,
        partitions: Sequence[str] = ("cpu",),
        accounting: bool = False,
        tick: Callable[[FakeSlurm], None] | None = None,
        max_submit_jobs: int | None = None,
    ) -> None:
        self.max_array_size = max_array_size
        self.max_job_count = max_job_count
        self.max_submit_jobs = max_submit_jobs  # the association's MaxSubmitJobs (needs accounting)
        self.qos_text = "normal||||||\n"  # sacctmgr -n -P show qos format=<QOS_FORMAT>
        self.records: dict[str, JobRecord] = {}  # sacct records that replace or add to the generated ones
        self.forgotten: set[str] = set()  # job ids scontrol no longer knows (finished past MinJobAge)
        self.partitions = tuple(partitions)
        self.has_accounting = accounting
        self.tick = tick
        self.jobs: dict[str, FakeJob] = {}
        self.calls: list[str] = []
        self.refuse_next: list[str] = []  # messages sbatch prints for its next refusals, one each
        self.lose_answers = 0  # the next sbatch calls queue their job but report a timeout
        self.peak_queued = 0
        self.history: list[tuple[str, int, str]] = []  # (job id, array index, final state), in order
        self._next_id = 1000

    # --- the SlurmClient methods -------------------------------------------------------------------

    def sbatch(self, script: str, after: Sequence[str] = ()) -> str:
        self.calls.append("sbatch")
        if self.refuse_next:
            self._refuse(self.refuse_next.pop(0))
        options = directives(script)
        dependency = [("afterok", j) for j in after] + _dependencies(options.get("dependency", ""))
        for _, job_id in dependency:
            if job_id not in self.jobs:
                self._refuse("sbatch: error: Batch job submission failed: Job dependency problem")
        indices = array_indices(options["array"]) if "array" in options else [0]
        if max(indices) >= self.max_array_size:
            self._refuse("sbatch: error: Batch job submission failed: Invalid job array specification")
        if self.queued_tasks() + len(indices) > self.max_job_count:
            self._refuse("sbatch: error: Batch job submission failed: Resource temporarily unavailable")
        if self._submit_limit() is not None and self.queued_tasks() + len(indices) > self.max_submit_jobs:
            self._refuse(
                "sbatch: error: AssocMaxSubmitJobLimit\nsbatch: error: Batch job submission failed: "
                "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)"
            )
        job_id = str(self._next_id)
        self._next_id += 1
        self.jobs[job_id] = FakeJob(
            job_id,
            options.get("job-name", "sbatch"),
            options.get("comment", ""),
            script,
            dependency,
            options.get("kill-on-invalid-dep") == "yes",
            "array" in options,
            dict.fromkeys(indices, "PENDING"),
        )
        self._settle()
        self.peak_queued = max(self.peak_queued, self.queued_tasks())
        if self.lose_answers:
            self.lose_answers -= 1
            raise SbatchError("sbatch --parsable did not answer in 120 s: is slurmctld up?")
        return parse_sbatch_parsable(f"{job_id}\n")

    def test_only(self, script: str | None = None, options: Sequence[str] = ()) -> str:
        self.calls.append("sbatch --test-only")
        given = dict(o.removeprefix("--").split("=", 1) for o in options if "=" in o)
        given |= directives(script or "")
        partition = given.get("partition", self.partitions[0])
        if partition not in self.partitions:
            self._refuse("sbatch: error: invalid partition specified: " + partition)
        start = "2026-01-01T00:00:00"
        return f"sbatch: Job {self._next_id} to start at {start} using 1 processors in partition {partition}"

    def scancel(self, job_ids: Sequence[str]) -> None:
        self.calls.append("scancel " + " ".join(job_ids))
        for name in job_ids:
            job_id, _, index = name.partition("_")
            job = self.jobs.get(job_id)
            if job is None:
                continue
            for i in [int(index)] if index else job.active():
                if job.states[i] in ACTIVE:
                    job.states[i] = "CANCELLED"
        self._settle()

    def queue(self, job_ids: Iterable[str]) -> list[QueueEntry]:
        wanted = {str(j) for j in job_ids}
        self.calls.append("squeue")
        if self.tick is not None:
            self.tick(self)
        return [e for e in parse_squeue(self.squeue_text()) if e.array_job_id in wanted]

    def config(self) -> dict[str, str]:
        self.calls.append("scontrol show config")
        text = (
            f"MaxArraySize            = {self.max_array_size}\n"
            f"MaxJobCount             = {self.max_job_count}\n"
        )
        return parse_config(text)

    def find_by_comment(self, comment: str) -> list[str]:
        self.calls.append("squeue comments")
        lines = [f"{j.job_id}|{j.comment}" for j in self.jobs.values() if not j.finished]
        return parse_comments("\n".join(lines), comment)

    def accounting(self, job_ids: Iterable[str]) -> dict[str, str] | None:
        records = self.job_records(job_ids)
        return None if records is None else {name: r.state for name, r in records.items()}

    def job_records(self, job_ids: Iterable[str]) -> dict[str, JobRecord] | None:
        self.calls.append("sacct")
        if not self.has_accounting:
            return None
        found = parse_sacct_records(self.sacct_text()) | self.records
        return select_records(found, job_ids)

    def controller_records(self, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        self.calls.append("scontrol show job")
        return select_records(parse_scontrol_jobs(self.scontrol_text()), job_ids)

    def submit_limits(
        self, user: str, account: str | None = None, qos: str | None = None
    ) -> SubmitLimits | None:
        self.calls.append("sacctmgr")
        if not self.has_accounting:
            return None
        limit = "" if self.max_submit_jobs is None else str(self.max_submit_jobs)
        assoc = f"{user}|{account or 'root'}|||{limit}|||normal|normal\n"
        return parse_submit_limits(user, assoc, self.qos_text, qos)

    # --- what squeue prints ---------------------------------------------------------------------------

    def squeue_text(self) -> str:
        """`squeue -h --array -o '%F|%i|%T|%r|%j'`: active tasks, one line each."""
        return "".join(
            f"{job.job_id}|{job.task_id(i)}|{job.states[i]}|{job.reasons.get(i, 'None')}|{job.name}\n"
            for job in self.jobs.values()
            for i in job.active()
        )

    def sacct_text(self) -> str:
        """`sacct -n -P --duplicates -o <SACCT_FORMAT>`: each task's allocation line, a finished or running
        one's batch step after it."""
        lines = []
        for job in self.jobs.values():
            time, cpus, mem_per_cpu = job.resources()
            mem = f"{cpus * (parse_size(mem_per_cpu) or 0) // 2**20}M"  # 22.05: the job's total
            for i, state in job.states.items():
                ran = state != "PENDING"
                code, node = EXIT_CODES.get(state, "0:0"), "fake-node" if ran else "None assigned"
                used = f"00:00:01|{time}|{mem}|00:00.500|{cpus if ran else 0}|{node}"
                lines.append(f"{job.task_id(i)}|{state}|{code}||{used}")
                if ran:
                    lines.append(f"{job.task_id(i)}.batch|{state}|{code}|{FAKE_RSS}|{used}")
        return "".join(line + "\n" for line in lines)

    def scontrol_text(self) -> str:
        """`scontrol show job -o`: one line per task of the jobs the controller still knows."""
        lines = []
        for job in self.jobs.values():
            if job.job_id in self.forgotten:
                continue
            time, cpus, mem_per_cpu = job.resources()
            for i, state in job.states.items():
                array = f"ArrayJobId={job.job_id} ArrayTaskId={i} " if job.is_array else ""
                node = "(null)" if state == "PENDING" else "fake-node"
                lines.append(
                    f"JobId={job.job_id} {array}JobName={job.name} JobState={state} "
                    f"Reason={job.reasons.get(i, 'None')} Restarts=0 ExitCode={EXIT_CODES.get(state, '0:0')} "
                    f"RunTime=00:00:01 TimeLimit={time} NodeList={node} NumNodes=1 NumCPUs={cpus} "
                    f"MinMemoryCPU={mem_per_cpu}"
                )
        return "".join(line + "\n" for line in lines)

    def queued_tasks(self) -> int:
        return sum(len(job.active()) for job in self.jobs.values())

    # --- running tasks ----------------------------------------------------------------------------------

    def runnable(self) -> list[tuple[FakeJob, int]]:
        """Pending tasks whose dependencies are satisfied, oldest job first."""
        return [
            (job, i)
            for job in self.jobs.values()
            for i in job.active()
            if job.states[i] == "PENDING" and self._satisfied(job) is True
        ]

    def start(self, job_id: str, index: int = 0) -> None:
        job = self.jobs[job_id]
        if (job, index) not in self.runnable():
            raise ValueError(f"task {job.task_id(index)} cannot start: {job.states[index]}")
        job.states[index], job.reasons[index] = "RUNNING", "None"

    def finish(self, job_id: str, index: int = 0, state: str = "COMPLETED") -> None:
        """End a running or runnable task; a completed one writes its ranks' completion markers."""
        job = self.jobs[job_id]
        if job.states[index] == "PENDING":
            self.start(job_id, index)
        if job.states[index] != "RUNNING":
            raise ValueError(f"task {job.task_id(index)} is {job.states[index]}, not running")
        if state == "COMPLETED":
            job.write_markers(index)
        job.states[index] = state
        self.history.append((job_id, index, state))
        self._settle()

    def run_all(
        self, fails: Callable[[FakeJob, int], bool] = lambda job, index: False, limit: int = 0
    ) -> int:
        """Run runnable tasks (and those they unblock) until none is left, or `limit` tasks ran; `fails`
        picks the tasks that fail. Returns how many ran."""
        ran = 0
        while not limit or ran < limit:
            ready = self.runnable()
            if not ready:
                break
            job, index = ready[0]
            self.finish(job.job_id, index, "FAILED" if fails(job, index) else "COMPLETED")
            ran += 1
        return ran

    def job_of_step(self, name: str) -> list[FakeJob]:
        return [job for job in self.jobs.values() if job.name == name]

    # --- the controller -----------------------------------------------------------------------------------

    def _submit_limit(self) -> int | None:
        return self.max_submit_jobs if self.has_accounting else None

    def _refuse(self, said: str) -> None:
        kind = SbatchBusy if is_busy(said) else SbatchError
        raise kind(f"sbatch refused the job: {said}", said)

    def _satisfied(self, job: FakeJob) -> bool | None:
        """True: may start; False: waits (Dependency); None: never will (DependencyNeverSatisfied)."""
        waiting = False
        for kind, job_id in job.after:
            upstream = self.jobs[job_id]
            if not upstream.finished:
                waiting = True
            elif kind == "afterok" and not upstream.succeeded:
                return None
        return not waiting

    def _settle(self) -> None:
        """Give pending tasks their reason; kill those whose dependency can never be met (cascading)."""
        changed = True
        while changed:
            changed = False
            for job in self.jobs.values():
                satisfied = self._satisfied(job)
                for i in job.active():
                    if job.states[i] != "PENDING":
                        continue
                    if satisfied is None and job.kill_on_invalid_dep:
                        job.states[i], changed = "CANCELLED", True
                    else:
                        reason = {True: "None", False: "Dependency", None: "DependencyNeverSatisfied"}
                        job.reasons[i] = reason[satisfied]


def _dependencies(spec: str) -> list[tuple[str, str]]:
    """'afterany:12:13,afterok:14' -> [("afterany", "12"), ("afterany", "13"), ("afterok", "14")]."""
    found = []
    for part in filter(None, spec.split(",")):
        kind, *ids = part.split(":")
        found += [(kind, job_id) for job_id in ids]
    return found
