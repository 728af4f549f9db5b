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

    def __str__(self) -> str:
        text = f"{self.file}: {self.key}: got {self.value!r}; expected {self.expected}."
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class ConfigError(Exception):
    """A config or profile is invalid. Raised before anything is written or submitted (exit code 2)."""

    def __init__(self, issues: list[ConfigIssue]):
        if not issues:
            raise ValueError("ConfigError needs at least one issue")
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{len(self.issues)} problem(s) in the configuration:" if len(self.issues) > 1 else ""
        lines = [str(issue) for issue in self.issues]
        return "\n".join([head, *("  - " + line for line in lines)]) if head else lines[0]
