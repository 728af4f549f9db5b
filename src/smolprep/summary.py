"""Documents per dataset and step, merged from datatrove's per-task stats files (stats/NNNNN.json), and the
final documents that are really on disk.

A stats file holds one entry per pipeline block; each counter is written by datatrove's
`MetricStats.to_dict` as a bare number or as a dict whose `total` is the sum of every update (see
`counter_value`). A stats file that cannot be read that way is damaged: `DamagedRunFile` names it and the
task's completion marker to delete. Counters that name a skipped input file (`stats_keys.skipped_file_key`)
are not numbers to add up: they are kept apart as `SkippedFile`s and never become documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from smolprep.plan import StagePlan
from smolprep.state.errors import DamagedRunFile
from smolprep.state.layout import RunLayout
from smolprep.stats_keys import CORRUPT_LINE_KEYS, parse_skipped_file_key


@dataclass(frozen=True)
class SkippedFile:
    """An input file a reader could not read and skipped (its documents are in no count)."""

    file: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


@dataclass(frozen=True)
class BlockCounters:
    """One pipeline block of a step (reader, a filter, writer...), counters summed over tasks.

    `seconds`: the block's `time_stats.total` summed over tasks (time spent inside the block; a task
    runs on one core, so the sum over a step's blocks is its CPU time). `skipped_files`: the input files
    the block (a reader) skipped, named by their own counters, which are not in `counters`.
    """

    name: str
    counters: dict[str, int]
    seconds: float = 0.0
    skipped_files: tuple[SkippedFile, ...] = ()

    def get(self, key: str) -> int:
        return self.counters.get(key, 0)

    def plus(self, other: BlockCounters) -> BlockCounters:
        """This block's counters with another task's of the same block added."""
        counters = dict(self.counters)
        for key, value in other.counters.items():
            counters[key] = counters.get(key, 0) + value
        skipped = tuple(dict.fromkeys(self.skipped_files + other.skipped_files))
        return BlockCounters(self.name, counters, self.seconds + other.seconds, skipped)


def counter_value(value: object) -> int | None:
    """The count a datatrove counter stands for, None when `value` is no counter datatrove writes.

    `MetricStats.to_dict` writes 0 for a counter never updated, the bare total when that is all there is
    to say, and otherwise a dict: `total` is always the sum of every update, `n` (the number of updates)
    appears when it differs from the total, e.g. the reader's `documents`, updated once per input file."""
    if isinstance(value, dict):
        value = value.get("total")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def _block_seconds(block: dict) -> float:
    """time_stats is a dict with `total` seconds, or a bare 0 for a block that never ran."""
    time_stats = block.get("time_stats", 0)
    total = time_stats.get("total", 0.0) if isinstance(time_stats, dict) else time_stats
    return float(total) if isinstance(total, int | float) and not isinstance(total, bool) else 0.0


def damaged_stats(stats_file: Path, problem: str) -> DamagedRunFile:
    return DamagedRunFile(
        stats_file,
        f"damaged stats file ({problem})",
        f"Delete it and the task's completion marker {RunLayout.marker_of_stats(stats_file)}, then relaunch the same "
        "command: the task runs again and rewrites it",
    )


def _task_block(stats_file: Path, block: object) -> BlockCounters:
    if not isinstance(block, dict) or not isinstance(block.get("name"), str):
        raise damaged_stats(stats_file, "a pipeline block without a name")
    stats = block.get("stats", {})
    if not isinstance(stats, dict):
        raise damaged_stats(stats_file, f"the counters of {block['name']!r} are not a JSON object")
    counters: dict[str, int] = {}
    skipped: list[SkippedFile] = []
    for key, value in stats.items():
        number = counter_value(value)
        if number is None:
            raise damaged_stats(stats_file, f"counter {key!r} of {block['name']!r} is {value!r}")
        named = parse_skipped_file_key(key)
        if named is not None:
            skipped.append(SkippedFile(*named))
        else:
            counters[key] = number
    return BlockCounters(block["name"], counters, _block_seconds(block), tuple(skipped))


def read_stats_file(stats_file: Path) -> list[BlockCounters]:
    """One task's blocks; raises DamagedRunFile when the file is not what datatrove writes."""
    try:
        blocks = json.loads(stats_file.read_text(encoding="utf-8"))
    except OSError as err:
        raise damaged_stats(stats_file, f"cannot be read: {err.strerror or err}") from err
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise damaged_stats(stats_file, f"not valid JSON, truncated? {err}") from err
    if not isinstance(blocks, list):
        raise damaged_stats(stats_file, "not a list of pipeline blocks")
    return [_task_block(stats_file, block) for block in blocks]


def merge_blocks(tasks: Iterable[list[BlockCounters]]) -> list[BlockCounters]:
    """Blocks of several tasks of one step, added up position by position."""
    merged: list[BlockCounters] = []
    for blocks in tasks:
        for i, block in enumerate(blocks):
            if i == len(merged):
                merged.append(block)
            else:
                merged[i] = merged[i].plus(block)
    return merged


def merge_stats_files(files: list[Path]) -> list[BlockCounters]:
    return merge_blocks(read_stats_file(file) for file in sorted(files))


def task_stats(layout: RunLayout, dataset: str, step: str) -> dict[int, list[BlockCounters]]:
    """rank -> its blocks, for every finished task of the step. datatrove writes a task's stats file, then
    its completion marker: a stats file without its marker belongs to a task that did not finish (killed,
    perhaps while writing it) and is neither read nor counted; the task runs again on the next launch."""
    folder = layout.stats_dir(dataset, step)
    finished = layout.completed_ranks(dataset, step)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return {int(f.stem): read_stats_file(f) for f in files if f.stem.isdigit() and int(f.stem) in finished}


def step_blocks(layout: RunLayout, dataset: str, step: str) -> list[BlockCounters]:
    return merge_blocks(task_stats(layout, dataset, step).values())


def writer_total(blocks: list[BlockCounters]) -> int | None:
    """Documents the last writer of these blocks wrote, None when there is no writer."""
    writers = [b for b in blocks if "WRITER" in b.name]
    return writers[-1].get("total") if writers else None


@dataclass(frozen=True)
class FinalOutput:
    """The final documents on disk without reading them: per rank, the writer's count from the task's own
    stats file, kept only when the rank's output file exists. `missing`: rank -> documents its writer
    wrote into a file that is gone."""

    docs: int | None
    missing: dict[int, int]


def final_output(layout: RunLayout, dataset: str, final_tasks: dict[int, list[BlockCounters]]) -> FinalOutput:
    """`final_tasks`: `task_stats` of the dataset's last document-writing step (the one writing
    data/<dataset>/)."""
    written = {rank: n for rank, blocks in final_tasks.items() if (n := writer_total(blocks)) is not None}
    if not written:
        return FinalOutput(None, {})
    missing = {r: n for r, n in written.items() if n > 0 and not layout.final_file(dataset, r).is_file()}
    return FinalOutput(sum(n for r, n in written.items() if r not in missing), missing)


def missing_output_note(layout: RunLayout, dataset: str, step: str, ranks: Iterable[int]) -> str:
    """'1 output file missing (00002.jsonl.gz); delete its completion marker logs/.../00002 and relaunch'."""
    ranks = sorted(ranks)
    names = ", ".join(layout.final_file(dataset, r).name for r in ranks)
    markers = ", ".join(str(layout.marker(dataset, step, r).relative_to(layout.stage_dir)) for r in ranks)
    if len(ranks) == 1:
        return f"1 output file missing ({names}); delete its completion marker {markers} and relaunch"
    return (
        f"{len(ranks)} output files missing ({names}); delete their completion markers {markers} and relaunch"
    )


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset's row. `docs_out` counts the final documents on disk (see `FinalOutput`); `state` is
    `complete`, `incomplete` or `damaged: ...` (an output file is missing, with what to do)."""

    dataset: str
    docs_in: int | None
    corrupt_lines: int | None
    removed_filter: int | None
    removed_dedup: int | None
    docs_out: int | None
    state: str
    skipped_files: tuple[SkippedFile, ...] = ()


def _skipped_files(steps: Iterable[list[BlockCounters]]) -> tuple[SkippedFile, ...]:
    return tuple(dict.fromkeys(f for blocks in steps for block in blocks for f in block.skipped_files))


def block_kind(name: str) -> str:
    """reader, filter, writer, dedup or other, from datatrove's '<emoji> - TYPE: name'."""
    head = name.split(": ", 1)[0].upper()
    for kind in ("READER", "FILTER", "WRITER", "DEDUP"):
        if kind in head:
            return kind.lower()
    return "other"


def _removed_after_filtering(steps: Iterable[list[BlockCounters]]) -> int | None:
    """Documents the dedup steps removed; None before any of them has stats."""
    removing = [
        b
        for blocks in steps
        for b in blocks
        if block_kind(b.name) in ("filter", "dedup")
        and ("forwarded" in b.counters or "dropped" in b.counters)
    ]
    return sum(b.get("dropped") for b in removing) if removing else None


def dataset_summary(layout: RunLayout, plan: StagePlan, dataset: str) -> DatasetSummary:
    steps = plan.for_dataset(dataset)
    tasks = {s.step: task_stats(layout, dataset, s.step) for s in steps}
    merged = {step: merge_blocks(per_rank.values()) for step, per_rank in tasks.items()}
    first_blocks = merged[steps[0].step]
    reader = first_blocks[0] if first_blocks else None
    docs_in = reader.get("documents") if reader else None
    corrupt = sum(reader.get(k) for k in CORRUPT_LINE_KEYS) if reader else None
    # filtered out: what the steps before dedup removed (contents, filter), up to the last one's writer
    filtering = [s for s in steps if not s.dedup and s.writes_documents]
    filtered = writer_total(merged[filtering[-1].step]) if filtering else None
    removed_filter = docs_in - filtered if docs_in is not None and filtered is not None else None
    removed_dedup = _removed_after_filtering(merged[s.step] for s in steps if s.dedup)
    last = plan.final_step(dataset).step
    final = final_output(layout, dataset, tasks[last])
    complete = all(layout.step_done(dataset, s.step, s.tasks) for s in steps)
    state = "complete" if complete else "incomplete"
    if final.missing:
        state = "damaged: " + missing_output_note(layout, dataset, last, final.missing)
    return DatasetSummary(
        dataset,
        docs_in,
        corrupt,
        removed_filter,
        removed_dedup,
        final.docs,
        state,
        _skipped_files(merged.values()),
    )


def stage_summary(layout: RunLayout, plan: StagePlan) -> list[DatasetSummary]:
    return [dataset_summary(layout, plan, d) for d in plan.datasets()]
