"""A small code-only stage and a Slurm profile for tests that submit to the fake Slurm: writing the
executors is real (datatrove pipelines on real input files), only the cluster is simulated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smolprep.config.profile import load_profile
from smolprep.config.stage import load_stage_config
from smolprep.pipelines.build import FilterResources
from smolprep.pipelines.steps import REGISTRY, StepRegistry
from smolprep.plan import plan_stage
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.limits import cluster_limits, fit_plan
from smolprep.slurm.submit import SlurmStage
from smolprep.state.layout import RunLayout
from tests.conftest import write_jsonl

CONFIG = """\
name: fake
minhash: {num_buckets: 2}
datasets:
  - {name: code, path: code, kind: code, tasks: 3}
  - {name: notes, path: notes, kind: code, tasks: 2, dedup: false}
"""


@dataclass(frozen=True)
class StageFiles:
    config: Path
    profile: Path
    output: Path

    def argv(self, command: str | None = None, *extra: str) -> list[str]:
        head = [command] if command else []
        return [
            *head,
            "--config",
            str(self.config),
            "--cluster",
            str(self.profile),
            "--output",
            str(self.output),
            *extra,
        ]


def _sources(n: int, tag: str) -> list[dict]:
    body = "def {name}(values):\n    total = 0\n    for v in values:\n        total += v * {k}\n"
    body += "    return total\n"
    return [{"text": body.format(name=f"{tag}_sum_{k}", k=k), "id": f"{tag}-{k}"} for k in range(n)]


PROFILE = """\
executor: slurm
partition: cpu
requeue_grace: 30
steps:
  default: {time: "00:30:00", cpus: 1, mem_per_cpu: 1G}
"""


def write_stage(base: Path, profile_lines: str = "max_array_size: 1001\n") -> StageFiles:
    """Inputs, the stage config and a Slurm profile (`profile_lines` added to PROFILE)."""
    write_jsonl(base / "code" / "a.jsonl", _sources(4, "a"))
    write_jsonl(base / "code" / "b.jsonl", _sources(4, "b"))
    write_jsonl(base / "notes" / "a.jsonl", _sources(3, "n"))
    (base / "fake.yaml").write_text(CONFIG)
    profile = base / "fake-slurm.yaml"
    profile.write_text(PROFILE + profile_lines)
    return StageFiles(base / "fake.yaml", profile, (base / "out").resolve())


def slurm_stage(
    files: StageFiles, slurm: SlurmClient, registry: StepRegistry = REGISTRY
) -> tuple[SlurmStage, FilterResources]:
    """The stage as the launcher builds it (from `registry`'s steps), fitted to the limits `slurm` reports."""
    stage = load_stage_config(files.config)
    profile = load_profile(str(files.profile))
    plan = plan_stage(stage, registry)
    fit = fit_plan(plan, cluster_limits(profile, slurm.config()), profile.max_tasks_per_job)
    target = SlurmStage(stage, plan, profile, RunLayout(files.output, stage.name), fit, registry)
    return target, FilterResources.load(stage, profile.lid_model)
