"""SHA-256 checksums of the files one step writes for the next: the writer hashes the compressed bytes as it
writes them and leaves `<name>.sha256` (`sha256sum` format) next to `<name>`; the reader of the next step
hashes the bytes as it reads them and compares.

Output files are gzip with a zero modification time in their header, so the same documents give the same
bytes (and the same checksum) in every run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
from typing import IO, Any

from datatrove.io import OutputFileManager

SIDECAR_SUFFIX = ".sha256"


def sidecar_name(name: str) -> str:
    """`00001.jsonl.gz` -> `00001.jsonl.gz.sha256` (never matched by a `*.jsonl.gz` glob)."""
    return name + SIDECAR_SUFFIX


def sidecar_text(hexdigest: str, name: str) -> str:
    """One `sha256sum` line: `<hex>  <basename>`."""
    return f"{hexdigest}  {posixpath.basename(name)}\n"


def parse_sidecar(text: str, name: str) -> str | None:
    """The digest recorded for `name`, or None when the text is not one well-formed line naming it."""
    parts = text.strip().split("  ", 1)
    if len(parts) != 2 or parts[1] != posixpath.basename(name) or len(parts[0]) != 64:
        return None
    digest = parts[0].lower()
    return digest if all(c in "0123456789abcdef" for c in digest) else None


class HashingReader:
    """A binary file wrapper that hashes every byte read through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data

    def seek(self, offset: int, /) -> int:
        raise io.UnsupportedOperation("a hashed stream is read forward only")

    def drain(self) -> None:
        """Read (and hash) what the decompressor left unread."""
        while self.read(1 << 20):
            pass


class HashingWriter:
    """A binary file wrapper that hashes every byte written through it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: Any, /) -> int:
        self.sha256.update(data)
        self.size += memoryview(data).nbytes
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


class ChecksummedGzip:
    """A gzip output file (mtime 0) whose compressed bytes are hashed while written."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.hashing = HashingWriter(raw)
        self.gzip = gzip.GzipFile(fileobj=self.hashing, mode="wb", mtime=0)

    def write(self, data: bytes) -> int:
        return self.gzip.write(data)

    def close(self) -> None:
        if not self.gzip.closed:
            self.gzip.close()
            self.raw.close()

    def hexdigest(self) -> str:
        return self.hashing.sha256.hexdigest()

    def size(self) -> int:
        """Compressed bytes written so far (the whole file once closed)."""
        return self.hashing.size


class ChecksummedGzipFiles(OutputFileManager):
    """datatrove's output file manager, opening every file as `ChecksummedGzip`."""

    def __init__(self, fs: Any):
        super().__init__(fs, mode="wb", compression=None)

    def get_file(self, filename: str) -> ChecksummedGzip:
        if filename not in self._output_files:
            self._output_files[filename] = ChecksummedGzip(self.fs.open(filename, mode="wb"))
        return self._output_files[filename]
