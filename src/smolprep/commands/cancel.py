"""`python launch.py cancel`: cancel every queued or running job of the stage that its ledger names (the
wave driver job too), nothing else; a run with no Slurm job is left alone."""

from __future__ import annotations

import argparse

from smolprep.commands.base import Command
from smolprep.commands.common import Ops, launcher_at_work, lock_wait_option, on_a_run, run_options
from smolprep.errors import EXIT_OK
from smolprep.state import ledger
from smolprep.state.lock import launch_lock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    lock_wait_option(parser, shown=False)


def cancel(ops: Ops) -> int:
    layout, console = ops.layout, ops.console
    if not ledger.read(layout.ledger):
        launcher = launcher_at_work(layout)
        now = f" {launcher} runs it now: stop it with Ctrl-C in its terminal." if launcher else ""
        console.print(
            f"No Slurm job was submitted for {layout.stage_dir}: nothing to cancel.{now}", markup=False
        )
        return EXIT_OK
    with launch_lock(
        layout.lock, "cancel", ops.args.lock_wait, lambda h: console.print(f"waiting for {h}", markup=False)
    ):
        entries = ledger.read(layout.ledger)
        active = sorted({q.array_job_id for q in ops.slurm.queue({e.job_id for e in entries})}, key=int)
        if not active:
            console.print(f"No job of {layout.stage_dir} is queued or running.", markup=False)
            return EXIT_OK
        ops.slurm.scancel(active)
        console.print(
            f"Cancelled {len(active)} job(s) of {layout.stage_dir}: {', '.join(active)}", markup=False
        )
    return EXIT_OK


COMMAND = Command(
    "cancel",
    "cancel every queued or running job of the stage (from its ledger), nothing else",
    add_arguments,
    on_a_run(cancel),
)
