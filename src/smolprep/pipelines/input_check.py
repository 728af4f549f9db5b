"""A look at each local dataset's first input file before anything runs: a text field that no row of it
has means the dataset would finish "successfully" with no document (ID-only rows, a wrong `text_key`).

Only datasets read from files are looked at (a `path`, or a fetched `source`); a dataset with `contents:`
gets its text from elsewhere, so its rows need none."""

from __future__ import annotations

import posixpath
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from smolprep.config.errors import ConfigIssue
from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.input_files import is_input_file
from smolprep.pipelines.integrity import compression_of, open_decompressed

ROWS_LOOKED_AT = 100


def text_field_issues(stage: StageConfig) -> list[ConfigIssue]:
    issues = []
    for index, spec in enumerate(stage.datasets):
        if spec.path is None or spec.contents is not None or spec.format == "hf":
            continue
        first = _first_file(spec)
        if first is None:
            continue  # no file: the reader says so when it runs
        fields = _fields(first, spec.format or "jsonl")
        if fields is None or spec.text_key in fields:
            continue
        shown = ", ".join(sorted(fields)[:12]) or "none"
        issues.append(
            ConfigIssue(
                Path(stage.source_file),
                f"datasets[{index}] ({spec.name}).text_key",
                spec.text_key,
                f"a field of the rows; the first rows of {first} have {shown}",
                "set `text_key` to the field with the text; if the rows hold only ids (e.g. the-stack-v2's "
                "blob_id), add `contents: {from: s3://bucket/prefix/{blob_id}}` so that a contents step "
                "fetches each row's text (docs/config.md)",
            )
        )
    return issues


def _first_file(spec: DatasetSpec) -> Path | None:
    folder = Path(str(spec.path))
    if not folder.is_dir():
        return None
    fmt = spec.format or "jsonl"
    pattern = spec.input_glob or "**/*"
    files = sorted(p for p in folder.glob(pattern) if p.is_file())
    if spec.glob is None:
        files = [p for p in files if is_input_file(posixpath.basename(str(p)), fmt)]
    return files[0] if files else None


def _fields(path: Path, fmt: str) -> set[str] | None:
    """The fields of the file's first rows (parquet: its columns); None when it cannot be read (the reader
    skips and counts a damaged file when it runs)."""
    try:
        if fmt == "parquet":
            return set(pq.read_schema(path).names)
        fields: set[str] = set()
        with open(path, "rb") as raw, open_decompressed(raw, compression_of(str(path))) as f:
            for i, line in enumerate(f):
                if i >= ROWS_LOOKED_AT:
                    break
                row = orjson.loads(line) if line.strip() else None
                if isinstance(row, dict):
                    fields |= {k for k, v in row.items() if v not in (None, "")}
        return fields or None
    except Exception:
        return None
