"""A JSONL writer that never leaves a half-written output file where a reader would look.

Each task writes `<folder>/_tmp/<rank>.jsonl.gz` and moves it to `<folder>/<rank>.jsonl.gz` only when its
writing finished without an error. A killed task (scancel, node failure, kill -9, time limit) leaves at
most a file under `_tmp/`, which no step and no `*.jsonl.gz` glob of the folder reads; its rerun writes the
same documents again and replaces it.

The `_tmp/` folder is shared by the tasks of a step and is never removed by a task: one task's removal of
an (empty) `_tmp/` could land between another task's creating it and opening its file there.
"""

from __future__ import annotations

import posixpath

from datatrove.pipeline.writers import JsonlWriter
from loguru import logger

TMP_DIR = "_tmp"
OUTPUT_NAME = "${rank}.jsonl.gz"


class AtomicJsonlWriter(JsonlWriter):
    name = "🐿 Jsonl (atomic)"

    def __init__(self, output_folder: str, output_filename: str = OUTPUT_NAME, compression: str = "gzip"):
        super().__init__(
            output_folder, output_filename=f"{TMP_DIR}/{output_filename}", compression=compression
        )

    def _temp_name(self, rank: int) -> str:
        return self.output_filename.substitute(rank=str(rank).zfill(5))

    def run(self, data, rank: int = 0, world_size: int = 1):
        stale = self._temp_name(rank)
        if self.output_folder.exists(stale):
            logger.info(f"removing {stale} left by an interrupted earlier run of this task")
            self.output_folder.rm(stale)
        yield from super().run(data, rank, world_size)

    def __exit__(self, exc_type, exc_val, exc_tb):
        written = list(self.output_mg.get_open_files())
        self.close()
        for name in written:
            if exc_type is None:
                final = posixpath.join(posixpath.dirname(posixpath.dirname(name)), posixpath.basename(name))
                self.output_folder.mv(name, final)
            elif self.output_folder.exists(name):
                self.output_folder.rm(name)
