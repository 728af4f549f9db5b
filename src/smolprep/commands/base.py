"""What a command is, and the registry `launch.py` dispatches through.

A command is one declaration in its own module: its name, a one-line summary, the options it adds to
its parser and the function that runs it. Adding a command is that module plus one line in
`registry.py`; nothing else lists command names."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.console import Console

from smolprep.slurm.client import SlurmClient

RunFunction = Callable[[argparse.Namespace, Console, SlurmClient], int]


@dataclass(frozen=True)
class Command:
    name: str
    summary: str  # one line: the command's description, and its line in `launch.py --help`
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: RunFunction  # the exit code; `slurm` is called only when the command needs Slurm
    submits: bool = False  # queues jobs: Slurm missing is the command line's fault (exit 2), not a failure
    description: str = ""  # the parser's longer description (default: the summary)


class CommandRegistry:
    """The commands by name; `default` runs when the first argument names no command."""

    def __init__(self, commands: Iterable[Command], default: str) -> None:
        self.commands = {c.name: c for c in commands}
        if default not in self.commands:
            raise ValueError(f"default command {default!r} is not among {', '.join(self.commands)}")
        self.default = default

    def __getitem__(self, name: str) -> Command:
        return self.commands[name]

    def others(self) -> list[Command]:
        """The commands named on the command line (all but the default)."""
        return [c for name, c in self.commands.items() if name != self.default]

    def split(self, argv: list[str]) -> tuple[Command, list[str]]:
        """The command the arguments name (the default when the first names none) and its arguments."""
        if argv and argv[0] in self.commands and argv[0] != self.default:
            return self.commands[argv[0]], argv[1:]
        return self.commands[self.default], argv

    def parser(self, command: Command) -> argparse.ArgumentParser:
        if command.name == self.default:
            listed = "\n".join(f"  {c.name:<9} {c.summary}" for c in self.others())
            parser = argparse.ArgumentParser(
                prog="launch.py",
                description=f"{command.description or command.summary}\n"
                f"other commands (python launch.py COMMAND --help):\n{listed}\n",
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        else:
            parser = argparse.ArgumentParser(
                prog=f"launch.py {command.name}", description=command.description or command.summary
            )
        command.add_arguments(parser)
        return parser

    def with_command(self, command: Command) -> CommandRegistry:
        """A copy with one more command (tests declare their own)."""
        return CommandRegistry([*self.commands.values(), command], self.default)
