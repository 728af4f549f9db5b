"""Per-step document accounting from datatrove's merged stats (pure: counters in, accounts out).

Every step of a dataset gets `docs_in`, `docs_out` and `removed` ({reason: documents}) such that
`docs_in - docs_out == sum(removed)` whenever the stats are consistent; anything the counters do not
explain is kept apart in `unaccounted` (0 on a complete run) instead of being hidden in a reason.

Where the numbers come from (the blocks of `smolprep.pipelines.build`):
- the reader's `documents` are the step's `docs_in`; lines it skipped (`corrupt_json`, `corrupt_utf8`,
  `missing_text`) are not documents: they are reported apart as `skipped_lines`; input files it could not
  read are not documents either: `files_read`, `corrupt_files` and each skipped file with its reason are
  reported apart (`skipped_files`), never as documents or removal reasons;
- each filter (and MinHash stage 4, and the sentence dedup filter) counts `total`, `forwarded`, `dropped`
  and `dropped_<reason>`; a drop without a reason (the sampler, MinHash) gets a reason named after the block;
- the writer's `total` is the step's `docs_out`. A step without a writer (MinHash signatures) passes
  every document it read on; steps that read no documents (MinHash buckets and cluster, sentence-find)
  read signatures: their `docs_in` and `docs_out` are the documents of the step before, nothing removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smolprep.stats_keys import CORRUPT_FILES, CORRUPT_LINE_KEYS, FILES_READ
from smolprep.summary import BlockCounters, SkippedFile, block_kind

__all__ = ["BlockFlow", "StepAccount", "account_step", "block_kind", "block_label"]

LABELS = {"MinHash stage 4": "MinHash dedup"}  # datatrove's name -> ours
REASONLESS = {"Sampler": "sampled out", "MinHash dedup": "near-duplicate"}
FOUND_KEYS = {"total_matches": "duplicate_pairs", "duplicates": "duplicates", "to_remove": "to_remove"}


def block_label(name: str) -> str:
    """'🔻 - FILTER: 🌍 Language ID (lid.176)' -> 'Language ID (lid.176)'."""
    label = name.split(": ", 1)[1] if ": " in name else name
    start = next((i for i, ch in enumerate(label) if ch.isalnum()), len(label))
    label = label[start:].strip() or name
    return LABELS.get(label, label)


@dataclass(frozen=True)
class BlockFlow:
    """Documents through one block that can remove documents (a filter, MinHash stage 4)."""

    label: str
    docs_in: int
    docs_out: int
    removed: dict[str, int]  # reason (as the filter gave it) -> documents

    def as_json(self) -> dict:
        return {
            "block": self.label,
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "removed": self.removed,
        }


@dataclass(frozen=True)
class StepAccount:
    step: str
    tasks: int
    completed: int
    cpu_seconds: float
    docs_in: int
    docs_out: int
    removed: dict[str, int]  # "<block>: <reason>" -> documents
    blocks: tuple[BlockFlow, ...] = ()
    skipped_lines: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)  # MinHash buckets/cluster: pairs, duplicates
    unaccounted: int = 0
    files_read: int = 0
    corrupt_files: int = 0
    skipped_files: tuple[SkippedFile, ...] = ()

    @property
    def complete(self) -> bool:
        return self.completed >= self.tasks

    def as_json(self) -> dict:
        data: dict = {
            "tasks": self.tasks,
            "completed": self.completed,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "removed": self.removed,
        }
        if self.skipped_lines:
            data["skipped_lines"] = self.skipped_lines
        if self.corrupt_files or self.skipped_files:
            data["files_read"] = self.files_read
            data["corrupt_files"] = self.corrupt_files
            data["skipped_files"] = [f.as_json() for f in self.skipped_files]
        if self.blocks:
            data["funnel"] = [b.as_json() for b in self.blocks]
        if self.found:
            data["found"] = self.found
        if self.unaccounted:
            data["unaccounted"] = self.unaccounted
        return data


def _flow(block: BlockCounters, position: int) -> BlockFlow:
    label = block_label(block.name)
    if label == "None":  # a block whose name was set after datatrove named its stats
        label = f"block {position}"
    reasons = {
        k.removeprefix("dropped_"): v for k, v in block.counters.items() if k.startswith("dropped_") and v
    }
    rest = block.get("dropped") - sum(reasons.values())
    if rest > 0:
        reasons[REASONLESS.get(label, "dropped")] = rest
    return BlockFlow(label, block.get("total"), block.get("forwarded"), reasons)


def _removes_documents(block: BlockCounters) -> bool:
    return block_kind(block.name) in ("filter", "dedup") and (
        "forwarded" in block.counters or "dropped" in block.counters
    )


def account_step(
    step: str,
    blocks: list[BlockCounters],
    tasks: int,
    completed: int,
    upstream_docs: int,
    reads_documents: bool | None = None,
) -> StepAccount:
    """One step's account. `upstream_docs`: documents out of the step before (0 for the first step; used by
    the steps that read no documents themselves, and when a step has no stats yet). `reads_documents`: the
    step reads documents (the plan says; None: it does when its stats have a reader, or none yet)."""
    seconds = sum(b.seconds for b in blocks)
    readers = [b for b in blocks if block_kind(b.name) == "reader"]
    if reads_documents is None:
        reads_documents = bool(readers) or not blocks
    if not readers and reads_documents:  # no stats yet: nothing came out
        return StepAccount(step, tasks, completed, seconds, upstream_docs, 0, {}, unaccounted=upstream_docs)
    if not readers:
        found = {FOUND_KEYS[k]: v for b in blocks for k, v in b.counters.items() if k in FOUND_KEYS}
        return StepAccount(step, tasks, completed, seconds, upstream_docs, upstream_docs, {}, found=found)
    reader = readers[0]
    docs_in = reader.get("documents")
    skipped = {k: reader.get(k) for k in CORRUPT_LINE_KEYS if reader.get(k)}
    flows = tuple(_flow(b, i) for i, b in enumerate(blocks, 1) if _removes_documents(b))
    writers = [b for b in blocks if block_kind(b.name) == "writer"]
    docs_out = writers[-1].get("total") if writers else docs_in
    removed: dict[str, int] = {}
    for flow in flows:
        for reason, count in flow.removed.items():
            key = f"{flow.label}: {reason}"
            removed[key] = removed.get(key, 0) + count
    unaccounted = docs_in - docs_out - sum(removed.values())
    return StepAccount(
        step,
        tasks,
        completed,
        seconds,
        docs_in,
        docs_out,
        removed,
        flows,
        skipped,
        unaccounted=unaccounted,
        files_read=reader.get(FILES_READ),
        corrupt_files=reader.get(CORRUPT_FILES),
        skipped_files=reader.skipped_files,
    )
