"""The reader of our own files between steps (`filtered/<dataset>/`), which never skips a document.

MinHash refers to documents by their index in the task's input: the signatures step records each
document's index, and minhash-filter removes documents by index while it reads the same files again. A
skipped line would shift every later index, and the filter would remove the wrong documents. These files are
ours, so anything unexpected in them is damage, and damage fails the task (`DamagedRunFile`, naming the file
and what to do): a missing or unreadable checksum file, bytes that do not match the checksum the writer
recorded, a gzip error, a line that is not a document, a checksum file whose data file is gone.

The bytes are hashed while they are read, in the same pass. The documents of a damaged file may already have
gone down the pipeline when the mismatch shows at its end, but the task then fails before it is marked
complete, and nothing it wrote is used: the signatures step rewrites its signature files from the start when
it runs again, the buckets step runs only once every signatures task completed, and minhash-filter's
writer (`AtomicJsonlWriter`) discards its temporary file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import orjson
from datatrove.data import Document
from datatrove.pipeline.readers import JsonlReader
from loguru import logger

from smolprep.pipelines.checksums import SIDECAR_SUFFIX, HashingReader, parse_sidecar, sidecar_name
from smolprep.pipelines.integrity import error_text
from smolprep.state.errors import DamagedRunFile

DATA_GLOB = "*.jsonl.gz"


class DamagedIntermediateFile(DamagedRunFile):
    """A damaged file between steps (a previous step's output)."""


class IntermediateJsonlReader(JsonlReader):
    """Reads a previous step's output, verified against its checksums; an empty folder (every document
    removed) is not an error."""

    name = "📖 JSONL (previous step)"

    def __init__(self, folder: str, repair: str):
        super().__init__(folder, glob_pattern=DATA_GLOB, recursive=False, add_file_path=False)
        self.repair = repair  # what the user does about a damaged file (names the paths to remove)

    def stored_files(self) -> list[str]:
        """Data files and the data files that checksum files name (sorted): a deleted file keeps its place
        among the tasks, and its task fails instead of silently reading the next one."""
        data = self.data_folder.list_files(recursive=False, glob_pattern=DATA_GLOB)
        sums = self.data_folder.list_files(recursive=False, glob_pattern=sidecar_name(DATA_GLOB))
        return sorted(set(data) | {name.removesuffix(SIDECAR_SUFFIX) for name in sums})

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        if data:
            yield from data
        files = self.stored_files()
        if not files:
            logger.info(f"no input files in {self.data_folder.path}: the previous step kept no documents")
            return
        for document in self.read_files_shard(files[rank::world_size]):
            self.update_doc_stats(document)
            yield document

    def read_file(self, filepath: str) -> Iterator[Document]:
        expected = self._recorded_digest(filepath)
        with self.data_folder.open(filepath, "rb") as raw:
            hashing = HashingReader(raw)
            yield from self._documents(hashing, filepath)
            hashing.drain()
        actual = hashing.sha256.hexdigest()
        if actual != expected:
            raise self._damaged(
                filepath,
                f"its SHA-256 is {actual}, not {expected} as recorded in {sidecar_name(filepath)} when it was "
                "written: it was changed after the step that wrote it finished",
            )

    def _documents(self, stream: HashingReader, filepath: str) -> Iterator[Document]:
        line_no = 0
        try:
            with gzip.GzipFile(fileobj=stream, mode="rb") as f:
                for line_no, line in enumerate(f):
                    with self.track_time():
                        document = self._document(line, filepath, line_no)
                    yield document
        except (OSError, EOFError, zlib.error) as err:
            raise self._damaged(filepath, f"it is not intact gzip ({error_text(err)})") from err

    def _document(self, line: bytes, filepath: str, line_no: int) -> Document:
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as err:
            raise self._damaged(filepath, f"line {line_no + 1} is not JSON ({err})") from err
        document = self.get_document_from_dict(data, filepath, line_no) if isinstance(data, dict) else None
        if document is None:
            raise self._damaged(filepath, f"line {line_no + 1} is not a document with text")
        return document

    def _recorded_digest(self, filepath: str) -> str:
        sums = sidecar_name(filepath)
        if not self.data_folder.exists(filepath):
            raise self._damaged(filepath, f"the file is missing, but its checksum file {sums} is there")
        if not self.data_folder.exists(sums):
            raise self._damaged(filepath, f"its checksum file {sums} is missing")
        with self.data_folder.open(sums, "rb") as f:
            text = f.read(4096).decode("utf-8", errors="replace")
        digest = parse_sidecar(text, filepath)
        if digest is None:
            raise self._damaged(filepath, f"its checksum file {sums} is not one `<sha256>  <name>` line")
        return digest

    def _damaged(self, filepath: str, problem: str) -> DamagedIntermediateFile:
        path = self.data_folder.resolve_paths(filepath)
        logger.error(f"{path}: {problem}")
        return DamagedIntermediateFile(path, problem, self.repair)


def intermediate_reader(folder: str, repair: str) -> IntermediateJsonlReader:
    """Reader of our own JSONL.gz between steps (records keep text, id and metadata)."""
    return IntermediateJsonlReader(folder, repair)
