"""Every command of `launch.py`, in the order `--help` lists them; `launch` runs when no command is named."""

from __future__ import annotations

from smolprep.commands import cancel, export, fetch, launch, logs, report, resubmit, status
from smolprep.commands.base import CommandRegistry

COMMANDS = CommandRegistry(
    [
        launch.COMMAND,
        fetch.COMMAND,
        status.COMMAND,
        logs.COMMAND,
        resubmit.COMMAND,
        cancel.COMMAND,
        report.COMMAND,
        export.COMMAND,
    ],
    default="launch",
)
