"""Readers of a dataset's original input: a dataset spec becomes a datatrove reader.

What they add to datatrove's readers:
- **our metadata wins**: `source`, `weight`, `dataset`, `config` and `language` are ours. An input record's own
  fields of those names (top level or inside its `metadata`) are kept as `metadata.input_<name>`; ours are
  set (`language` by the language-ID filter of prose datasets, none for code);
- **stable ids**: a null, missing or empty id becomes `<file>/<index>` (datatrove's form for a missing id:
  the file's path relative to the dataset folder and the 0-based line, row or record index);
- **data files only**: with the default glob, side files such as `part.jsonl.gz.md5` are left out before the
  files are shared among tasks (so every task keeps the same files);
- **whole files**: a compressed or parquet file is checked to its end before its documents are read; a
  truncated, corrupt or unreadable file is skipped as a whole, logged, counted (`files_read`,
  `corrupt_files`) and named (`skipped_file_key`), and the task goes on with its other files. A task whose
  every file is skipped fails with the files named;
- **bad lines**: a bad JSONL line is skipped, counted and logged with file:line; a UTF-8 byte order mark
  at the start of a file is not part of its first line.
"""

from __future__ import annotations

import posixpath
from typing import Any

import orjson
from datatrove.pipeline.readers import HuggingFaceDatasetReader, JsonlReader, ParquetReader
from datatrove.pipeline.readers.base import BaseDiskReader, BaseReader
from loguru import logger

from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.input_files import is_input_file
from smolprep.pipelines.integrity import compressed_damage, compression_of, open_decompressed, parquet_damage
from smolprep.stats_keys import CORRUPT_FILES, FILES_READ, skipped_file_key

OWN_FIELDS = ("source", "weight", "dataset", "config", "language")
ID_ONLY_TEXT = "<contents not fetched>"  # an ID-only row's text until the `contents` step fills it
BOM = b"\xef\xbb\xbf"


class CorruptInputFiles(RuntimeError):
    """Every input file of a task was skipped as unreadable."""

    def __init__(self, folder: str, skipped: dict[str, str]):
        self.folder = folder
        self.skipped = skipped
        named = "; ".join(f"{path} ({reason})" for path, reason in skipped.items())
        super().__init__(
            f"every input file of this task in {folder} is unreadable: {named}. Replace or remove these files "
            "(or leave them out with `glob:`), then relaunch"
        )

    def __reduce__(self):
        return (type(self), (self.folder, self.skipped))  # raised in a worker, rebuilt in the launcher


class NoInputFiles(RuntimeError):
    """The dataset folder holds no data file the reader would read."""


def stable_id(value: Any, path: str, id_in_file: int | str) -> str:
    """The record's id as text; `<path>/<index>` for a null or empty one."""
    if value is None or value == "":
        return f"{path}/{id_in_file}"
    return value if isinstance(value, str) else str(value)


def keep_input_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """Move the input's own values of our fields to `input_<name>`."""
    for name in OWN_FIELDS:
        if name in metadata:
            metadata[f"input_{name}"] = metadata.pop(name)
    return metadata


class OwnMetadataReader(BaseReader):
    """Mixin: stable ids, and our metadata over the input's fields of the same names."""

    own_metadata: dict[str, Any] = {}  # noqa: RUF012 (set per instance by the concrete readers)
    id_only = False  # rows hold no text (the `contents` step fetches it): they get ID_ONLY_TEXT meanwhile

    def _default_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
        parsed = super()._default_adapter(data, path, id_in_file)
        if self.id_only and not parsed.get("text"):
            parsed["text"] = ID_ONLY_TEXT
        parsed["id"] = stable_id(parsed.get("id"), path, id_in_file)
        parsed["metadata"] = keep_input_fields(parsed["metadata"])
        return parsed

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str):
        document = super().get_document_from_dict(data, source_file, id_in_file)
        if document is not None:
            rest = {k: v for k, v in document.metadata.items() if k not in self.own_metadata}
            document.metadata = dict(self.own_metadata) | rest
        return document


class WholeFileReader(BaseDiskReader):
    """Mixin: reads only data files (with the default glob), and each file whole or not at all."""

    file_format = "jsonl"
    data_only = True  # False when the user gave an explicit glob: it is obeyed as written

    def input_files(self) -> list[str]:
        names = self.data_folder.list_files(recursive=self.recursive, glob_pattern=self.glob_pattern)
        if not self.data_only:
            return names
        return [n for n in names if is_input_file(posixpath.basename(n), self.file_format)]

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        files = self.input_files()
        if not files:
            raise NoInputFiles(
                f"no {self.file_format} data files in {self.data_folder.path} matching {self.glob_pattern!r}; "
                "put the files there or set `glob:`"
            )
        shard = files[rank::world_size]
        if not shard:
            logger.warning(f"no input files in {self.data_folder.path} for {rank=}")
        self._log_limit_scope(rank, world_size)
        for document in self.read_files_shard(shard):
            self.update_doc_stats(document)
            yield document

    def read_files_shard(self, shard: list[str]):
        self.skipped_files: dict[str, str] = {}
        yield from super().read_files_shard(shard)
        if shard and len(self.skipped_files) == len(shard):
            raise CorruptInputFiles(str(self.data_folder.path), self.skipped_files)

    def read_file(self, filepath: str):
        self.stat_update(FILES_READ)
        reason = self.damage(filepath)
        if reason is not None:
            self._skip_file(filepath, reason)
            return
        yield from super().read_file(filepath)

    def damage(self, filepath: str) -> str | None:
        """Why the file cannot be read whole, or None."""
        return compressed_damage(lambda: self.data_folder.open(filepath, "rb"), filepath)

    def _skip_file(self, filepath: str, reason: str) -> None:
        self.skipped_files[filepath] = reason
        self.stat_update(CORRUPT_FILES)
        self.stat_update(skipped_file_key(filepath, reason))
        logger.warning(f"skipped input file {filepath}: {reason}; none of its documents are used")


class CountingJsonlReader(JsonlReader):
    """JsonlReader that survives bad lines: each is skipped, counted in the stats and logged with file:line.

    datatrove's reader stops reading a file at the first invalid UTF-8 byte; this one decodes line by line.
    Stats keys: `corrupt_utf8`, `corrupt_json`, `missing_text` (a line without the text field or with an
    empty one). A failure to read the file itself is not caught: it fails the task.
    """

    name = "📖 JSONL (counting corrupt lines)"
    id_only = False  # rows without text are read (see OwnMetadataReader.id_only)

    def read_file(self, filepath: str):
        with (
            self.data_folder.open(filepath, "rb") as raw,
            open_decompressed(raw, compression_of(filepath)) as f,
        ):
            for line_no, raw_line in enumerate(f):
                with self.track_time():
                    line = raw_line.removeprefix(BOM) if line_no == 0 else raw_line
                    document = self._parse_line(line, filepath, line_no)
                if document is not None:
                    yield document

    def _parse_line(self, raw: bytes, filepath: str, line_no: int) -> Any:
        if not raw.strip():
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return self._skip("corrupt_utf8", filepath, line_no, err)
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            return self._skip("corrupt_json", filepath, line_no, err)
        if not isinstance(data, dict):
            return self._skip("corrupt_json", filepath, line_no, "not a JSON object")
        if not self.id_only and (not isinstance(data.get(self.text_key), str) or not data[self.text_key]):
            return self._skip("missing_text", filepath, line_no, f"no non-empty {self.text_key!r} field")
        return self.get_document_from_dict(data, filepath, line_no)

    def _skip(self, reason: str, filepath: str, line_no: int, err: object) -> None:
        self.stat_update(reason)
        logger.warning(f"skipped {filepath}:{line_no + 1} ({reason}): {err}")
        return None


class InputJsonlReader(OwnMetadataReader, WholeFileReader, CountingJsonlReader):
    """A dataset's JSONL input (plain or compressed)."""

    name = "📖 JSONL (counting corrupt lines)"

    def __init__(self, folder: str, glob: str | None, data_only: bool, own_metadata: dict, **options: Any):
        super().__init__(folder, glob_pattern=glob, recursive=True, **options)
        self.data_only = data_only
        self.own_metadata = own_metadata


class InputParquetReader(OwnMetadataReader, WholeFileReader, ParquetReader):
    """A dataset's parquet input."""

    file_format = "parquet"

    def __init__(self, folder: str, glob: str | None, data_only: bool, own_metadata: dict, **options: Any):
        super().__init__(folder, glob_pattern=glob, recursive=True, **options)
        self.data_only = data_only
        self.own_metadata = own_metadata

    def damage(self, filepath: str) -> str | None:
        columns = (
            None if self.read_metadata else [self.id_key] if self.id_only else [self.text_key, self.id_key]
        )
        return parquet_damage(lambda: self.data_folder.open(filepath, "rb"), columns)


class InputHFReader(OwnMetadataReader, HuggingFaceDatasetReader):
    """A dataset on the Hugging Face Hub, or saved with `datasets.save_to_disk`."""

    def __init__(self, dataset: str, own_metadata: dict, **options: Any):
        super().__init__(dataset, **options)
        self.own_metadata = own_metadata


def dataset_metadata(spec: DatasetSpec) -> dict[str, Any]:
    """Metadata every output record of this dataset carries."""
    return {"source": spec.origin, "config": spec.subset, "weight": spec.weight, "dataset": spec.name}


def input_reader(stage: StageConfig, spec: DatasetSpec, id_only: bool = False) -> BaseReader:
    """The reader of a dataset's original input (first step); `id_only`: rows without text are read."""
    reader = _input_reader(stage, spec)
    reader.id_only = id_only
    return reader


def _input_reader(stage: StageConfig, spec: DatasetSpec) -> BaseReader:
    common: dict[str, Any] = {
        "text_key": spec.text_key,
        "id_key": spec.id_key,
        "own_metadata": dataset_metadata(spec),
        "limit": spec.max_docs if spec.max_docs is not None else -1,
    }
    if spec.path is None:  # a `source:` dataset not fetched (smolprep.sources.resolve): stream from the Hub
        assert spec.source is not None
        options = {"split": spec.split} | ({"name": spec.subset} if spec.subset else {})
        return InputHFReader(spec.source, dataset_options=options, streaming=True, **common)
    if spec.format == "hf":
        return InputHFReader(str(spec.path), load_from_disk=True, **common)
    files: dict[str, Any] = {"glob": spec.input_glob, "data_only": spec.glob is None}
    if spec.format == "parquet":
        return InputParquetReader(str(spec.path), **files, **common)
    return InputJsonlReader(str(spec.path), **files, **common)
