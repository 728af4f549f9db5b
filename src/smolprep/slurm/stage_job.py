"""The stage-level job: after every dataset's last step, write manifest.json and report.html.

It runs on a compute node as a plain Python function submitted with submitit (not an sbatch script of
ours), with `afterany` on the last arrays of every dataset, so it runs whether they succeeded or not and
can never wait forever behind a failure. It refuses (fails loudly) when the config file no longer matches
the run's pin (`run.json`): edited after the launch, its weights would not describe the data.
"""

from __future__ import annotations

from pathlib import Path

from smolprep.config.errors import ConfigError
from smolprep.config.stage import load_stage_config
from smolprep.plan import plan_stage
from smolprep.sources.resolve import resolve_stage
from smolprep.state.layout import RunLayout
from smolprep.state.run import check_against_pin


def write_stage_report(config_path: str, root: str, datasets: list[str] | None = None) -> str:
    """Run on the node: rebuild the plan from the config and write the report; returns the manifest path."""
    from smolprep.report import write_report

    stage = load_stage_config(config_path)
    if datasets:
        stage = stage.select(datasets)
    stage = resolve_stage(stage, Path(root))  # as the launcher planned it
    layout, plan = RunLayout(Path(root), stage.name), plan_stage(stage)
    issues = check_against_pin(layout, stage, plan)
    if issues:  # the config file was edited after the launch: its weights would not describe the data
        raise ConfigError(issues)
    manifest, _ = write_report(layout, stage, plan)
    return str(manifest)
