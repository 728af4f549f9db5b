"""Rendering sbatch scripts: a pure function of its parameters (golden files in tests/slurm/golden/)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from string import Template

from smolprep.config.profile import ClusterProfile, StepResources


@dataclass(frozen=True)
class ArrayChunk:
    """One `sbatch` of a step: array indices 0..size-1; datatrove maps index i of chunk k to
    ranks_to_run[(i + k * max_array_size) * tasks_per_job ...]."""

    dataset: str
    step: str
    index: int  # RUN_OFFSET
    size: int  # array indices in this chunk
    ranks: tuple[int, ...]  # the datatrove ranks it runs, for the plan and the ledger


def job_name(stage: str, dataset: str, step: str) -> str:
    return f"smolprep-{stage}-{dataset}-{step}"


def render_preamble(
    template: str, profile: ClusterProfile, hf_home: str, stage: str, dataset: str, step: str
) -> str:
    modules = "\n".join(f"module load {shlex.quote(m)}" for m in profile.modules)
    env = "\n".join(f"export {key}={shlex.quote(value)}" for key, value in profile.env)
    text = Template(template).substitute(
        modules=modules,
        venv=profile.environment(),
        hf_home=hf_home,
        env=env,
        stage=stage,
        dataset=dataset,
        step=step,
    )
    return "\n".join(line for line in text.splitlines() if line.strip()) + "\n"


def sbatch_directives(
    stage: str,
    chunk: ArrayChunk,
    profile: ClusterProfile,
    resources: StepResources,
    slurm_logs: Path,
    tag: str,
) -> list[tuple[str, str | None]]:
    array = f"0-{chunk.size - 1}" + (f"%{profile.array_throttle}" if profile.array_throttle else "")
    log_file = str(slurm_logs / "%A_%a.out")
    directives: list[tuple[str, str | None]] = [
        ("job-name", job_name(stage, chunk.dataset, chunk.step)),
        ("partition", profile.partition),
        ("account", profile.account),
        ("qos", profile.qos),
        ("time", resources.time),
        ("nodes", "1"),
        ("ntasks", "1"),
        ("cpus-per-task", str(resources.cpus)),
        ("mem-per-cpu", resources.mem_per_cpu),
        ("array", array),
        ("output", log_file),
        ("error", log_file),
        ("open-mode", "append"),
        ("requeue", ""),
        ("signal", f"USR1@{profile.requeue_grace}"),
        ("kill-on-invalid-dep", "yes"),
        ("comment", tag),
    ]
    if profile.mail_user:
        directives += [("mail-user", profile.mail_user), ("mail-type", profile.mail_type)]
    return [(k, v) for k, v in directives if v is not None]


def render_sbatch(
    stage: str,
    chunk: ArrayChunk,
    profile: ClusterProfile,
    preamble: str,
    logging_dir: Path,
    tag: str,
    resources: StepResources | None = None,
) -> str:
    """The whole sbatch script of one array chunk. `preamble` is already rendered; `resources`: what its
    tasks ask for (default: the profile's for the step; a retry asks for more)."""
    resources = resources or profile.resources(chunk.step)
    lines = ["#!/bin/bash"]
    for key, value in sbatch_directives(stage, chunk, profile, resources, logging_dir / "slurm_logs", tag):
        lines.append(f"#SBATCH --{key}={value}" if value else f"#SBATCH --{key}")
    ranks = _ranks_text(chunk.ranks)
    lines += [
        "",
        f"# smolprep stage {stage}, dataset {chunk.dataset}, step {chunk.step}: chunk {chunk.index} runs ranks {ranks}",
        "set -eo pipefail  # a failing module load or venv activation stops the task",
        "# --- environment (cluster profile preamble) ---",
        preamble.rstrip("\n"),
        "# --- task ---",
        "set -u",
        f"export RUN_OFFSET={chunk.index}",
        'echo "smolprep: ${SLURM_JOB_NAME} array task ${SLURM_ARRAY_TASK_ID} (chunk ${RUN_OFFSET}) '
        'job ${SLURM_JOB_ID} on $(hostname) at $(date +%FT%T.%N%:z), restart ${SLURM_RESTART_COUNT:-0}"',
        f"srun --ntasks=1 --kill-on-bad-exit=1 launch_pickled_pipeline {shlex.quote(str(logging_dir / 'executor.pik'))}",
        "",
    ]
    return "\n".join(lines)


def _ranks_text(ranks: tuple[int, ...]) -> str:
    """Compact ranges: (0,1,2,3,7) -> 0-3,7."""
    if not ranks:
        return "none"
    parts = []
    start = prev = ranks[0]
    for rank in ranks[1:]:
        if rank == prev + 1:
            prev = rank
            continue
        parts.append(f"{start}-{prev}" if prev > start else str(start))
        start = prev = rank
    parts.append(f"{start}-{prev}" if prev > start else str(start))
    return ",".join(parts)
