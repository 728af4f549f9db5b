"""How well each step's tasks used what they asked Slurm for, and what to ask next time (pure).

A step's profile resources (`StepResources`: time, cpus, mem_per_cpu) are a guess made before the run; the
tasks that ended say what the guess should have been. Per ended task (`TaskUsage`):

- CPU efficiency: CPU seconds ÷ (elapsed × CPUs), how busy the CPUs it held were;
- memory share: max RSS ÷ the memory it asked for;
- time share: elapsed ÷ its time limit.

Per step (`StepEfficiency`) the median and the largest of each ratio, the largest RSS and elapsed time, the
resources the step asks for, and a suggestion: the largest RSS and elapsed time with headroom
(`MEMORY_HEADROOM`, `TIME_HEADROOM`), rounded up.

The numbers come from one of two places. `sacct` knows every array task of every submission in the ledger
(`stage_efficiency_from_sacct`, given the records the caller asked sacct for, keyed as `array_task_ids`
names them). The exit records each Slurm task writes on shared storage (`smolprep.slurm.exit_record`) need
no accounting and outlive MinJobAge (`stage_efficiency_from_exits`: what the stage report uses). A local run
writes no exit records: nothing is measured.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from smolprep.config.profile import StepResources, format_memory, format_time, memory_bytes, time_seconds
from smolprep.plan import StagePlan
from smolprep.slurm.causes import FAILURE_STATES
from smolprep.slurm.exit_record import read_exit_records
from smolprep.slurm.query import JobRecord
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from smolprep.state.ledger import LedgerEntry

# A suggestion asks for the largest max RSS measured plus 25%: RSS varies from one input shard to the next,
# and a task over its memory is killed outright (OUT_OF_MEMORY) and starts again from zero.
MEMORY_HEADROOM = 1.25
# ... and the longest elapsed time plus 50%: run times vary more than memory (busy nodes, slower shared
# storage, a larger shard), and a task over its limit is killed (TIMEOUT) and starts again from zero.
TIME_HEADROOM = 1.5
MEMORY_STEP = 256 * 1024**2  # memory per CPU is rounded up to a multiple of 256M ...
MIN_MEMORY = MEMORY_STEP  # ... and is at least that
TIME_STEP = 5 * 60  # the time limit is rounded up to 5 minutes ...
MIN_TIME = 10 * 60  # ... and is at least 10 minutes

SACCT = "sacct"
EXIT_RECORDS = "exit records"
ENDED_SLURM_STATES = frozenset({"COMPLETED"}) | FAILURE_STATES  # sacct's states of a task that ended
ENDED_EXIT_STATES = frozenset({"completed", "error", "time-limit", "terminated"})  # exit records' states
RATIOS = ("cpu_efficiency", "memory_share", "time_share")
HEADER = (
    "step",
    "tasks measured",
    "CPU efficiency (median / max)",
    "memory used / asked (median / max)",
    "time used / limit (median / max)",
    "asked",
    "suggested",
    "source",
)

Number = float | int | None


@dataclass(frozen=True)
class TaskUsage:
    """What one ended task used of what it asked for; None where the record does not say."""

    cpu_efficiency: float | None  # CPU seconds ÷ (elapsed × CPUs)
    memory_share: float | None  # max RSS ÷ memory asked
    time_share: float | None  # elapsed ÷ time limit
    max_rss_bytes: int | None
    elapsed_seconds: float | None
    cpus: int | None = None  # CPUs the task held


def _ratio(part: Number, whole: Number) -> float | None:
    return None if part is None or not whole else part / whole


def _usage(
    cpu_seconds: Number, elapsed: Number, cpus: int | None, rss: int | None, mem: Number, limit: Number
) -> TaskUsage:
    held = None if elapsed is None or cpus is None else elapsed * cpus
    return TaskUsage(_ratio(cpu_seconds, held), _ratio(rss, mem), _ratio(elapsed, limit), rss, elapsed, cpus)


def usage_from_record(record: JobRecord) -> TaskUsage | None:
    """sacct's record of one array task -> its usage; None unless it ended (COMPLETED or a failure state)."""
    state = record.state.split()[0] if record.state.strip() else ""
    if state not in ENDED_SLURM_STATES:
        return None
    return _usage(
        record.total_cpu_seconds,
        record.elapsed_seconds,
        record.alloc_cpus,
        record.max_rss_bytes,
        record.req_mem_bytes,
        record.time_limit_seconds,
    )


def usage_from_exit(record: Mapping[str, Any]) -> TaskUsage | None:
    """One exit record -> the usage of its attempt; None unless it ended (completed, error, time-limit,
    terminated: a `running` or `requeued` record has not)."""
    if record.get("state") not in ENDED_EXIT_STATES:
        return None
    return _usage(
        record.get("cpu_seconds"),
        record.get("elapsed"),
        record.get("cpus"),
        record.get("max_rss_bytes"),
        record.get("mem_limit_bytes"),
        record.get("time_limit_seconds"),
    )


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _largest(values: Iterable[Any]) -> Any:
    known = [v for v in values if v is not None]
    return max(known) if known else None


@dataclass(frozen=True)
class StepEfficiency:
    """The ended tasks of one step: each ratio's median and maximum, and what the step asks for."""

    dataset: str
    step: str
    measured: int  # tasks measured (array tasks: several ranks run in one are one task)
    source: str  # "sacct" or "exit records"
    cpu_efficiency_median: float | None
    cpu_efficiency_max: float | None
    memory_share_median: float | None
    memory_share_max: float | None
    time_share_median: float | None
    time_share_max: float | None
    max_rss_bytes: int | None
    max_elapsed_seconds: float | None
    asked: StepResources | None  # what the step's last submission asked for (None: unknown)
    cpus: int | None = None  # the most CPUs a measured task held

    def suggestion(self) -> StepResources | None:
        """The largest max RSS × MEMORY_HEADROOM spread over the CPUs (rounded up to 256M, at least 256M) and
        the longest elapsed time × TIME_HEADROOM (rounded up to 5 minutes, at least 10); CPUs unchanged. What
        was not measured keeps what the step asks for; None when there is neither."""
        cpus = self.asked.cpus if self.asked else (self.cpus or 1)
        memory = self.asked.mem_per_cpu if self.asked else None
        limit = self.asked.time if self.asked else None
        if self.max_rss_bytes is not None:
            per_cpu = self.max_rss_bytes * MEMORY_HEADROOM / cpus
            memory = format_memory(max(MIN_MEMORY, _round_up(per_cpu, MEMORY_STEP)) / 1024)
        if self.max_elapsed_seconds is not None:
            limit = format_time(max(MIN_TIME, _round_up(self.max_elapsed_seconds * TIME_HEADROOM, TIME_STEP)))
        if memory is None or limit is None:
            return None
        return StepResources(time=limit, cpus=cpus, mem_per_cpu=memory)

    def as_json(self) -> dict[str, Any]:
        """The manifest's entry (docs/report.md): ratios as fractions (0.5 is 50%)."""
        suggestion = self.suggestion()
        return {
            "dataset": self.dataset,
            "step": self.step,
            "tasks_measured": self.measured,
            "source": self.source,
            **{
                name: {"median": _rounded(self, name, "median"), "max": _rounded(self, name, "max")}
                for name in RATIOS
            },
            "max_rss_bytes": self.max_rss_bytes,
            "max_elapsed_seconds": self.max_elapsed_seconds,
            "cpus": self.cpus,
            "asked": asdict(self.asked) if self.asked else None,
            "suggested": asdict(suggestion) if suggestion else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepEfficiency:
        """An `as_json` entry (of a manifest) back into a StepEfficiency."""
        ratios = {f"{name}_{which}": data[name][which] for name in RATIOS for which in ("median", "max")}
        asked = data.get("asked")
        return cls(
            data["dataset"],
            data["step"],
            data["tasks_measured"],
            data["source"],
            **ratios,
            max_rss_bytes=data["max_rss_bytes"],
            max_elapsed_seconds=data["max_elapsed_seconds"],
            asked=StepResources(**asked) if asked else None,
            cpus=data.get("cpus"),
        )


def _rounded(eff: StepEfficiency, name: str, which: str) -> float | None:
    value = getattr(eff, f"{name}_{which}")
    return None if value is None else round(value, 4)


def _round_up(value: float, step: int) -> int:
    return math.ceil(value / step) * step


def step_efficiency(
    dataset: str, step: str, usages: Iterable[TaskUsage], asked: StepResources | None, source: str
) -> StepEfficiency | None:
    """The step's efficiency over its measured tasks; None when there is none."""
    found = list(usages)
    if not found:
        return None
    summary: dict[str, float | None] = {}
    for name in RATIOS:
        values = [v for v in (getattr(u, name) for u in found) if v is not None]
        summary[f"{name}_median"], summary[f"{name}_max"] = _median(values), _largest(values)
    return StepEfficiency(
        dataset,
        step,
        len(found),
        source,
        **summary,
        max_rss_bytes=_largest(u.max_rss_bytes for u in found),
        max_elapsed_seconds=_largest(u.elapsed_seconds for u in found),
        asked=asked,
        cpus=_largest(u.cpus for u in found),
    )


# --- what a step asked for ----------------------------------------------------------------------------------


def asked_resources(
    entries: list[LedgerEntry],
    dataset: str,
    step: str,
    profile_resources: Callable[[str], StepResources] | None,
    fallback: StepResources | None = None,
) -> StepResources | None:
    """The resources of the step's last submission in the ledger, else the profile's (`profile_resources`),
    else `fallback` (what the records themselves say was asked)."""
    for entry in reversed(entries):
        if (entry.dataset, entry.step) == (dataset, step) and entry.resources:
            return StepResources(**entry.resources)
    return profile_resources(step) if profile_resources is not None else fallback


def _asked_from(cpus: int | None, mem_bytes: Number, limit: Number) -> StepResources | None:
    if not cpus or not mem_bytes or not limit:
        return None
    return StepResources(
        time=format_time(limit), cpus=cpus, mem_per_cpu=format_memory(mem_bytes / cpus / 1024)
    )


# --- from the exit records ----------------------------------------------------------------------------------


def _array_task_key(rank: int, record: Mapping[str, Any]) -> tuple[str, Any]:
    """The ranks one array task ran one after the other share its job name and attempt."""
    job = record.get("job")
    return (str(job), record.get("attempt")) if job else (f"rank {rank}", None)


def _combined(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The ended records of ranks an array task ran one after the other, as one record of that task: their
    elapsed and CPU seconds add up; max RSS is the process's peak (the largest)."""
    first = dict(records[0])
    if len(records) == 1:
        return first

    def total(key: str) -> float | None:
        values = [r.get(key) for r in records]
        return None if None in values else float(sum(v for v in values if v is not None))

    first.update(
        elapsed=total("elapsed"),
        cpu_seconds=total("cpu_seconds"),
        max_rss_bytes=_largest(r.get("max_rss_bytes") for r in records),
    )
    return first


def exit_usages(records: Mapping[int, Mapping[str, Any]]) -> list[TaskUsage]:
    """rank -> exit record (`read_exit_records`) -> the usage of every ended array task."""
    tasks: dict[tuple[str, Any], list[Mapping[str, Any]]] = {}
    for rank, record in sorted(records.items()):
        if record.get("state") in ENDED_EXIT_STATES:
            tasks.setdefault(_array_task_key(rank, record), []).append(record)
    usages = (usage_from_exit(_combined(ranks)) for ranks in tasks.values())
    return [u for u in usages if u is not None]


def _asked_in_exits(records: Mapping[int, Mapping[str, Any]]) -> StepResources | None:
    if not records:
        return None
    last = max(records.values(), key=lambda r: r.get("started") or 0)
    return _asked_from(last.get("cpus"), last.get("mem_limit_bytes"), last.get("time_limit_seconds"))


def stage_efficiency_from_exits(
    layout: RunLayout, plan: StagePlan, profile_resources: Callable[[str], StepResources] | None = None
) -> list[StepEfficiency]:
    """Every step with an ended task, from the exit records in `logs/<dataset>/<step>/exits/`; a step asks
    for its last submission's resources (jobs.jsonl), else `profile_resources(step)`, else what its latest
    exit record says it asked for."""
    entries = ledger.read(layout.ledger)
    found = []
    for planned in plan.steps:
        records = read_exit_records(layout.exits(planned.dataset, planned.step))
        asked = asked_resources(
            entries, planned.dataset, planned.step, profile_resources, _asked_in_exits(records)
        )
        eff = step_efficiency(planned.dataset, planned.step, exit_usages(records), asked, EXIT_RECORDS)
        if eff is not None:
            found.append(eff)
    return found


# --- from sacct ---------------------------------------------------------------------------------------------


def array_task_ids(entries: Iterable[LedgerEntry]) -> dict[tuple[str, str], list[str]]:
    """(dataset, step) -> "<job id>_<index>" of every array task of every submission of the step (an array
    task runs `tasks_per_job` ranks: a submission of n ranks has ceil(n / tasks_per_job) indices)."""
    ids: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        count = math.ceil(len(entry.ranks) / max(entry.tasks_per_job, 1))
        ids.setdefault((entry.dataset, entry.step), []).extend(f"{entry.job_id}_{i}" for i in range(count))
    return ids


def stage_efficiency_from_sacct(
    layout: RunLayout,
    plan: StagePlan,
    records: Mapping[str, JobRecord],
    profile_resources: Callable[[str], StepResources] | None = None,
) -> list[StepEfficiency]:
    """Every step with an ended array task among `records` (sacct's, keyed "<job id>_<index>": pass
    `SlurmClient.job_records` of the ids `array_task_ids` lists); asked resources as in
    `stage_efficiency_from_exits` (else what the step's last sacct record says it asked for)."""
    entries = ledger.read(layout.ledger)
    ids = array_task_ids(entries)
    found = []
    for planned in plan.steps:
        known = [records[i] for i in ids.get((planned.dataset, planned.step), []) if i in records]
        fallback = (
            _asked_from(known[-1].alloc_cpus, known[-1].req_mem_bytes, known[-1].time_limit_seconds)
            if known
            else None
        )
        asked = asked_resources(entries, planned.dataset, planned.step, profile_resources, fallback)
        usages = [u for u in map(usage_from_record, known) if u is not None]
        eff = step_efficiency(planned.dataset, planned.step, usages, asked, SACCT)
        if eff is not None:
            found.append(eff)
    return found


# --- rendering (plain text: the console table and report.html add their markup) ---------------------------


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _pair(median: float | None, largest: float | None) -> str:
    return f"{percent(median)} / {percent(largest)}"


def describe_resources(resources: StepResources | None) -> str:
    """`2G × 4 CPUs, 04:00:00` (memory per CPU × CPUs, time limit); `-` when unknown."""
    if resources is None:
        return "-"
    return (
        f"{resources.mem_per_cpu} × {resources.cpus} CPU{'s' if resources.cpus > 1 else ''}, {resources.time}"
    )


def render_rows(effs: Iterable[StepEfficiency]) -> list[list[str]]:
    """One row per step, the columns of `HEADER`."""
    return [
        [
            f"{e.dataset}/{e.step}",
            str(e.measured),
            _pair(e.cpu_efficiency_median, e.cpu_efficiency_max),
            _pair(e.memory_share_median, e.memory_share_max),
            _pair(e.time_share_median, e.time_share_max),
            describe_resources(e.asked),
            describe_resources(e.suggestion()),
            e.source,
        ]
        for e in effs
    ]


def _largest_suggestion(suggestions: list[StepResources]) -> StepResources:
    """One step's suggestions of several datasets -> one that fits them all: the most CPUs, each dataset's
    total memory spread over them (rounded up to 256M), the longest time."""
    cpus = max(s.cpus for s in suggestions)
    total = max(memory_bytes(s.mem_per_cpu) * s.cpus for s in suggestions)
    memory = format_memory(max(MIN_MEMORY, _round_up(total / cpus, MEMORY_STEP)) / 1024)
    longest = max(suggestions, key=lambda s: time_seconds(s.time)).time
    return StepResources(time=longest, cpus=cpus, mem_per_cpu=memory)


def suggested_steps(effs: Iterable[StepEfficiency]) -> dict[str, StepResources]:
    """step -> the suggestion for it (profile resources are per step, whatever the dataset)."""
    by_step: dict[str, list[StepResources]] = {}
    for e in effs:
        suggestion = e.suggestion()
        if suggestion is not None:
            by_step.setdefault(e.step, []).append(suggestion)
    return {step: _largest_suggestion(found) for step, found in by_step.items()}


def suggested_profile_yaml(effs: Iterable[StepEfficiency]) -> str:
    """The suggestions as the `steps:` section of a cluster profile, one line per step; "" with none."""
    steps = suggested_steps(effs)
    if not steps:
        return ""
    lines = [
        f'  {step}: {{time: "{r.time}", cpus: {r.cpus}, mem_per_cpu: {r.mem_per_cpu}}}'
        for step, r in steps.items()
    ]
    return "\n".join(["steps:", *lines]) + "\n"


def with_exit_memory(
    from_sacct: list[StepEfficiency], from_exits: list[StepEfficiency]
) -> list[StepEfficiency]:
    """sacct's figures, with the memory figures of the tasks' exit records where they are larger: sacct
    samples MaxRSS every JobAcctGatherFrequency (30 s by default), so a short task shows 0 or only its batch
    shell; the exit record has the task process's own peak."""
    exits = {(e.dataset, e.step): e for e in from_exits}
    merged = []
    for e in from_sacct:
        own = exits.get((e.dataset, e.step))
        if own is not None and (own.memory_share_max or 0) > (e.memory_share_max or 0):
            e = replace(
                e,
                source=f"{e.source} (memory: exit records)",
                memory_share_median=own.memory_share_median,
                memory_share_max=own.memory_share_max,
                max_rss_bytes=own.max_rss_bytes,
            )
        merged.append(e)
    return merged
