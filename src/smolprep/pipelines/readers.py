"""Readers: a dataset spec becomes a datatrove reader; corrupt input lines are skipped and counted."""

from __future__ import annotations

from typing import Any

import orjson
from datatrove.pipeline.readers import HuggingFaceDatasetReader, JsonlReader, ParquetReader
from datatrove.pipeline.readers.base import BaseReader
from loguru import logger

from smolprep.config.stage import DatasetSpec, StageConfig


class CountingJsonlReader(JsonlReader):
    """JsonlReader that survives bad lines: each is skipped, counted in the stats and logged with file:line.

    datatrove's reader stops reading a file at the first invalid UTF-8 byte; this one decodes line by line.
    Stats keys: `corrupt_utf8`, `corrupt_json`, `missing_text` (a line without the text field or with an
    empty one).
    """

    name = "📖 JSONL (counting corrupt lines)"

    def read_file(self, filepath: str):
        with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
            for line_no, raw in enumerate(f):
                with self.track_time():
                    document = self._parse_line(raw, filepath, line_no)
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
        if not isinstance(data.get(self.text_key), str) or not data[self.text_key]:
            return self._skip("missing_text", filepath, line_no, f"no non-empty {self.text_key!r} field")
        return self.get_document_from_dict(data, filepath, line_no)

    def _skip(self, reason: str, filepath: str, line_no: int, err: object) -> None:
        self.stat_update(reason)
        logger.warning(f"skipped {filepath}:{line_no + 1} ({reason}): {err}")
        return None


class IntermediateJsonlReader(CountingJsonlReader):
    """Reads a previous step's output; an empty folder (every document removed) is not an error."""

    name = "📖 JSONL (previous step)"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        if not self.data_folder.list_files(recursive=self.recursive, glob_pattern=self.glob_pattern):
            logger.info(f"no input files in {self.data_folder.path}: the previous step kept no documents")
            return
        yield from super().run(None, rank, world_size)


def dataset_metadata(spec: DatasetSpec) -> dict[str, Any]:
    """Metadata every output record of this dataset carries."""
    return {"source": spec.origin, "config": spec.subset, "weight": spec.weight, "dataset": spec.name}


def input_reader(stage: StageConfig, spec: DatasetSpec) -> BaseReader:
    """The reader of a dataset's original input (first step)."""
    limit = spec.max_docs if spec.max_docs is not None else -1
    common: dict[str, Any] = {
        "text_key": spec.text_key,
        "id_key": spec.id_key,
        "default_metadata": dataset_metadata(spec),
        "limit": limit,
    }
    if spec.source is not None:
        options = {"split": spec.split} | ({"name": spec.subset} if spec.subset else {})
        return HuggingFaceDatasetReader(spec.source, dataset_options=options, streaming=True, **common)
    if spec.format == "hf":
        return HuggingFaceDatasetReader(str(spec.path), load_from_disk=True, **common)
    if spec.format == "parquet":
        return ParquetReader(str(spec.path), glob_pattern=spec.input_glob, recursive=True, **common)
    return CountingJsonlReader(str(spec.path), glob_pattern=spec.input_glob, recursive=True, **common)


def intermediate_reader(folder: str) -> BaseReader:
    """Reader of our own JSONL.gz between steps (records keep text, id and metadata)."""
    return IntermediateJsonlReader(folder, glob_pattern="*.jsonl.gz", recursive=False, add_file_path=False)
