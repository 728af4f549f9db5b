"""Documents per dataset and step, merged from datatrove's per-task stats files (stats/NNNNN.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from smolprep.plan import StagePlan
from smolprep.state.layout import RunLayout

CORRUPT_KEYS = ("corrupt_utf8", "corrupt_json", "missing_text")


@dataclass(frozen=True)
class BlockCounters:
    """One pipeline block of a step (reader, a filter, writer...), counters summed over tasks.

    `seconds`: the block's `time_stats.total` summed over tasks (time spent inside the block; a task
    runs on one core, so the sum over a step's blocks is its CPU time).
    """

    name: str
    counters: dict[str, int]
    seconds: float = 0.0

    def get(self, key: str) -> int:
        return self.counters.get(key, 0)


def _counter_value(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, dict) and "total" in value and "n" not in value:
        return int(value["total"])  # per-file document counters: {"total", "mean", "unit"}
    return None


def _block_seconds(block: dict) -> float:
    """time_stats is a dict with `total` seconds, or a bare 0 for a block that never ran."""
    time_stats = block.get("time_stats", 0)
    total = time_stats.get("total", 0.0) if isinstance(time_stats, dict) else time_stats
    return float(total) if isinstance(total, int | float) and not isinstance(total, bool) else 0.0


def merge_stats_files(files: list[Path]) -> list[BlockCounters]:
    names: list[str] = []
    counters: list[dict[str, int]] = []
    seconds: list[float] = []
    for file in sorted(files):
        blocks = json.loads(file.read_text())
        for i, block in enumerate(blocks):
            if i == len(names):
                names.append(block["name"])
                counters.append({})
                seconds.append(0.0)
            seconds[i] += _block_seconds(block)
            for key, value in block.get("stats", {}).items():
                number = _counter_value(value)
                if number is not None:
                    counters[i][key] = counters[i].get(key, 0) + number
    return [BlockCounters(n, c, t) for n, c, t in zip(names, counters, seconds, strict=True)]


def step_blocks(layout: RunLayout, dataset: str, step: str) -> list[BlockCounters]:
    folder = layout.logs(dataset, step) / "stats"
    return merge_stats_files(list(folder.glob("*.json"))) if folder.is_dir() else []


@dataclass(frozen=True)
class DatasetSummary:
    dataset: str
    docs_in: int | None
    corrupt_lines: int | None
    removed_filter: int | None
    removed_dedup: int | None
    docs_out: int | None
    state: str


def _writer_total(blocks: list[BlockCounters]) -> int | None:
    writers = [b for b in blocks if "WRITER" in b.name]
    return writers[-1].get("total") if writers else None


def dataset_summary(layout: RunLayout, plan: StagePlan, dataset: str) -> DatasetSummary:
    steps = plan.for_dataset(dataset)
    complete = all(len(layout.completed_ranks(dataset, s.step)) >= s.tasks for s in steps)
    filter_blocks = step_blocks(layout, dataset, "filter")
    reader = filter_blocks[0] if filter_blocks else None
    docs_in = reader.get("documents") if reader else None
    corrupt = sum(reader.get(k) for k in CORRUPT_KEYS) if reader else None
    filtered = _writer_total(filter_blocks)
    removed_filter = docs_in - filtered if docs_in is not None and filtered is not None else None
    removed_dedup = None
    docs_out = filtered
    if any(s.step == "minhash-filter" for s in steps):
        final_blocks = step_blocks(layout, dataset, "minhash-filter")
        dedup = [b for b in final_blocks if "MinHash" in b.name]
        removed_dedup = dedup[0].get("dropped") if dedup else None
        docs_out = _writer_total(final_blocks)
    return DatasetSummary(
        dataset,
        docs_in,
        corrupt,
        removed_filter,
        removed_dedup,
        docs_out,
        "complete" if complete else "incomplete",
    )


def stage_summary(layout: RunLayout, plan: StagePlan) -> list[DatasetSummary]:
    return [dataset_summary(layout, plan, d) for d in plan.datasets()]
