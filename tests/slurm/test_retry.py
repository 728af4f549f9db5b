"""Retry decisions (pure, no Slurm): what a failed task gets from its step's policy, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolprep.config.profile import DEFAULT_RETRY, StepResources, load_profile, memory_kib, time_seconds
from smolprep.slurm.retry import (
    RetryPolicy,
    decide,
    in_place_requeue,
    normalise_cause,
    policy_for,
)


def _policy(tmp_path: Path, retry: str, step: str = "filter") -> RetryPolicy:
    path = tmp_path / "site.yaml"
    path.write_text(f"executor: slurm\nretry: {retry}\n")
    return policy_for(load_profile(str(path)), step)


def test_oom_doubles_memory_per_cpu_at_each_attempt():
    current = StepResources("04:00:00", 2, "2G")
    seen = []
    for attempt in (1, 2):
        decision = decide(DEFAULT_RETRY, "OUT_OF_MEMORY", attempt, current)
        assert decision.retry
        seen.append(decision.resources.mem_per_cpu)
        assert (decision.resources.time, decision.resources.cpus) == ("04:00:00", 2)
        current = decision.resources
    assert seen == ["4G", "8G"]
    first = decide(DEFAULT_RETRY, "OUT_OF_MEMORY", 1, StepResources("04:00:00", 2, "2G"))
    assert first.reason == "OUT_OF_MEMORY: retry 2 of 3 with mem_per_cpu 4G (was 2G)"


def test_attempts_exhausted():
    decision = decide(DEFAULT_RETRY, "TIMEOUT", 3, StepResources("04:00:00", 1, "2G"))
    assert not decision.retry
    assert decision.resources == StepResources("04:00:00", 1, "2G")
    assert decision.reason == "TIMEOUT: 3 attempts made (max_attempts 3): not retried"


def test_attempts_exhausted_names_the_cause_as_given():
    """The last cause is the task's: `TIMEOUT (requeued 2 times)`, not only the word the policy matched."""
    decision = decide(DEFAULT_RETRY, "TIMEOUT (requeued 2 times)", 3, StepResources("04:00:00", 1, "2G"))
    assert decision.reason == "TIMEOUT (requeued 2 times): 3 attempts made (max_attempts 3): not retried"
    assert decide(DEFAULT_RETRY, "OOM", 3, StepResources()).reason.startswith("OUT_OF_MEMORY: 3 attempts")


def test_max_attempts_one_never_retries(tmp_path):
    policy = _policy(tmp_path, "{max_attempts: 1}")
    assert not decide(policy, "NODE_FAIL", 1, StepResources()).retry


@pytest.mark.parametrize(
    ("time", "doubled"),
    [
        ("04:00:00", "08:00:00"),
        ("20:00:00", "1-16:00:00"),  # across the day boundary
        ("1-12", "3-00:00:00"),
        ("2-23:59:59", "5-23:59:58"),
        ("30", "01:00:00"),  # minutes
        ("45:30", "01:31:00"),  # minutes:seconds
    ],
)
def test_timeout_doubles_time(time, doubled):
    decision = decide(DEFAULT_RETRY, "TIMEOUT", 1, StepResources(time, 1, "2G"))
    assert decision.retry and decision.resources == StepResources(doubled, 1, "2G")
    assert time_seconds(doubled) == 2 * time_seconds(time)
    assert decision.reason == f"TIMEOUT: retry 2 of 3 with time {doubled} (was {time})"


def test_node_fail_and_preemption_retry_with_the_same_resources():
    current = StepResources("04:00:00", 4, "3G")
    for cause in ("NODE_FAIL", "PREEMPTED"):
        decision = decide(DEFAULT_RETRY, cause, 2, current)
        assert decision.retry and decision.resources == current
        assert decision.reason == f"{cause}: retry 3 of 3 with the same resources"


@pytest.mark.parametrize("cause", ["FAILED", "FAILED (exit 1)", "UNKNOWN", "SOMETHING_NEW", "", "F"])
def test_failed_and_unknown_causes_are_never_retried(cause):
    current = StepResources()
    decision = decide(DEFAULT_RETRY, cause, 1, current, logs_command="python launch.py logs --stage 1")
    assert not decision.retry and decision.resources == current
    assert "no retry rule" in decision.reason
    assert decision.reason.endswith("read the task's log: python launch.py logs --stage 1")


def test_failed_reason_names_the_logs_command():
    decision = decide(DEFAULT_RETRY, "FAILED", 1, StepResources())
    assert decision.reason == "FAILED: no retry rule — read the task's log: python launch.py logs"


def test_cancelled_is_never_retried_and_says_why():
    decision = decide(DEFAULT_RETRY, "CANCELLED by 0", 1, StepResources())
    assert not decision.retry
    assert decision.reason.startswith("CANCELLED: never retried: a cancellation is someone's decision")


def test_a_retriable_cause_without_a_rule_says_how_to_add_one():
    decision = decide(DEFAULT_RETRY, "BOOT_FAIL", 1, StepResources())
    assert not decision.retry
    assert "BOOT_FAIL: {}" in decision.reason


@pytest.mark.parametrize(
    ("written", "state"),
    [
        ("CANCELLED by 0", "CANCELLED"),
        ("TIMEOUT (requeued 2 times)", "TIMEOUT"),
        ("CANCELLED+", "CANCELLED"),
        ("out_of_memory", "OUT_OF_MEMORY"),
        ("OOM", "OUT_OF_MEMORY"),
        ("  NODE_FAIL  ", "NODE_FAIL"),
        ("", "UNKNOWN"),
    ],
)
def test_causes_are_normalised_on_the_first_word(written, state):
    assert normalise_cause(written) == state


def test_extra_words_do_not_change_the_decision():
    current = StepResources("04:00:00", 1, "2G")
    plain = decide(DEFAULT_RETRY, "TIMEOUT", 1, current)
    assert decide(DEFAULT_RETRY, "TIMEOUT (requeued 2 times)", 1, current) == plain
    assert plain.retry


def test_memory_cap_holds_and_then_stops_retrying(tmp_path):
    policy = _policy(tmp_path, "{max_attempts: 5, OUT_OF_MEMORY: {mem: x2, max_mem: 24G}}")
    current = StepResources("04:00:00", 2, "4G")  # 8G in all
    first = decide(policy, "OUT_OF_MEMORY", 1, current)
    assert first.resources.mem_per_cpu == "8G"  # 16G in all
    second = decide(policy, "OUT_OF_MEMORY", 2, first.resources)
    assert second.retry and second.resources.mem_per_cpu == "12G"  # 24G in all: the cap, not 32G
    assert "max_mem 24G reached" in second.reason
    third = decide(policy, "OUT_OF_MEMORY", 3, second.resources)
    assert not third.retry and third.resources == second.resources
    assert "max_mem 24G reached" in third.reason and "not retried" in third.reason


def test_memory_cap_rounds_down_to_whole_m_within_it(tmp_path):
    policy = _policy(tmp_path, "{OUT_OF_MEMORY: {mem: x2, max_mem: 256G}}")
    decision = decide(policy, "OUT_OF_MEMORY", 1, StepResources("04:00:00", 3, "80G"))
    assert decision.resources.mem_per_cpu == "87381M"
    assert 3 * memory_kib("87381M") <= memory_kib("256G")


def test_a_cap_never_lowers_what_the_task_had(tmp_path):
    policy = _policy(tmp_path, "{TIMEOUT: {time: x2, mem: x2, max_time: '02:00:00', max_mem: 1G}}")
    decision = decide(policy, "TIMEOUT", 1, StepResources("04:00:00", 1, "2G"))
    assert not decision.retry and decision.resources == StepResources("04:00:00", 1, "2G")


def test_time_cap_across_days(tmp_path):
    policy = _policy(tmp_path, "{TIMEOUT: {time: x2, max_time: 2-00:00:00}}")
    first = decide(policy, "TIMEOUT", 1, StepResources("18:00:00", 1, "2G"))
    assert first.resources.time == "1-12:00:00"
    second = decide(policy, "TIMEOUT", 2, first.resources)
    assert second.resources.time == "2-00:00:00"


def test_absolute_and_added_values(tmp_path):
    policy = _policy(tmp_path, "{max_attempts: 4, OUT_OF_MEMORY: {mem: 64G}, TIMEOUT: {time: '+01:30:00'}}")
    oom = decide(policy, "OUT_OF_MEMORY", 1, StepResources("04:00:00", 4, "2G"))
    assert oom.retry and oom.resources.mem_per_cpu == "16G"  # 64G for the task, over its 4 CPUs
    again = decide(policy, "OUT_OF_MEMORY", 2, oom.resources)
    assert not again.retry  # the rule gives what already failed
    timeout = decide(policy, "TIMEOUT", 1, StepResources("23:00:00", 1, "2G"))
    assert timeout.resources.time == "1-00:30:00"


def test_added_memory_is_shared_by_the_cpus(tmp_path):
    policy = _policy(tmp_path, "{OUT_OF_MEMORY: {mem: '+4G'}}")
    decision = decide(policy, "OUT_OF_MEMORY", 1, StepResources("04:00:00", 3, "2G"))
    # 6G + 4G = 10G for the task: 3414M per CPU (10240M / 3, rounded up to whole M)
    assert decision.resources.mem_per_cpu == "3414M"


@pytest.mark.parametrize(
    ("rule", "cpus", "mem_per_cpu"),
    [
        ("{cpus: x2}", 4, "2G"),
        ("{cpus: x1.5}", 3, "2G"),  # 2 x 1.5
        ("{cpus: '+3'}", 5, "2G"),
        ("{cpus: 8}", 8, "2G"),
        ("{cpus: x4, max_cpus: 6}", 6, "2G"),
        ("{cpus: x2, mem: 32G}", 4, "8G"),  # the total is divided by the new CPU count
    ],
)
def test_cpus(tmp_path, rule, cpus, mem_per_cpu):
    policy = _policy(tmp_path, f"{{TIMEOUT: {rule}}}")
    decision = decide(policy, "TIMEOUT", 1, StepResources("04:00:00", 2, "2G"))
    assert decision.retry
    assert (decision.resources.cpus, decision.resources.mem_per_cpu) == (cpus, mem_per_cpu)
    assert f"cpus {cpus} (was 2" in decision.reason


def test_several_changes_in_one_reason(tmp_path):
    policy = _policy(tmp_path, "{OUT_OF_MEMORY: {mem: x2, time: '+01:00:00'}}")
    decision = decide(policy, "OUT_OF_MEMORY", 1, StepResources("04:00:00", 1, "1536M"))
    assert decision.resources == StepResources("05:00:00", 1, "3G")
    assert decision.reason == (
        "OUT_OF_MEMORY: retry 2 of 3 with mem_per_cpu 3G (was 1536M), time 05:00:00 (was 04:00:00)"
    )


def test_step_policy_over_default(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(
        "executor: slurm\nretry:\n  default: {max_attempts: 2}\n"
        "  minhash-cluster: {max_attempts: 4, OUT_OF_MEMORY: {mem: x3}}\n"
    )
    profile = load_profile(str(path))
    current = StepResources("04:00:00", 1, "2G")
    cluster = decide(policy_for(profile, "minhash-cluster"), "OUT_OF_MEMORY", 3, current)
    assert cluster.retry and cluster.resources.mem_per_cpu == "6G"
    assert cluster.reason.startswith("OUT_OF_MEMORY: retry 4 of 4")
    assert not decide(policy_for(profile, "filter"), "OUT_OF_MEMORY", 2, current).retry


def test_profile_without_retry_gets_the_builtin_policy(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("executor: slurm\n")
    assert policy_for(load_profile(str(path)), "tokenize") == DEFAULT_RETRY


def test_in_place_requeue_only_for_a_timeout_retried_as_is(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(
        "executor: slurm\nretry:\n  default: {max_attempts: 4, TIMEOUT: {}}\n  filter: {TIMEOUT: {time: x2}}\n"
        "  minhash-filter: {TIMEOUT: null}\n"
    )
    profile = load_profile(str(path))
    assert in_place_requeue(profile, "tokenize") == {"max_attempts": 4, "requeue_in_place": True}
    assert in_place_requeue(profile, "filter") == {"max_attempts": 4, "requeue_in_place": False}
    assert in_place_requeue(profile, "minhash-filter") == {"max_attempts": 4, "requeue_in_place": False}
    assert in_place_requeue(load_profile("slurm"), "filter") == {"max_attempts": 3, "requeue_in_place": False}


def test_attempt_counts_attempts_made():
    with pytest.raises(ValueError, match="attempts already made"):
        decide(DEFAULT_RETRY, "TIMEOUT", 0, StepResources())
