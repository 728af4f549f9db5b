"""A file of the run directory that exists but cannot be used (truncated stats, garbled run.json, a damaged
intermediate file): the error names the file, what is wrong with it and what to do. The command line prints
it as one line (exit 1), never a traceback."""

from __future__ import annotations

from pathlib import Path


class DamagedRunFile(Exception):
    """A run-directory file is unreadable or inconsistent."""

    def __init__(self, path: Path | str, problem: str, fix: str):
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}. {self.fix}"

    def __reduce__(self):
        # raised in a worker process, it is rebuilt in the launcher from these three fields (an
        # exception is rebuilt from `args` by default, which holds only the message here)
        return (type(self), (self.path, self.problem, self.fix))
