"""A dataset's final output (`data/<dataset>/*.jsonl.gz`) from the per-task stats of the step that wrote it,
without reading the files: the writer (`AtomicJsonlWriter`) records per task the documents, the UTF-8 bytes
of their texts and the compressed size of its file. The report of a multi-terabyte stage then reads one
small stats file per task and checks each final file's size on disk (a `stat`, no read).

A final file whose size differs from what its writer recorded is damage (truncated, rewritten by something
else): `DamagedRunFile` names it and the completion marker to delete. A file no finished task of the step
wrote (left by an earlier run with more tasks, copied in by hand) is counted apart (`stray`) and warned about.

Tokens: the stage's own tokenize steps count them exactly (`manifest.tokenized_tokens`). Otherwise, with a
report tokenizer configured, whole final files spread evenly over the dataset are read and tokenized until
`max_tokenized_bytes` of text, and the count is scaled by the text bytes of the stats; without one, tokens
are estimated from the text bytes. Runs written before the writer recorded its bytes are read in full
(`tokens.scan_output`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from smolprep.report.tokens import (
    ByteEstimate,
    OutputScan,
    TokenCounter,
    count_in_batches,
    output_files,
    read_texts,
)
from smolprep.state.errors import DamagedRunFile
from smolprep.state.layout import RunLayout
from smolprep.stats_keys import FILE_BYTES, TEXT_BYTES
from smolprep.summary import BlockCounters


@dataclass(frozen=True)
class WrittenFile:
    """What one task's writer recorded about the final file it wrote."""

    rank: int
    docs: int
    text_bytes: int
    file_bytes: int


def written_files(final_tasks: dict[int, list[BlockCounters]]) -> dict[int, WrittenFile] | None:
    """rank -> its writer's record, for every finished task of the step writing data/<dataset>/; None when a
    task's writer has no byte counters (a run written before they existed: its files must be read)."""
    files: dict[int, WrittenFile] = {}
    for rank, blocks in final_tasks.items():
        writers = [b for b in blocks if "WRITER" in b.name]
        if not writers:
            return None
        writer = writers[-1]
        if TEXT_BYTES not in writer.counters or FILE_BYTES not in writer.counters:
            return None
        files[rank] = WrittenFile(rank, writer.get("total"), writer.get(TEXT_BYTES), writer.get(FILE_BYTES))
    return files


@dataclass(frozen=True)
class StatsOutput:
    scan: OutputScan
    stray: tuple[str, ...]  # final files in the folder that no finished task of the step wrote


def output_from_stats(
    layout: RunLayout,
    dataset: str,
    step: str,
    written: dict[int, WrittenFile],
    counter: TokenCounter,
    max_tokenized_bytes: int,
) -> StatsOutput:
    """The dataset's output as its writer recorded it. Files recorded but gone are not counted (the manifest
    reports them as missing); a file whose size differs from the record raises `DamagedRunFile`."""
    present: list[tuple[WrittenFile, Path]] = []
    for rank in sorted(written):
        record = written[rank]
        file = layout.final_file(dataset, rank)
        try:
            size = file.stat().st_size
        except FileNotFoundError:
            continue
        if size != record.file_bytes:
            raise _damaged(
                layout, dataset, step, file, f"{size:,} bytes on disk, its writer wrote {record.file_bytes:,}"
            )
        present.append((record, file))
    names = {file.name for _, file in present}
    stray = tuple(f.name for f in output_files(layout.data(dataset)) if f.name not in names)
    docs = sum(r.docs for r, _ in present)
    text = sum(r.text_bytes for r, _ in present)
    disk = sum(r.file_bytes for r, _ in present)
    if isinstance(counter, ByteEstimate):
        scan = OutputScan(len(present), docs, text, disk, counter.from_bytes(text), text, counter.method)
    else:
        tokens, counted = _sampled_tokens(layout, dataset, step, present, counter, text, max_tokenized_bytes)
        scan = OutputScan(len(present), docs, text, disk, tokens, counted, counter.method)
    return StatsOutput(scan, stray)


def _sampled_tokens(
    layout: RunLayout,
    dataset: str,
    step: str,
    present: list[tuple[WrittenFile, Path]],
    counter: TokenCounter,
    text_bytes: int,
    max_bytes: int,
) -> tuple[int, int]:
    """(tokens scaled to all the text, text bytes tokenized): whole files at an even stride, until
    `max_bytes` of text (every file when the dataset has no more than that)."""
    candidates = [(r, f) for r, f in present if r.docs > 0]
    stride = max(1.0, text_bytes / max(max_bytes, 1))
    tokens = counted = 0
    position = 0.0
    while int(position) < len(candidates) and (counted < max_bytes or stride == 1.0):
        record, file = candidates[int(position)]
        tokens += _file_tokens(layout, dataset, step, record, file, counter)
        counted += record.text_bytes
        position += stride
    if 0 < counted < text_bytes:
        tokens = round(tokens * text_bytes / counted)
    return tokens, counted


def _file_tokens(
    layout: RunLayout, dataset: str, step: str, record: WrittenFile, file: Path, counter: TokenCounter
) -> int:
    """Tokens of one whole final file; a file whose documents or bytes differ from its record is damage."""
    markers = layout.completions(dataset, step)
    docs = size = 0

    def counted() -> Iterator[str]:
        nonlocal docs, size
        for text in read_texts(file, markers):
            docs += 1
            size += len(text.encode("utf-8"))
            yield text

    tokens = count_in_batches(counted(), counter)
    if (docs, size) != (record.docs, record.text_bytes):
        raise _damaged(
            layout,
            dataset,
            step,
            file,
            f"{docs:,} documents of {size:,} text bytes, its writer wrote {record.docs:,} of "
            f"{record.text_bytes:,}",
        )
    return tokens


def _damaged(layout: RunLayout, dataset: str, step: str, file: Path, problem: str) -> DamagedRunFile:
    rank = int(file.name.split(".", 1)[0])
    return DamagedRunFile(
        file,
        f"final file not as its task wrote it ({problem})",
        f"Delete it and its task's completion marker {layout.marker(dataset, step, rank)}, then relaunch the "
        "same command: the task writes it again",
    )
