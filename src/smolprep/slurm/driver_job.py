"""The wave driver as a Slurm job (submitted like the report job): runs smolprep.slurm.waves on the cluster
so that the login-node launcher need not stay alive. It re-reads the config file, so it first checks it
against the run's pin and fails loudly (submitting nothing) when the file was edited after the launch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smolprep.slurm.client import SlurmClient


def drive_stage(
    config_path: str,
    root: str,
    profile_path: str,
    overrides: dict,
    datasets: list[str],
    slurm: SlurmClient | None = None,
) -> str:
    """Run on the node (with the node's Slurm commands unless a client is given)."""
    import os

    from smolprep.slurm.client import RealSlurm, clean_environment

    # this job's own SLURM_* variables must not leak into the jobs it submits
    for key in set(os.environ) - set(clean_environment()):
        del os.environ[key]
    from smolprep.config.errors import ConfigError
    from smolprep.config.profile import load_profile
    from smolprep.config.stage import load_stage_config
    from smolprep.pipelines.build import FilterResources
    from smolprep.plan import plan_stage
    from smolprep.slurm.limits import cluster_limits, fit_plan
    from smolprep.slurm.submit import SlurmStage, submit_report_job
    from smolprep.slurm.waves import run_waves
    from smolprep.state.layout import RunLayout
    from smolprep.state.run import check_against_pin

    slurm = slurm or RealSlurm()
    stage = load_stage_config(config_path).select(datasets)
    profile = load_profile(profile_path, overrides)
    plan = plan_stage(stage)
    fit = fit_plan(plan, cluster_limits(profile, slurm.config()), profile.max_tasks_per_job)
    layout = RunLayout(Path(root), stage.name)
    resources = FilterResources.load(stage, profile.lid_model)
    issues = check_against_pin(layout, stage, plan, resources)
    if issues:  # the config was edited after the launch: later waves must not run another config
        layout.driver_file.unlink(missing_ok=True)
        raise ConfigError(issues)
    target = SlurmStage(stage, plan, profile, layout, fit)
    outcome = run_waves(target, resources, slurm, reserve=1)
    submit_report_job(target, outcome.last_jobs, slurm)
    target.layout.driver_file.unlink(missing_ok=True)
    return f"submitted {len(outcome.steps)} steps"
