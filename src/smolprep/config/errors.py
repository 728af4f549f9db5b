"""Configuration errors that say where, what, what was expected and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one config file: file, key, value, what was expected, and the fix."""

    file: Path
    key: str
    value: Any
    expected: str
    fix: str = ""

    def describe(self) -> str:
        """The problem without its fix."""
        return f"{self.file}: {self.key}: got {self.value!r}; expected {self.expected}."

    def __str__(self) -> str:
        return self.describe() + (f" Fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class ChangedSetting(ConfigIssue):
    """An output-affecting setting that differs from the one a run was made with (pinned in its run.json):
    `value` is the config's value now, `before` the pinned one, `expected` says where it is pinned."""

    before: Any = None

    def describe(self) -> str:
        return f"{self.file}: {self.key}: {show(self.before)} -> {show(self.value)} ({self.expected})."


def show(value: Any) -> str:
    """A setting's value as a user writes it: strings bare, lists comma-separated, None as `unset`."""
    if value is None:
        return "unset"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


class ConfigError(Exception):
    """A config or profile is invalid. Raised before anything is written or submitted (exit code 2)."""

    def __init__(self, issues: list[ConfigIssue]):
        if not issues:
            raise ValueError("ConfigError needs at least one issue")
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.issues) == 1:
            return str(self.issues[0])
        fixes = {issue.fix for issue in self.issues}
        shared = fixes.pop() if len(fixes) == 1 else ""
        lines = [issue.describe() if shared else str(issue) for issue in self.issues]
        text = "\n".join(
            [f"{len(self.issues)} problem(s) in the configuration:", *("  - " + x for x in lines)]
        )
        return text + (f"\nFix: {shared}" if shared else "")
