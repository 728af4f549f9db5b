"""What the commands share: the options that name a run, argparse types, loading the config, the profile
and the run directory, and the `Ops` that the commands operating on a launched run work on."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from smolprep.commands.base import RunFunction
from smolprep.config.profile import ClusterProfile, available_profiles, load_profile
from smolprep.config.stage import MAX_TASKS_PER_STEP, StageConfig, load_stage_config
from smolprep.errors import UsageError
from smolprep.paths import configs_dir
from smolprep.plan import StagePlan, plan_stage
from smolprep.slurm.client import SlurmClient
from smolprep.slurm.errors import SlurmQueryError
from smolprep.sources.resolve import resolve_stage
from smolprep.state.layout import RunLayout
from smolprep.state.lock import describe, is_stale, read_holder

SLURM_OVERRIDES = ("partition", "account", "qos")


def run_options(parser: argparse.ArgumentParser) -> None:
    """--stage/--config, --cluster and --output: which run a command is about."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--stage", metavar="N", help="stage number: reads configs/stage<N>.yaml")
    which.add_argument(
        "--config",
        metavar="PATH",
        help="a stage config YAML (see docs/config.md), or the name of a shipped one: sample",
    )
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        default="slurm",
        help=f"cluster profile in cluster/ or a YAML path (default: slurm; available: "
        f"{', '.join(_profiles_or_none())})",
    )
    parser.add_argument("--output", metavar="DIR", help="output root (default: the profile's storage_root)")


def _profiles_or_none() -> list[str]:
    try:
        return available_profiles()
    except FileNotFoundError:
        return []


def slurm_options(parser: argparse.ArgumentParser) -> None:
    """What a command that submits may override, and how long it waits for another launcher."""
    parser.add_argument("--partition", metavar="P", help="Slurm partition (overrides the profile)")
    parser.add_argument("--account", metavar="A", help="Slurm account (overrides the profile)")
    parser.add_argument("--qos", metavar="Q", help="Slurm QOS (overrides the profile)")
    lock_wait_option(parser)


def lock_wait_option(parser: argparse.ArgumentParser, shown: bool = True) -> None:
    parser.add_argument(
        "--lock-wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="wait this long for another launcher of the same stage to finish (default 120)"
        if shown
        else argparse.SUPPRESS,
    )


def force_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"allow steps of more than {MAX_TASKS_PER_STEP:,} tasks (each task is a process, files, a marker)",
    )
    parser.add_argument(
        "--force-config",
        action="store_true",
        help="the config changed since the run was launched: delete the outputs of every step the change "
        "affects and rerun them (instead of launching into a new --output)",
    )


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def resolve_config_path(args: argparse.Namespace) -> Path:
    """--config PATH, or the name of a shipped config (`--config sample`: configs/sample.yaml, also when
    smolprep is installed without the checkout), or --stage N (configs/stage<N>.yaml)."""
    if args.config:
        path = Path(args.config)
        shipped = configs_dir() / f"{args.config}.yaml"
        if not path.is_file() and path.suffix == "" and path.name == args.config and shipped.is_file():
            return shipped
        return path
    if args.stage:
        path = configs_dir() / f"stage{args.stage}.yaml"
        if not path.is_file():
            known = sorted(p.stem.removeprefix("stage") for p in configs_dir().glob("stage*.yaml"))
            raise UsageError(f"--stage {args.stage}: no {path}; stages available: {', '.join(known)}")
        return path
    raise UsageError("say which stage to run: --stage N or --config PATH (see --help)")


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """The profile settings the command line overrides (--partition, --account, --qos)."""
    return {k: v for k in SLURM_OVERRIDES if (v := getattr(args, k, None))}


def load_inputs(
    args: argparse.Namespace, resolve: bool = True
) -> tuple[StageConfig, ClusterProfile, RunLayout]:
    """The stage (its fetched sources read from their local copies unless not `resolve`), the cluster
    profile and the run directory the command line names."""
    stage = load_stage_config(resolve_config_path(args))
    if getattr(args, "datasets", None) is not None:
        names = [n.strip() for n in args.datasets.split(",") if n.strip()]
        if not names:
            known = ", ".join(d.name for d in stage.datasets)
            raise UsageError(f"--datasets {args.datasets!r} names no dataset; give some of: {known}")
        stage = stage.select(names)
    profile = load_profile(args.cluster, overrides(args))
    root = Path(args.output or profile.storage_root).expanduser().resolve()
    return resolve_stage(stage, root) if resolve else stage, profile, RunLayout(root, stage.name)


def run_args(args: argparse.Namespace) -> str:
    """The options that name this run, for the commands we suggest."""
    which = f"--stage {args.stage}" if args.stage else f"--config {args.config}"
    return f"{which} --cluster {args.cluster}" + (f" --output {args.output}" if args.output else "")


def command_line() -> str:
    """This process's command line as the lock records it (cut to 200 characters)."""
    return " ".join(["launch.py", *sys.argv[1:]])[:200]


def require_run(layout: RunLayout) -> None:
    """Refuse (exit 2) a run directory that no launch created."""
    if not layout.run_json.is_file():
        raise UsageError(
            f"no run in {layout.stage_dir}: nothing has run for stage {layout.stage} there (no run.json); "
            "launch it first, or check --output / --cluster"
        )


@dataclass(frozen=True)
class Ops:
    """What every command operating on a launched run works on."""

    args: argparse.Namespace
    console: Console
    stage: StageConfig
    profile: ClusterProfile
    layout: RunLayout
    plan: StagePlan
    slurm: SlurmClient  # called only when the ledger names Slurm jobs


def on_a_run(handler: Callable[[Ops], int]) -> RunFunction:
    """A command's run function for `handler`, which works on a run a launch created (exit 2 without one,
    nothing written). A Slurm query that fails names the run it was about."""

    def run(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
        stage, profile, layout = load_inputs(args)
        require_run(layout)
        try:
            return handler(Ops(args, console, stage, profile, layout, plan_stage(stage), slurm))
        except SlurmQueryError as err:
            raise SlurmQueryError(f"cannot ask Slurm about the jobs of {layout.stage_dir}: {err}") from err

    return run


SHOWN = 5  # failed ranks, errors or steps named in one table cell or sentence


def some(items: list[str], limit: int = SHOWN) -> str:
    """'a, b, c and 4 more'."""
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def launcher_at_work(layout: RunLayout) -> str | None:
    """Who holds the stage's lock now (a launch, resubmit or cancel at work), if anyone."""
    if not layout.lock.is_file():
        return None
    holder = read_holder(layout.lock)
    return None if is_stale(holder, layout.lock) else describe(holder)
