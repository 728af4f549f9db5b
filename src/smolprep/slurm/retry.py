"""Cause-aware retries: whether a failed task runs again, and with which resources (pure, no Slurm calls).

The profile's `retry:` section (`smolprep.config.profile`: `RetryPolicy`, `RetryRule`, `DEFAULT_RETRY`)
gives each step a policy: `max_attempts` (the first run included) and a rule per failure cause. `decide`
reads the policy for one failed task: a cause without a rule (FAILED, a Python error, above all) is never
retried; a rule runs the task again while attempts are left, with its resources changed:

- cpus first (`xN` rounds up, `+N`, `N`);
- memory: a factor scales `mem_per_cpu`; an amount (`+4G`, `64G`) and the cap `max_mem` are the task's
  total, so they are divided by its (new) CPU count; rounded up to whole M (down to whole M at the cap);
- time: `xN`, `+01:00:00`, `08:00:00`, rounded up to whole seconds.

A cap (`max_mem`, `max_time`, `max_cpus`) stops growth; it never lowers what the task already had. A rule
that changes resources but leaves them as they were (every change at its cap, or an absolute value already
reached) is not retried: the same resources would fail the same way. A rule `{}` always runs the task again
with the same resources (NODE_FAIL, PREEMPTED).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from smolprep.config.profile import (
    DEFAULT_RETRY,
    NEVER_RETRIED,
    RETRY_CAUSES,
    Change,
    ClusterProfile,
    RetryPolicy,
    RetryRule,
    StepResources,
    format_memory,
    format_time,
    memory_bytes,
    memory_kib,
    time_minutes,
    time_seconds,
)

# the policy's dataclasses and the Slurm value helpers live in the profile, which validates with them
__all__ = [
    "RetryDecision",
    "RetryPolicy",
    "RetryRule",
    "apply_rule",
    "decide",
    "format_memory",
    "format_time",
    "in_place_requeue",
    "memory_bytes",
    "memory_kib",
    "normalise_cause",
    "policy_for",
    "time_minutes",
    "time_seconds",
]

# squeue's short state codes, for a cause read from `squeue -o %t`
_CODES = {
    "OOM": "OUT_OF_MEMORY",
    "TO": "TIMEOUT",
    "NF": "NODE_FAIL",
    "PR": "PREEMPTED",
    "BF": "BOOT_FAIL",
    "F": "FAILED",
    "CA": "CANCELLED",
    "DL": "DEADLINE",
}
LOGS_COMMAND = "python launch.py logs"
_CAPS = {"mem_per_cpu": "max_mem", "time": "max_time", "cpus": "max_cpus"}  # resource -> its cap


@dataclass(frozen=True)
class RetryDecision:
    """`retry`: run the task again with `resources` (the current ones when not retried); `reason`: one
    line for the user."""

    retry: bool
    resources: StepResources
    reason: str


def policy_for(profile: ClusterProfile, step: str) -> RetryPolicy:
    """The step's policy: its own (already merged over the default), else the profile's default, else the
    built-in one."""
    table = dict(profile.retry)
    return table.get(step) or table.get("default") or DEFAULT_RETRY


def in_place_requeue(profile: ClusterProfile, step: str) -> dict[str, int | bool]:
    """The node executor's keywords for its time-limit signal: a task requeues itself in place only while
    its step's policy retries a TIMEOUT with the same resources (`TIMEOUT: {}`); attempts are capped."""
    policy = policy_for(profile, step)
    timeout = policy.rule("TIMEOUT")
    return {
        "max_attempts": policy.max_attempts,
        "requeue_in_place": timeout is not None and not timeout.changes(),
    }


def normalise_cause(cause: str) -> str:
    """A Slurm state as sacct, scontrol or squeue write it ("CANCELLED by 0", "TIMEOUT (requeued 2
    times)", "CANCELLED+", "OOM") -> its name (CANCELLED, TIMEOUT, OUT_OF_MEMORY); "" -> UNKNOWN."""
    words = cause.split()
    first = words[0].rstrip("+").upper() if words else "UNKNOWN"
    return _CODES.get(first, first)


def decide(
    policy: RetryPolicy,
    cause: str,
    attempt: int,
    current: StepResources,
    *,
    logs_command: str = LOGS_COMMAND,
) -> RetryDecision:
    """After a task's `attempt`-th attempt (1 after its first run) failed with `cause` while asking for
    `current` (what that attempt ran with, so a factor compounds: 2G, 4G, 8G): run it again, with what?
    `logs_command` is the command the reason names for a failure that is never retried (the caller may
    name the task: `python launch.py logs --stage 1 --dataset d --step filter --rank 3`)."""
    if attempt < 1:
        raise ValueError(
            f"attempt counts the attempts already made (1 after the first failure), got {attempt}"
        )
    state = normalise_cause(cause)
    rule = policy.rule(state)
    if rule is None:
        return RetryDecision(False, current, _no_rule(state, logs_command))
    if attempt >= policy.max_attempts:
        named = cause.strip() if cause.strip().startswith(state) else state  # with its detail
        reason = f"{named}: {attempt} attempts made (max_attempts {policy.max_attempts}): not retried"
        return RetryDecision(False, current, reason)
    changed, caps = apply_rule(rule, current)
    if rule.changes() and changed == current:
        reached = (
            " (" + ", ".join(f"{cap} {getattr(rule, cap)}" for cap in caps) + " reached)" if caps else ""
        )
        reason = (
            f"{state}: the rule leaves {_show(current)} as they were{reached}: not retried, "
            "the same resources would fail the same way"
        )
        return RetryDecision(False, current, reason)
    what = _differences(current, changed, rule, caps) or "the same resources"
    return RetryDecision(True, changed, f"{state}: retry {attempt + 1} of {policy.max_attempts} with {what}")


def apply_rule(rule: RetryRule, current: StepResources) -> tuple[StepResources, list[str]]:
    """The resources after the rule (see the module's docstring), and the caps that limited them
    (`max_mem`, `max_time`, `max_cpus`)."""
    caps: list[str] = []
    cpus = _capped(_changed(current.cpus, rule.cpus, 1), current.cpus, rule.max_cpus, "max_cpus", caps)
    cpus = math.ceil(cpus)
    old_time = time_seconds(current.time)
    max_time = time_seconds(rule.max_time) if rule.max_time else None
    seconds = math.ceil(_capped(_changed(old_time, rule.time, 1), old_time, max_time, "max_time", caps))
    old_mem = memory_kib(current.mem_per_cpu)
    max_mem = memory_kib(rule.max_mem) / cpus if rule.max_mem else None
    mem = _capped(_changed(old_mem, rule.mem, cpus), old_mem, max_mem, "max_mem", caps)
    whole_m = math.floor if mem == max_mem else math.ceil  # at the cap: whole M within it
    mem = whole_m(mem / 1024) * 1024
    resources = StepResources(
        time=current.time if seconds == old_time else format_time(seconds),
        cpus=cpus,
        mem_per_cpu=current.mem_per_cpu if mem == old_mem else format_memory(mem),
    )
    return resources, caps


def _changed(value: float, change: Change | None, share: int) -> float:
    """`value` after `change`; an added or set amount is divided by `share` (the CPUs, for memory)."""
    if change is None:
        return value
    if change.op == "x":
        return value * change.amount
    return value + change.amount / share if change.op == "+" else change.amount / share


def _capped(value: float, current: float, cap: float | None, name: str, caps: list[str]) -> float:
    if cap is None or value <= cap:
        return value
    caps.append(name)
    return max(current, cap)


def _differences(before: StepResources, after: StepResources, rule: RetryRule, caps: list[str]) -> str:
    """`mem_per_cpu 4G (was 2G), time ...`: what changed, and which cap held it."""
    changes = []
    for name, cap in _CAPS.items():
        if getattr(after, name) != getattr(before, name):
            held = f"; {cap} {getattr(rule, cap)} reached" if cap in caps else ""
            changes.append(f"{name} {getattr(after, name)} (was {getattr(before, name)}{held})")
    return ", ".join(changes)


def _show(resources: StepResources) -> str:
    return ", ".join(f"{name} {getattr(resources, name)}" for name in ("mem_per_cpu", "time", "cpus"))


def _no_rule(state: str, logs_command: str) -> str:
    if state in RETRY_CAUSES:
        return f"{state}: the step's retry policy has no rule for it: not retried (add `{state}: {{}}` to retry it)"
    if state in NEVER_RETRIED and state != "FAILED":
        return f"{state}: never retried: {NEVER_RETRIED[state]}"
    return f"{state}: no retry rule — read the task's log: {logs_command}"
