"""The `data_stages` list of a nanotron training config, for stages smolprep prepared.

SmolLM3 trains with nanotron from tokenized shards; its configs (huggingface/smollm,
`text/pretraining/smollm3/stage*.yaml`) list one data stage per mixture:

    data_stages:
    - data:
        dataset: {dataset_folder: [...], dataset_weights: [...], ...}
        num_loading_workers: 0
        seed: 6
      name: stable
      start_training_step: 1

Each stage here names its datasets' tokenized folders (`<root>/<stage>/tokenized/<dataset>`, whether or not
they exist yet) with the config's weights, in the config's order. Stage k+1 starts once stage k's
`token_budget` is consumed:

    start(1) = 1
    start(k+1) = start(k) + ceil(token_budget(k) / (global_batch_size × sequence_length))

With SmolLM3's global batch (dp 192 × micro batch 3 = 576 sequences of 4096 tokens) and the budgets of
configs/stage1-3.yaml this gives SmolLM3's own 1, 3,450,001 and 4,198,001.

Building the list reads nothing; `export_warnings` reads the run directories (folders, manifest.json) and
returns what a trainer should know before it starts, as sentences."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from smolprep.config.stage import StageConfig
from smolprep.state.layout import RunLayout

SMOLLM3_GLOBAL_BATCH_SIZE = 576  # sequences per step: dp 192 × micro_batch_size 3 × batch_accumulation 1
SMOLLM3_SEQUENCE_LENGTH = 4096
SMOLLM3_SEED = 6  # data.seed of every SmolLM3 data stage
SMOLLM3_LOADING_WORKERS = 0  # data.num_loading_workers of every SmolLM3 data stage
FOLDERS_KEY = "dataset_folder"  # nanotron's NanosetDatasetsArgs: the tokenized folders
WEIGHTS_KEY = "dataset_weights"


class ExportError(ValueError):
    """Stages that cannot be handed to nanotron as given; the message says why and the fix."""


def tokenized_folder(root: Path, stage: str, dataset: str) -> Path:
    """Where the stage's tokenize-merge step writes the dataset's shards."""
    return RunLayout(root, stage).tokenized(dataset)


def steps_for(tokens: int, global_batch_size: int, sequence_length: int) -> int:
    """Training steps that consume `tokens` (the last step may be partly past them)."""
    return math.ceil(tokens / (global_batch_size * sequence_length))


def start_steps(stages: Sequence[StageConfig], global_batch_size: int, sequence_length: int) -> list[int]:
    """The first training step of each stage (see the module's rule); every stage but the last needs a
    token_budget."""
    _check_stages(stages, global_batch_size, sequence_length)
    starts = [1]
    for stage in stages[:-1]:
        assert stage.token_budget is not None  # _check_stages
        starts.append(starts[-1] + steps_for(stage.token_budget, global_batch_size, sequence_length))
    return starts


def data_stages(
    stages: Sequence[StageConfig],
    roots: Sequence[Path],
    global_batch_size: int = SMOLLM3_GLOBAL_BATCH_SIZE,
    sequence_length: int = SMOLLM3_SEQUENCE_LENGTH,
    seed: int = SMOLLM3_SEED,
    num_loading_workers: int = SMOLLM3_LOADING_WORKERS,
) -> list[dict[str, Any]]:
    """nanotron's `data_stages`: one entry per stage, in the given order, each stage's datasets read from
    `roots[i]` (its output root). Raises ExportError for stages nanotron would refuse or we cannot place."""
    if len(roots) != len(stages):
        raise ExportError(f"{len(stages)} stages but {len(roots)} output roots: give one root per stage")
    starts = start_steps(stages, global_batch_size, sequence_length)
    return [
        _data_stage(stage, root, start, seed, num_loading_workers)
        for stage, root, start in zip(stages, roots, starts, strict=True)
    ]


def _data_stage(stage: StageConfig, root: Path, start: int, seed: int, workers: int) -> dict[str, Any]:
    dataset = {
        FOLDERS_KEY: [str(tokenized_folder(root, stage.name, d.name)) for d in stage.datasets],
        WEIGHTS_KEY: [d.weight for d in stage.datasets],
    }
    return {
        "data": {"dataset": dataset, "num_loading_workers": workers, "seed": seed},
        "name": stage.name,
        "start_training_step": start,
    }


def _check_stages(stages: Sequence[StageConfig], global_batch_size: int, sequence_length: int) -> None:
    if not stages:
        raise ExportError("no stage to export: name at least one (--stage N or --config PATH)")
    if global_batch_size < 1 or sequence_length < 1:
        raise ExportError(
            f"global batch size {global_batch_size} and sequence length {sequence_length}: both must be >= 1"
        )
    names = [s.name for s in stages]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ExportError(
            f"stage {', '.join(repeated)} is named more than once: nanotron needs one data stage per name"
        )
    for stage in stages[:-1]:
        if stage.token_budget is None:
            raise ExportError(
                f"stage {stage.name} ({stage.source_file or 'its config'}) has no token_budget: the next "
                "stage's start_training_step comes from it; set `token_budget:` in the config "
                "(only the last stage may go without)"
            )


def export_warnings(
    stages: Sequence[StageConfig],
    roots: Sequence[Path],
    max_epochs: float,
    global_batch_size: int = SMOLLM3_GLOBAL_BATCH_SIZE,
    sequence_length: int = SMOLLM3_SEQUENCE_LENGTH,
) -> list[str]:
    """What to know before training on the exported stages: budgets that are no whole number of steps,
    tokenized folders that do not exist yet (or hold no shard), and datasets whose manifest says they
    would be repeated more than `max_epochs` times or have no tokens at all."""
    warnings: list[str] = []
    for stage, root in zip(stages, roots, strict=True):
        warnings += _budget_warnings(stage, global_batch_size, sequence_length)
        warnings += _folder_warnings(stage, root)
        warnings += _manifest_warnings(stage, RunLayout(root, stage.name), max_epochs)
    return warnings


def _budget_warnings(stage: StageConfig, global_batch_size: int, sequence_length: int) -> list[str]:
    per_step = global_batch_size * sequence_length
    if stage.token_budget is None or stage.token_budget % per_step == 0:
        return []
    steps = steps_for(stage.token_budget, global_batch_size, sequence_length)
    return [
        f"stage {stage.name}: token_budget {stage.token_budget:,} is not a whole number of steps of "
        f"{per_step:,} tokens; it trains {steps:,} steps ({steps * per_step:,} tokens)"
    ]


def _folder_warnings(stage: StageConfig, root: Path) -> list[str]:
    warnings = []
    for spec in stage.datasets:
        folder = tokenized_folder(root, stage.name, spec.name)
        if not folder.is_dir():
            warnings.append(
                f"{stage.name}/{spec.name}: {folder} does not exist yet (tokenize the stage before training)"
            )
        elif not any(folder.glob("*.ds")):
            warnings.append(f"{stage.name}/{spec.name}: {folder} holds no tokenized shard (*.ds) yet")
    return warnings


def _manifest_warnings(stage: StageConfig, layout: RunLayout, max_epochs: float) -> list[str]:
    if not layout.manifest.is_file():
        return []
    try:
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
        entries = manifest["datasets"]
        if not isinstance(entries, dict):
            raise TypeError("datasets is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [f"stage {stage.name}: cannot read {layout.manifest} ({err}); run `launch.py report` again"]
    warnings = []
    for spec in stage.datasets:
        entry = entries.get(spec.name)
        if not isinstance(entry, dict):
            warnings.append(
                f"{stage.name}/{spec.name}: not in {layout.manifest} (written for another config?); "
                "run `launch.py report` again"
            )
            continue
        warnings += _dataset_warnings(stage.name, spec.name, entry, max_epochs)
    return warnings


def _dataset_warnings(stage: str, dataset: str, entry: dict[str, Any], max_epochs: float) -> list[str]:
    tokens, epochs = entry.get("tokens_out"), entry.get("epochs")
    if tokens == 0:
        return [
            f"{stage}/{dataset}: the manifest says it has 0 tokens (weight {entry.get('weight')}): "
            "nanotron has nothing to read for it"
        ]
    if isinstance(epochs, int | float) and epochs > max_epochs:
        return [
            f"{stage}/{dataset}: the manifest says training repeats it {epochs:.2f} times, above "
            f"{max_epochs:g} epochs (lower its weight or give it more data)"
        ]
    return []


def render_yaml(
    stages: Sequence[StageConfig],
    exported: list[dict[str, Any]],
    global_batch_size: int = SMOLLM3_GLOBAL_BATCH_SIZE,
    sequence_length: int = SMOLLM3_SEQUENCE_LENGTH,
) -> str:
    """The `data_stages:` block to paste into a nanotron config, after comments on the steps it assumes."""
    return (
        "\n".join(_header(stages, exported, global_batch_size, sequence_length))
        + "\n"
        + yaml.safe_dump({"data_stages": exported}, sort_keys=False, default_flow_style=False)
    )


def _header(
    stages: Sequence[StageConfig],
    exported: list[dict[str, Any]],
    global_batch_size: int,
    sequence_length: int,
) -> list[str]:
    per_step = global_batch_size * sequence_length
    lines = [
        "# nanotron data_stages written by `launch.py export nanotron`",
        f"# tokens per step: global batch {global_batch_size:,} x sequence length {sequence_length:,} = "
        f"{per_step:,}; a stage starts when the previous one's token_budget is consumed",
    ]
    for stage, entry in zip(stages, exported, strict=True):
        start = entry["start_training_step"]
        if stage.token_budget is None:
            lines.append(f"# {stage.name}: from step {start:,} on (no token_budget)")
            continue
        last = start + steps_for(stage.token_budget, global_batch_size, sequence_length) - 1
        lines.append(f"# {stage.name}: steps {start:,}..{last:,} (token_budget {stage.token_budget:,})")
    budget = stages[-1].token_budget
    if budget is not None:
        end = exported[-1]["start_training_step"] + steps_for(budget, global_batch_size, sequence_length) - 1
        lines.append(f"# tokens.train_steps to train through the last stage: {end}")
    return lines
