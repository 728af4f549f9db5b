"""A JSONL writer that never leaves a half-written output file where a reader would look, and leaves a
checksum next to each file it writes.

Each task writes `<folder>/_tmp/<rank>.jsonl.gz` and moves it to `<folder>/<rank>.jsonl.gz` only when its
writing finished without an error. A killed task (scancel, node failure, kill -9, time limit) leaves at
most a file under `_tmp/`, which no step and no `*.jsonl.gz` glob of the folder reads; its rerun writes the
same documents again and replaces it.

Before the data file is moved into place, its checksum `<rank>.jsonl.gz.sha256` (`sha256sum` format, the
SHA-256 of the compressed bytes, computed while they were written) is moved next to where it goes. A kill
between the two moves leaves a checksum without its data file, never a data file without its checksum; the
task is then not marked complete and its rerun writes both again. The next step's reader
(`IntermediateJsonlReader`) refuses a file whose bytes do not match.

The writer also counts what it wrote into its task's stats (`stats_keys.TEXT_BYTES`: UTF-8 bytes of the
texts; `stats_keys.FILE_BYTES`: the compressed size of the published file), so the stage report learns the
size of every final file from the stats and only checks each file's size on disk.

The `_tmp/` folder is shared by the tasks of a step and is never removed by a task: one task's removal of
an (empty) `_tmp/` could land between another task's creating it and opening its file there.
"""

from __future__ import annotations

import posixpath

from datatrove.pipeline.writers import JsonlWriter
from loguru import logger

from smolprep.pipelines.checksums import ChecksummedGzipFiles, sidecar_name, sidecar_text
from smolprep.stats_keys import FILE_BYTES, TEXT_BYTES

TMP_DIR = "_tmp"
OUTPUT_NAME = "${rank}.jsonl.gz"


class AtomicJsonlWriter(JsonlWriter):
    name = "🐿 Jsonl (atomic)"

    def __init__(self, output_folder: str, output_filename: str = OUTPUT_NAME):
        super().__init__(output_folder, output_filename=f"{TMP_DIR}/{output_filename}", compression="gzip")
        self.output_mg = ChecksummedGzipFiles(self.output_folder)
        self._text_bytes = 0

    def _temp_name(self, rank: int) -> str:
        return self.output_filename.substitute(rank=str(rank).zfill(5))

    def run(self, data, rank: int = 0, world_size: int = 1):
        for stale in (self._temp_name(rank), sidecar_name(self._temp_name(rank))):
            if self.output_folder.exists(stale):
                logger.info(f"removing {stale} left by an interrupted earlier run of this task")
                self.output_folder.rm(stale)
        self._text_bytes = 0
        yield from super().run(data, rank, world_size)

    def write(self, document, rank: int = 0, **kwargs):
        super().write(document, rank, **kwargs)
        text = document.text
        self._text_bytes += len(text) if text.isascii() else len(text.encode("utf-8"))

    def __exit__(self, exc_type, exc_val, exc_tb):
        written = dict(self.output_mg.get_open_files())
        self.close()
        for name, handle in written.items():
            if exc_type is None:
                self._publish(name, handle.hexdigest())
            elif self.output_folder.exists(name):
                self.output_folder.rm(name)
        if exc_type is None:
            self.stat_update(TEXT_BYTES, value=self._text_bytes, unit="task")
            self.stat_update(FILE_BYTES, value=sum(handle.size() for handle in written.values()), unit="task")

    def _publish(self, temp: str, hexdigest: str) -> None:
        """Move the checksum, then the data file, from `_tmp/` to their final names."""
        final = posixpath.join(posixpath.dirname(posixpath.dirname(temp)), posixpath.basename(temp))
        with self.output_folder.open(sidecar_name(temp), "w") as f:
            f.write(sidecar_text(hexdigest, final))
        self.output_folder.mv(sidecar_name(temp), sidecar_name(final))
        self.output_folder.mv(temp, final)
