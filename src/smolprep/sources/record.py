"""Where a fetched dataset lives and what `fetch.json` says about it.

    <root>/sources/<owner>/<repo>/<subset or _default>/<split>/
        fetch.json          written last, atomically: repo, subset, split, revision (commit sha), every
                            file with its size and sha256; no fetch.json = not (completely) fetched
        data/...            the repo's files for that subset and split, at their paths in the repo

The folder is named after the repo, subset and split, not after a stage's dataset, so stages that use
the same data share one copy. A file is taken as fetched only when fetch.json lists it and it has the
listed size (the checksum was verified when it was downloaded)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolprep.config.stage import DatasetSpec
from smolprep.state.atomic import write_json_atomic

RECORD_NAME = "fetch.json"
DEFAULT_SUBSET = "_default"


@dataclass(frozen=True)
class FetchedFile:
    path: str  # in the repo
    size: int
    sha256: str


@dataclass(frozen=True)
class FetchRecord:
    repo: str
    subset: str | None
    split: str
    revision: str  # the commit sha fetched
    files: tuple[FetchedFile, ...]
    fetched_at: float = 0.0

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def as_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "subset": self.subset,
            "split": self.split,
            "revision": self.revision,
            "fetched_at": self.fetched_at,
            "bytes": self.size,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
        }


def source_folder(root: Path, spec: DatasetSpec) -> Path:
    """Where `launch.py fetch` puts a `source:` dataset's files."""
    if spec.source is None:
        raise ValueError(f"dataset {spec.name} has no `source`")
    return root / "sources" / spec.source / (spec.subset or DEFAULT_SUBSET) / spec.split


def write_record(folder: Path, record: FetchRecord) -> None:
    write_json_atomic(folder / RECORD_NAME, record.as_json())


@dataclass(frozen=True)
class SourceState:
    """Whether a `source:` dataset is fetched: its record when it is, else why not."""

    folder: Path
    record: FetchRecord | None
    problem: str = ""  # empty when fetched or simply never fetched

    @property
    def fetched(self) -> bool:
        return self.record is not None


def source_state(root: Path, spec: DatasetSpec) -> SourceState:
    folder = source_folder(root, spec)
    path = folder / RECORD_NAME
    if not path.is_file():
        return SourceState(folder, None)
    try:
        record = _parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        return SourceState(folder, None, f"{path} is damaged ({err}); fetch again")
    if (record.repo, record.subset, record.split) != (spec.source, spec.subset, spec.split):
        return SourceState(
            folder, None, f"{path} is for {record.repo} {record.subset}/{record.split}; fetch again"
        )
    for f in record.files:
        local = folder / f.path
        size = local.stat().st_size if local.is_file() else None
        if size != f.size:
            found = "missing" if size is None else f"{size:,} bytes, not {f.size:,}"
            return SourceState(folder, None, f"{local} is {found}; fetch again")
    return SourceState(folder, record)


def _parse(data: dict[str, Any]) -> FetchRecord:
    files = tuple(FetchedFile(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in data["files"])
    return FetchRecord(
        str(data["repo"]),
        data["subset"] if data["subset"] is None else str(data["subset"]),
        str(data["split"]),
        str(data["revision"]),
        files,
        float(data.get("fetched_at", 0.0)),
    )


def tokenizer_file(root: Path, repo: str) -> Path:
    """Where `launch.py fetch` puts the tokenizer.json of a Hub model repo named by `tokenize.tokenizer`
    (model repos have their own namespace on the Hub, hence their own folder)."""
    return root / "sources" / "models" / repo / "tokenizer.json"
