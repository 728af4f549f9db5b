"""`python launch.py export nanotron --stage 1 [--stage 2 ...] [-o FILE]`: the training hand-off. Writes
the `data_stages:` block of a nanotron config for the stages named, in the order named: each dataset's
tokenized folder under the output root with its weight, and each stage's start_training_step (see
smolprep.export.nanotron for the rule). Folders are named before they exist, so the block can be written
at any time; what is not ready yet (no shards, too many epochs, no tokens) is a `warning:` line on stderr.
Nothing is submitted and no run directory is needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from smolprep.commands.base import Command
from smolprep.commands.common import positive_int, positive_number, resolve_config_path
from smolprep.config.profile import available_profiles, load_profile
from smolprep.config.stage import StageConfig, load_stage_config
from smolprep.errors import EXIT_OK, UsageError
from smolprep.export import nanotron
from smolprep.render import make_console
from smolprep.report.manifest import DEFAULT_MAX_EPOCHS
from smolprep.slurm.client import SlurmClient
from smolprep.state.atomic import write_text_atomic

TARGETS = ("nanotron",)


def _stage_choice(text: str) -> tuple[str, str]:
    return ("stage", text)


def _config_choice(text: str) -> tuple[str, str]:
    return ("config", text)


def _profiles() -> str:
    try:
        return ", ".join(available_profiles())
    except FileNotFoundError:
        return "none found"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", choices=TARGETS, help="the trainer whose config to write")
    parser.add_argument(
        "--stage",
        dest="stages",
        action="append",
        type=_stage_choice,
        metavar="N",
        help="a stage to export: configs/stage<N>.yaml (repeat for more, in training order)",
    )
    parser.add_argument(
        "--config",
        dest="stages",
        action="append",
        type=_config_choice,
        metavar="PATH",
        help="a stage config YAML, or the name of a shipped one (repeatable, mixes with --stage in order)",
    )
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        default="slurm",
        help=f"cluster profile whose storage_root holds the runs (default: slurm; available: {_profiles()})",
    )
    parser.add_argument("--output", metavar="DIR", help="output root (default: the profile's storage_root)")
    parser.add_argument(
        "--global-batch-size",
        type=positive_int,
        default=nanotron.SMOLLM3_GLOBAL_BATCH_SIZE,
        metavar="N",
        help=f"sequences per training step, dp x micro_batch_size x batch_accumulation_per_replica "
        f"(default {nanotron.SMOLLM3_GLOBAL_BATCH_SIZE}: SmolLM3's 192 x 3 x 1)",
    )
    parser.add_argument(
        "--sequence-length",
        type=positive_int,
        default=nanotron.SMOLLM3_SEQUENCE_LENGTH,
        metavar="N",
        help=f"tokens per sequence (default {nanotron.SMOLLM3_SEQUENCE_LENGTH}: SmolLM3's)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=nanotron.SMOLLM3_SEED,
        metavar="N",
        help=f"data.seed of every data stage (default {nanotron.SMOLLM3_SEED}: SmolLM3's)",
    )
    parser.add_argument(
        "--max-epochs",
        type=positive_number,
        default=DEFAULT_MAX_EPOCHS,
        metavar="N",
        help=f"warn about datasets the manifest says training repeats more than N times "
        f"(default {DEFAULT_MAX_EPOCHS:g})",
    )
    parser.add_argument(
        "-o",
        "--output-file",
        metavar="FILE",
        help="write the YAML to FILE (atomically) instead of printing it",
    )


def run(args: argparse.Namespace, console: Console, slurm: SlurmClient) -> int:
    stages = [load_stage_config(path) for path in _config_paths(args.stages)]
    root = Path(args.output or load_profile(args.cluster).storage_root).expanduser().resolve()
    roots = [root] * len(stages)
    text, warnings = _export(args, stages, roots)
    if args.output_file:
        _write(Path(args.output_file), text)
        console.print(
            f"Wrote {args.output_file}: {len(stages)} nanotron data stage(s)", highlight=False, soft_wrap=True
        )
    else:
        console.out(text, end="", highlight=False)
    errors = make_console(stderr=True)
    for warning in warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    return EXIT_OK


def _config_paths(chosen: list[tuple[str, str]] | None) -> list[Path]:
    """The config file of every --stage / --config, in the order given."""
    if not chosen:
        raise UsageError("say which stages to export: --stage N or --config PATH, repeated (see --help)")
    return [
        resolve_config_path(
            argparse.Namespace(
                stage=value if kind == "stage" else None, config=value if kind == "config" else None
            )
        )
        for kind, value in chosen
    ]


def _export(args: argparse.Namespace, stages: list[StageConfig], roots: list[Path]) -> tuple[str, list[str]]:
    batch, length = args.global_batch_size, args.sequence_length
    try:
        exported = nanotron.data_stages(stages, roots, batch, length, seed=args.seed)
    except nanotron.ExportError as err:
        raise UsageError(str(err)) from err
    warnings = nanotron.export_warnings(stages, roots, args.max_epochs, batch, length)
    return nanotron.render_yaml(stages, exported, batch, length), warnings


def _write(path: Path, text: str) -> None:
    try:
        write_text_atomic(path, text)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from err


COMMAND = Command(
    "export",
    "write the data_stages of a nanotron config for stages: tokenized folders, weights, start steps",
    add_arguments,
    run,
)
