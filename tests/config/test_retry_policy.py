"""The profile's `retry:` and `driver_time`: both forms, inheritance (built-in <- default <- step), the
shipped profiles, and every kind of bad value refused with file, key path, value and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.profile import (
    DEFAULT_RETRY,
    RETRY_CAUSES,
    Change,
    ClusterProfile,
    RetryPolicy,
    RetryRule,
    format_memory,
    format_time,
    load_profile,
    memory_bytes,
    memory_kib,
    time_minutes,
    time_seconds,
)
from smolprep.pipelines.steps import STEPS

ROOT = Path(__file__).resolve().parents[2]


def _load(tmp_path: Path, body: str) -> ClusterProfile:
    path = tmp_path / "site.yaml"
    path.write_text("executor: slurm\n" + body)
    return load_profile(str(path))


def _issues(tmp_path: Path, body: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, body)
    return info.value.issues


def _only_issue(tmp_path: Path, body: str) -> ConfigIssue:
    issues = _issues(tmp_path, body)
    assert len(issues) == 1, issues
    return issues[0]


def _policies(profile: ClusterProfile) -> dict[str, RetryPolicy]:
    return dict(profile.retry)


# --- what a profile gets ------------------------------------------------------------------------


def test_builtin_policy_when_the_profile_says_nothing(tmp_path):
    profile = _load(tmp_path, "")
    assert profile.retry == (("default", DEFAULT_RETRY),)
    assert DEFAULT_RETRY.max_attempts == 3
    assert [cause for cause, _ in DEFAULT_RETRY.rules] == [
        "OUT_OF_MEMORY",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
    ]
    assert DEFAULT_RETRY.rule("OUT_OF_MEMORY") == RetryRule(mem=Change("x", 2.0, "x2"))
    assert DEFAULT_RETRY.rule("TIMEOUT") == RetryRule(time=Change("x", 2.0, "x2"))
    assert DEFAULT_RETRY.rule("NODE_FAIL") == RetryRule() == DEFAULT_RETRY.rule("PREEMPTED")
    assert DEFAULT_RETRY.rule("BOOT_FAIL") is None and DEFAULT_RETRY.rule("FAILED") is None
    assert profile.driver_time == "3-00:00:00"


def test_shipped_profiles_write_the_builtin_policy_out():
    for name in ("slurm", "dev-slurm"):
        assert "retry:" in (ROOT / "cluster" / f"{name}.yaml").read_text()
        profile = load_profile(name)
        assert profile.retry == (("default", DEFAULT_RETRY),), name
        assert profile.driver_time == "3-00:00:00"


def test_nested_form_with_a_step_policy(tmp_path):
    profile = _load(
        tmp_path,
        "retry:\n"
        "  default: {max_attempts: 3, OUT_OF_MEMORY: {mem: x2}, TIMEOUT: {time: x2}, NODE_FAIL: {}, PREEMPTED: {}}\n"
        "  minhash-cluster: {max_attempts: 4, OUT_OF_MEMORY: {mem: x3}}\n",
    )
    policies = _policies(profile)
    assert set(policies) == {"default", "minhash-cluster"}
    assert policies["default"] == DEFAULT_RETRY
    cluster = policies["minhash-cluster"]
    assert cluster.max_attempts == 4
    assert cluster.rule("OUT_OF_MEMORY") == RetryRule(mem=Change("x", 3.0, "x3"))
    # the causes it does not name come from the default
    assert cluster.rule("TIMEOUT") == DEFAULT_RETRY.rule("TIMEOUT")
    assert cluster.rule("NODE_FAIL") == RetryRule() == cluster.rule("PREEMPTED")


def test_flat_form_is_the_default_policy(tmp_path):
    profile = _load(tmp_path, "retry: {max_attempts: 5, OUT_OF_MEMORY: {mem: '+4G', max_mem: 64G}}\n")
    assert [name for name, _ in profile.retry] == ["default"]
    policy = _policies(profile)["default"]
    assert policy.max_attempts == 5
    assert policy.rule("OUT_OF_MEMORY") == RetryRule(mem=Change("+", 4 * 1024**2, "+4G"), max_mem="64G")
    assert policy.rule("TIMEOUT") == DEFAULT_RETRY.rule("TIMEOUT")  # built-in rules it does not replace


def test_step_over_default_over_builtin_and_null_drops_a_cause(tmp_path):
    profile = _load(
        tmp_path,
        "retry:\n"
        "  filter: {TIMEOUT: null, BOOT_FAIL: {}}\n"  # before default on purpose: order does not matter
        "  default: {max_attempts: 2, NODE_FAIL: null, TIMEOUT: {time: '+01:00:00', max_time: 2-00:00:00}}\n",
    )
    policies = _policies(profile)
    default, step = policies["default"], policies["filter"]
    assert default.max_attempts == 2 == step.max_attempts
    assert default.rule("NODE_FAIL") is None and step.rule("NODE_FAIL") is None
    assert default.rule("TIMEOUT") == RetryRule(time=Change("+", 3600, "+01:00:00"), max_time="2-00:00:00")
    assert default.rule("OUT_OF_MEMORY") == DEFAULT_RETRY.rule("OUT_OF_MEMORY")
    assert step.rule("TIMEOUT") is None
    assert step.rule("BOOT_FAIL") == RetryRule()
    assert [cause for cause, _ in step.rules] == [
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
    ]  # RETRY_CAUSES order


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{mem: x1.5}", RetryRule(mem=Change("x", 1.5, "x1.5"))),
        ("{mem: '+512M'}", RetryRule(mem=Change("+", 512 * 1024, "+512M"))),
        ("{mem: 64G}", RetryRule(mem=Change("=", 64 * 1024**2, "64G"))),
        ("{mem: '4096'}", RetryRule(mem=Change("=", 4096 * 1024, "4096"))),  # no suffix: M
        ("{time: x3}", RetryRule(time=Change("x", 3.0, "x3"))),
        ("{time: '08:00:00'}", RetryRule(time=Change("=", 8 * 3600, "08:00:00"))),
        ("{time: '+1-00'}", RetryRule(time=Change("+", 86400, "+1-00"))),
        ("{cpus: x2}", RetryRule(cpus=Change("x", 2.0, "x2"))),
        ("{cpus: '+2'}", RetryRule(cpus=Change("+", 2, "+2"))),
        ("{cpus: 8, max_cpus: 16}", RetryRule(cpus=Change("=", 8, "8"), max_cpus=16)),
        ("{mem: x2, time: x2, max_mem: 256G, max_time: '2-00:00:00'}", None),
    ],
)
def test_every_kind_of_change(tmp_path, rule, expected):
    policy = _policies(_load(tmp_path, f"retry: {{OUT_OF_MEMORY: {rule}}}\n"))["default"]
    if expected is None:
        expected = RetryRule(
            mem=Change("x", 2.0, "x2"), time=Change("x", 2.0, "x2"), max_mem="256G", max_time="2-00:00:00"
        )
    assert policy.rule("OUT_OF_MEMORY") == expected


def test_driver_time(tmp_path):
    assert _load(tmp_path, "driver_time: '12:00:00'\n").driver_time == "12:00:00"
    issue = _only_issue(tmp_path, "driver_time: 7 days\n")
    assert (issue.key, issue.value) == ("driver_time", "7 days")
    assert "Slurm time limit" in issue.expected


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key", "value", "expected"),
    [
        # rule values, at their full key path
        (
            "retry:\n  minhash-cluster: {OUT_OF_MEMORY: {mem: x0.5}}\n",
            "retry.minhash-cluster.OUT_OF_MEMORY.mem",
            "x0.5",
            "a memory change",
        ),
        ("retry: {OUT_OF_MEMORY: {mem: x1}}\n", "retry.OUT_OF_MEMORY.mem", "x1", "xN (N > 1)"),
        ("retry: {OUT_OF_MEMORY: {mem: 2x}}\n", "retry.OUT_OF_MEMORY.mem", "2x", "a memory change"),
        ("retry: {OUT_OF_MEMORY: {mem: 2 GB}}\n", "retry.OUT_OF_MEMORY.mem", "2 GB", "a memory change"),
        ("retry: {OUT_OF_MEMORY: {mem: '+x2'}}\n", "retry.OUT_OF_MEMORY.mem", "+x2", "a memory change"),
        ("retry: {OUT_OF_MEMORY: {mem: 0G}}\n", "retry.OUT_OF_MEMORY.mem", "0G", "a memory change"),
        ("retry: {OUT_OF_MEMORY: {mem: 4}}\n", "retry.OUT_OF_MEMORY.mem", 4, "a memory change"),
        ("retry: {TIMEOUT: {time: 4h}}\n", "retry.TIMEOUT.time", "4h", "a time change"),
        ("retry: {TIMEOUT: {time: 12:00:00}}\n", "retry.TIMEOUT.time", 43200, "a time change"),  # YAML int
        ("retry: {TIMEOUT: {time: '+0'}}\n", "retry.TIMEOUT.time", "+0", "a time change"),
        ("retry: {TIMEOUT: {cpus: 0}}\n", "retry.TIMEOUT.cpus", 0, "a CPU change"),
        ("retry: {TIMEOUT: {cpus: x}}\n", "retry.TIMEOUT.cpus", "x", "a CPU change"),
        ("retry: {TIMEOUT: {cpus: true}}\n", "retry.TIMEOUT.cpus", True, "a CPU change"),
        ("retry: {OUT_OF_MEMORY: {max_mem: 0}}\n", "retry.OUT_OF_MEMORY.max_mem", 0, "Slurm memory size"),
        ("retry: {OUT_OF_MEMORY: {max_mem: 0G}}\n", "retry.OUT_OF_MEMORY.max_mem", "0G", "above 0"),
        ("retry: {TIMEOUT: {max_time: 2 days}}\n", "retry.TIMEOUT.max_time", "2 days", "Slurm time limit"),
        ("retry: {TIMEOUT: {max_time: '00:00:00'}}\n", "retry.TIMEOUT.max_time", "00:00:00", "above 0"),
        ("retry: {TIMEOUT: {max_cpus: 0}}\n", "retry.TIMEOUT.max_cpus", 0, "an integer >= 1"),
        ("retry: {TIMEOUT: {gpus: 1}}\n", "retry.TIMEOUT.gpus", 1, "one of the keys mem, time, cpus"),
        ("retry: {NODE_FAIL: x2}\n", "retry.NODE_FAIL", "x2", "a rule such as {mem: x2}"),
        # policy keys
        ("retry: {max_attempts: 0}\n", "retry.max_attempts", 0, "an integer >= 1"),
        ("retry:\n  default: {max_attempts: two}\n", "retry.default.max_attempts", "two", "an integer"),
        ("retry: {OUT_OF_MEMROY: {}}\n", "retry.OUT_OF_MEMROY", {}, "OUT_OF_MEMORY"),
        ("retry: {FAILED: {}}\n", "retry.FAILED", {}, "one of max_attempts"),
        ("retry:\n  default: {CANCELLED: {}}\n", "retry.default.CANCELLED", {}, "one of max_attempts"),
        (
            "retry:\n  filter: [OUT_OF_MEMORY]\n",
            "retry.filter",
            ["OUT_OF_MEMORY"],
            "a mapping of max_attempts",
        ),
        # sections
        (
            "retry:\n  minhash-clustr: {max_attempts: 2}\n",
            "retry.minhash-clustr",
            {"max_attempts": 2},
            "one of default",
        ),
        ("retry: {max_attempts: 2, filter: {}}\n", "retry.filter", {}, "one of max_attempts"),
        ("retry: [OUT_OF_MEMORY]\n", "retry", ["OUT_OF_MEMORY"], "a mapping"),
    ],
)
def test_bad_retry_values(tmp_path, body, key, value, expected):
    issue = _only_issue(tmp_path, body)
    assert (issue.file, issue.key, issue.value) == (tmp_path / "site.yaml", key, value)
    assert expected in issue.expected, issue
    assert key in str(issue) and str(tmp_path / "site.yaml") in str(issue)


def test_fixes_say_what_to_do(tmp_path):
    fixes = {
        body: _only_issue(tmp_path, body).fix
        for body in (
            "retry: {OUT_OF_MEMROY: {}}\n",
            "retry: {out_of_memory: {}}\n",
            "retry:\n  minhash-clustr: {}\n",
            "retry: {FAILED: {}}\n",
            "retry: {CANCELLED: {}}\n",
            "retry: {OUT_OF_MEMORY: {mem: x1}}\n",
            "retry: {max_attempts: 2, filter: {}}\n",
        )
    }
    assert list(fixes.values()) == [
        "did you mean 'OUT_OF_MEMORY'?",
        "did you mean 'OUT_OF_MEMORY'?",
        "did you mean 'minhash-cluster'?",
        fixes["retry: {FAILED: {}}\n"],
        fixes["retry: {CANCELLED: {}}\n"],
        "a factor above 1; write {} to retry with the same resources",
        "write step policies under `retry:` next to `default:`",
    ]
    assert "never retried" in fixes["retry: {FAILED: {}}\n"] and "log" in fixes["retry: {FAILED: {}}\n"]
    assert "never retried" in fixes["retry: {CANCELLED: {}}\n"]


def test_unknown_step_names_list_the_registry(tmp_path):
    issue = _only_issue(tmp_path, "retry:\n  filtre: {}\n")
    assert all(step in issue.expected for step in ("default", *STEPS))


def test_every_problem_is_reported_at_once(tmp_path):
    issues = _issues(
        tmp_path,
        "driver_time: 3d\nretry:\n"
        "  default: {max_attempts: 0}\n"
        "  filter: {OUT_OF_MEMORY: {mem: x0, max_mem: lots}, TIMEOUT: {time: 1h}}\n"
        "  nonsense: {}\n",
    )
    assert sorted(i.key for i in issues) == [
        "driver_time",
        "retry.default.max_attempts",
        "retry.filter.OUT_OF_MEMORY.max_mem",
        "retry.filter.OUT_OF_MEMORY.mem",
        "retry.filter.TIMEOUT.time",
        "retry.nonsense",
    ]


def test_causes_a_rule_may_name():
    assert RETRY_CAUSES == ("OUT_OF_MEMORY", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL")


# --- Slurm values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),  # minutes
        ("45:30", 2730),  # minutes:seconds
        ("04:00:00", 14400),
        ("100:00:00", 360000),
        ("1-12", 129600),  # days-hours
        ("1-12:30", 131400),  # days-hours:minutes
        ("2-00:00:01", 172801),
    ],
)
def test_time_seconds_reads_every_form_slurm_accepts(text, seconds):
    assert time_seconds(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (1800, "00:30:00"),
        (86399, "23:59:59"),
        (86400, "1-00:00:00"),
        (360000, "4-04:00:00"),
        (59.2, "00:01:00"),
    ],
)
def test_format_time_is_canonical_and_rounds_up(seconds, text):
    assert format_time(seconds) == text
    assert time_seconds(text) == int(-(-seconds // 1))


def test_time_minutes_rounds_up():
    assert time_minutes("3-00:00:00") == 3 * 24 * 60
    assert time_minutes("00:00:01") == 1 and time_minutes("45") == 45


@pytest.mark.parametrize(
    ("text", "kib", "canonical"),
    [
        ("2G", 2 * 1024**2, "2G"),
        ("500M", 500 * 1024, "500M"),
        ("4096", 4096 * 1024, "4G"),
        ("512K", 512, "1M"),
        ("1T", 1024**3, "1T"),
        ("1536M", 1536 * 1024, "1536M"),
    ],
)
def test_memory_sizes(text, kib, canonical):
    assert memory_kib(text) == kib
    assert memory_bytes(text) == kib * 1024
    assert format_memory(kib) == canonical
