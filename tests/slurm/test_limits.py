"""Fitting a stage into the cluster's job limits (pure): ranks per array task, MaxArraySize, peak queued."""

from __future__ import annotations

import dataclasses

from smolprep.config.profile import load_profile
from smolprep.config.stage import load_stage_config
from smolprep.plan import plan_stage
from smolprep.slurm.limits import cluster_limits, fit_plan
from smolprep.slurm.plan import plan_submissions
from tests.conftest import ROOT


def _stage1():
    return plan_stage(load_stage_config(ROOT / "configs" / "stage1.yaml"))


def test_stage1_on_a_large_cluster_profile_never_exceeds_the_limits():
    plan = _stage1()
    profile = load_profile("slurm")
    limits = cluster_limits(profile, {"MaxArraySize": "1001", "MaxJobCount": "10000"})
    fit = fit_plan(plan, limits, profile.max_tasks_per_job)
    assert fit.fits and fit.peak_queued <= limits.max_queued_tasks == 5000
    subs = plan_submissions(plan, profile, {}, fit.tasks_per_job, limits.max_array_size)
    assert sum(c.size for s in subs for c in s.chunks) == fit.peak_queued
    for sub in subs:
        assert all(c.size <= limits.max_array_size for c in sub.chunks)
        assert [r for c in sub.chunks for r in c.ranks] == list(range(sub.step.tasks))
        assert sub.tasks_per_job <= profile.max_tasks_per_job
    assert plan.total_tasks > 20_000  # without packing, stage 1 would ask for far more than the queue takes


def test_a_stage_that_cannot_fit_at_once_is_planned_in_waves():
    profile = dataclasses.replace(load_profile("slurm"), max_queued_tasks=100, max_tasks_per_job=2)
    fit = fit_plan(_stage1(), cluster_limits(profile, None), profile.max_tasks_per_job)
    assert not fit.fits and fit.peak_queued > 100
    assert "submitted in waves" in fit.explain()


def test_limits_come_from_scontrol_when_slurm_answers():
    profile = dataclasses.replace(load_profile("slurm"), max_array_size=1001, max_queued_tasks=None)
    limits = cluster_limits(profile, {"MaxArraySize": "5", "MaxJobCount": "40"})
    assert (limits.max_array_size, limits.max_job_count, limits.max_queued_tasks) == (5, 40, 20)
    assert limits.source == "scontrol show config"
    assert cluster_limits(profile, None).max_job_count == 10_000


def test_the_sample_stage_still_submits_in_one_wave_one_rank_per_task():
    plan = plan_stage(load_stage_config(ROOT / "configs" / "sample.yaml"))
    profile = load_profile("dev-slurm")
    fit = fit_plan(plan, cluster_limits(profile, None), profile.max_tasks_per_job)
    assert fit.fits and set(fit.tasks_per_job.values()) == {1} and fit.peak_queued == plan.total_tasks
