"""The command registry: every command is one declaration in its own module, and `launch.py` dispatches
through the registry; a test-only command is parsed, listed and run with no other change."""

from __future__ import annotations

import argparse

import pytest

from smolprep.cli import main
from smolprep.commands.base import Command, CommandRegistry
from smolprep.commands.common import on_a_run, run_options
from smolprep.commands.registry import COMMANDS
from smolprep.errors import EXIT_OK
from tests.fakes.slurm import FakeSlurm
from tests.fakes.stage import write_stage


def _count_steps(ops) -> int:
    ops.console.print(f"{ops.args.prefix}{len(ops.plan.steps)} steps in {ops.layout.stage_dir.name}")
    return EXIT_OK


def _toy_arguments(parser: argparse.ArgumentParser) -> None:
    run_options(parser)
    parser.add_argument("--prefix", default="", help="printed first")


TOY = Command("count", "print how many steps the run has", _toy_arguments, on_a_run(_count_steps))


def test_every_shipped_command_is_in_the_registry_with_its_own_parser():
    assert [c.name for c in COMMANDS.others()] == [
        "fetch",
        "status",
        "logs",
        "resubmit",
        "cancel",
        "report",
        "export",
    ]
    assert COMMANDS.default == "launch"
    for command in COMMANDS.others():
        parser = COMMANDS.parser(command)
        assert parser.prog == f"launch.py {command.name}" and parser.description == command.summary
    assert "--dry-run" in COMMANDS.parser(COMMANDS["launch"]).format_help()


def test_a_test_registry_command_is_listed_parsed_and_run_on_a_launched_run(tmp_path, capsys):
    files = write_stage(tmp_path)
    fake = FakeSlurm()
    commands = COMMANDS.with_command(TOY)
    assert main(files.argv(), slurm=fake, commands=commands) == 0  # the default command: launch
    capsys.readouterr()
    assert main(files.argv("count", "--prefix", "run: "), slurm=fake, commands=commands) == 0
    assert capsys.readouterr().out == "run: 6 steps in fake\n"
    assert main(["--help"], commands=commands) == 0
    assert "  count     print how many steps the run has" in capsys.readouterr().out
    # without the command in the registry, `count` is no command: the launch parser refuses it
    assert main(files.argv("count"), slurm=fake) == 2
    assert "unrecognized arguments: count" in capsys.readouterr().err


def test_a_registry_command_on_a_missing_run_is_refused_like_the_shipped_ones(tmp_path, capsys):
    files = write_stage(tmp_path)
    assert main(files.argv("count"), commands=COMMANDS.with_command(TOY)) == 2
    assert f"no run in {files.output / 'fake'}" in capsys.readouterr().err
    assert not files.output.exists()


def test_the_default_command_must_be_registered():
    with pytest.raises(ValueError, match="default command 'launch'"):
        CommandRegistry([TOY], default="launch")
