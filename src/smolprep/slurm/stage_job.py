"""The stage-level job: after every dataset's last step, write manifest.json and report.html.

It runs on a compute node as a plain Python function submitted with submitit (not an sbatch script of
ours), with `afterany` on the last arrays of every dataset, so it runs whether they succeeded or not and
can never wait forever behind a failure.
"""

from __future__ import annotations

from pathlib import Path

from smolprep.config.stage import load_stage_config
from smolprep.plan import plan_stage
from smolprep.state.layout import RunLayout


def write_stage_report(config_path: str, root: str, datasets: list[str] | None = None) -> str:
    """Run on the node: rebuild the plan from the config and write the report; returns the manifest path."""
    from smolprep.report import write_report

    stage = load_stage_config(config_path)
    if datasets:
        stage = stage.select(datasets)
    manifest, _ = write_report(RunLayout(Path(root), stage.name), stage, plan_stage(stage))
    return str(manifest)
