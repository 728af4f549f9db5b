"""The command line: finds the command in the registry, parses its options, runs it, and turns every
failure we can foresee into one line and an exit code.

    python launch.py [--stage N | --config PATH] [--cluster NAME] [--output DIR] [--datasets a,b]
                     [--partition P] [--dry-run [--test-only]] [--wait] [--workers N] [--force] [--force-config]
    python launch.py status|logs|resubmit|cancel|report [--stage N | --config PATH] [--cluster NAME] [--output DIR]

Exit codes: 0 success; 1 a run failed, a run-directory file is damaged or a Slurm command failed; 2 bad usage
or bad config (nothing written or submitted), Slurm profile on a machine without Slurm; 130 interrupted.
"""

from __future__ import annotations

import sys

from smolprep.commands.base import Command, CommandRegistry
from smolprep.commands.registry import COMMANDS
from smolprep.config.errors import ConfigError
from smolprep.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from smolprep.render import make_console, print_error
from smolprep.slurm.client import RealSlurm, SlurmClient
from smolprep.slurm.errors import SlurmError, SlurmNotFound
from smolprep.state.errors import DamagedRunFile
from smolprep.state.lock import LockHeld


def main(
    argv: list[str] | None = None, slurm: SlurmClient | None = None, commands: CommandRegistry = COMMANDS
) -> int:
    """The command line; `slurm` stands in for the machine's Slurm commands (tests pass a fake) and
    `commands` for the registry."""
    try:
        return _main(sys.argv[1:] if argv is None else list(argv), slurm, commands)
    except KeyboardInterrupt:
        make_console(stderr=True).print("interrupted; relaunch the same command to continue", highlight=False)
        return EXIT_INTERRUPTED


def _main(argv: list[str], slurm: SlurmClient | None, commands: CommandRegistry) -> int:
    command, rest = commands.split(argv)
    try:
        args = commands.parser(command).parse_args(rest)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    # Building the client runs nothing: only a Slurm profile's launch, or a run whose ledger names Slurm
    # jobs, ever calls a Slurm command.
    client = slurm if slurm is not None else RealSlurm()
    try:
        return command.run(args, make_console(), client)
    except (ConfigError, UsageError) as err:
        print_error(str(err))
        make_console(stderr=True).print("Nothing was written or submitted.", style="dim")
        return EXIT_USAGE
    except LockHeld as err:
        print_error(str(err))
        return EXIT_USAGE
    except DamagedRunFile as err:
        print_error(str(err))
        return EXIT_FAILED
    except SlurmNotFound as err:
        print_error(str(err))
        return _no_slurm_code(command)
    except SlurmError as err:
        print_error(str(err))
        return EXIT_FAILED


def _no_slurm_code(command: Command) -> int:
    """A command that submits asks Slurm before writing anything: the Slurm profile was the user's choice
    (exit 2); on a launched run whose ledger names Slurm jobs, Slurm going missing is a failure (exit 1)."""
    return EXIT_USAGE if command.submits else EXIT_FAILED
