"""Fitting a stage into the cluster's job limits (pure): ranks per array task, MaxArraySize, peak queued, and
which limit binds: MaxJobCount or an association/QOS submit limit."""

from __future__ import annotations

import dataclasses

from smolprep.config.profile import load_profile
from smolprep.config.stage import load_stage_config
from smolprep.plan import plan_stage
from smolprep.slurm.limits import cluster_limits, fit_plan
from smolprep.slurm.plan import plan_submissions
from smolprep.slurm.query import parse_submit_limits
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


# sacctmgr -n -P show assoc where user=alice format=User,Account,Partition,MaxJobs,MaxSubmit,GrpJobs,GrpSubmit,QOS,DefaultQOS
# and sacctmgr -n -P show qos format=Name,MaxJobsPU,MaxSubmitPU,GrpJobs,GrpSubmit,MaxJobsPA,MaxSubmitPA
def _submit_limits(assoc: str, qos: str = "normal||||||\n"):
    return parse_submit_limits("alice", assoc, qos)


def _profile(**changes):
    return dataclasses.replace(
        load_profile("slurm"), **({"max_queued_tasks": None, "max_array_size": 1001} | changes)
    )


SCONTROL = {"MaxArraySize": "1001", "MaxJobCount": "10000"}


def test_a_per_user_submit_limit_binds_and_the_stage_may_use_all_of_it():
    limits = cluster_limits(_profile(), SCONTROL, _submit_limits("alice|root|||40||||normal|normal\n"))
    assert (limits.max_queued_tasks, limits.max_job_count, limits.max_array_size) == (40, 10_000, 38)
    assert limits.binding == "MaxSubmitJobs 40 (association alice/root), the user's own"
    fit = fit_plan(_stage1(), limits, 8)
    assert "bound by MaxSubmitJobs 40 (association alice/root)" in fit.explain()
    assert fit.peak_queued > 40 and not fit.fits  # stage 1 then goes in waves
    without = cluster_limits(_profile(), SCONTROL, None)
    assert without.max_queued_tasks == 5000
    assert (
        without.binding == "MaxJobCount 10000 (scontrol show config): half of it, other users' jobs count too"
    )


def test_a_limit_other_users_share_is_halved_like_max_job_count():
    qos = "normal||||600||\n"  # GrpSubmitJobs of the whole QOS
    limits = cluster_limits(
        _profile(), {"MaxJobCount": "1000"}, _submit_limits("alice|root||||||normal|\n", qos)
    )
    assert limits.max_queued_tasks == 300
    assert limits.binding == "GrpSubmitJobs 600 (QOS normal): half of it, other users' jobs count too"


def test_a_per_user_limit_above_half_of_max_job_count_leaves_max_job_count_binding():
    limits = cluster_limits(
        _profile(), {"MaxJobCount": "1000"}, _submit_limits("alice|root|||800||||normal|\n")
    )
    assert limits.max_queued_tasks == 500 and limits.binding.startswith(
        "MaxJobCount 1000 (scontrol show config)"
    )


def test_running_limits_never_bound_the_queue_but_are_said():
    qos = "normal|4|||||\n"  # MaxJobsPerUser
    limits = cluster_limits(_profile(), SCONTROL, _submit_limits("alice|root||10|||||normal|\n", qos))
    assert limits.max_queued_tasks == 5000 and limits.running == (
        "MaxJobs 10 (association alice/root)",
        "MaxJobsPerUser 4 (QOS normal)",
    )
    assert limits.describe().endswith(
        "MaxJobs 10 (association alice/root), MaxJobsPerUser 4 (QOS normal) bound running jobs only"
    )


def test_the_profiles_max_queued_tasks_never_exceeds_a_limit():
    assoc = _submit_limits("alice|root|||40||||normal|\n")
    under = cluster_limits(_profile(max_queued_tasks=30), SCONTROL, assoc)
    assert (under.max_queued_tasks, under.binding) == (30, "max_queued_tasks 30 (profile)")
    over = cluster_limits(_profile(max_queued_tasks=100), SCONTROL, assoc)
    assert (over.max_queued_tasks, over.binding) == (40, "MaxSubmitJobs 40 (association alice/root)")


def test_max_job_count_says_where_it_came_from():
    assert cluster_limits(_profile(), None).binding.startswith("MaxJobCount 10000 (Slurm default)")
    assert cluster_limits(_profile(max_job_count=300), None).binding.startswith("MaxJobCount 300 (profile)")
    assert (
        "MaxJobCount 300 (profile)"
        in fit_plan(_stage1(), cluster_limits(_profile(max_job_count=300), None), 8).explain()
    )


def test_each_limit_says_where_it_came_from_once():
    """Offline with no max_job_count in the profile: MaxArraySize is the profile's, MaxJobCount Slurm's
    default; the line used to say "MaxJobCount 10000 (profile)" and then "bound by MaxJobCount 10000 (Slurm
    default)"."""
    text = cluster_limits(_profile(), None).describe()
    assert text.startswith("MaxArraySize 1001 (profile), MaxJobCount 10000 (Slurm default); "), text
    assert "(profile)" not in text.split(";", 1)[0].split(",", 1)[1]
    online = cluster_limits(_profile(), SCONTROL).describe()
    assert (
        online.startswith("MaxArraySize 1001 (scontrol show config), MaxJobCount ")
        and online.count("(scontrol show config)") == 3
    ), online
