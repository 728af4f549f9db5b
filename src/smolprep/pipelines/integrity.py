"""Input files are used whole or not at all: a compressed or parquet file is decoded to its end once before
any of its documents is read, so a truncated or corrupt file is skipped as a whole instead of giving its
first documents and then failing the task.

The check costs one more decompression of each compressed file (gzip, bz2, xz, zstd, lz4) and one more
decoding of each parquet file; plain JSONL is only opened (its damage is per line, see the readers). A zstd
frame that ends early raises nothing in the zstandard stream reader, so frames are checked one by one.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Callable
from typing import IO, Any

CHUNK = 1 << 20
_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".lz4": "lz4"}


class TruncatedStream(EOFError):
    """A compressed stream ended inside a frame."""


def compression_of(path: str) -> str | None:
    """gzip, bz2, xz, zstd, lz4 from the file name; None for an uncompressed file."""
    lower = path.lower()
    return next((kind for suffix, kind in _SUFFIXES.items() if lower.endswith(suffix)), None)


def open_decompressed(raw: IO[bytes], kind: str | None) -> Any:
    """A buffered binary stream of the decompressed bytes (iterable by line)."""
    if kind is None:
        return raw
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(raw)
    if kind == "xz":
        return lzma.LZMAFile(raw)
    if kind == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(reader)
    import lz4.frame

    return lz4.frame.LZ4FrameFile(raw)


def error_text(err: BaseException) -> str:
    """'EOFError: Compressed file ended ...' on one line; zlib's `error` is named `zlib.error`."""
    name = type(err).__name__
    name = f"{type(err).__module__}.{name}" if name == "error" else name
    return f"{name}: {' '.join(str(err).split()) or 'no details'}"


def describe(kind: str | None, err: BaseException) -> str:
    """A one-line cause: 'truncated gzip (EOFError: ...)', 'corrupt zstd (ZstdError: ...)'."""
    what = "truncated" if isinstance(err, EOFError) else "corrupt" if kind else "unreadable"
    return f"{what} {kind or 'file'} ({error_text(err)})"


def compressed_damage(open_raw: Callable[[], IO[bytes]], path: str) -> str | None:
    """Why the file cannot be read whole (decompressed to its end), or None when it can."""
    kind = compression_of(path)
    try:
        with open_raw() as raw:
            if kind == "zstd":
                _read_zstd_frames(raw)
            elif kind is not None:
                _read_to_end(open_decompressed(raw, kind))
    except Exception as err:  # any failure to decode makes the whole file unusable; its cause is named
        return describe(kind, err)
    return None


def parquet_damage(open_raw: Callable[[], IO[bytes]], columns: list[str] | None) -> str | None:
    """Why the parquet file cannot be decoded whole, or None when it can."""
    import pyarrow.parquet as pq

    try:
        with open_raw() as raw, pq.ParquetFile(raw) as parquet:
            for _ in parquet.iter_batches(columns=columns):
                pass
    except Exception as err:  # a bad footer, page or column: the whole file is unusable; its cause is named
        return f"unreadable parquet ({error_text(err)})"
    return None


def _read_to_end(stream: IO[bytes]) -> None:
    with stream:
        while stream.read(CHUNK):
            pass


def _read_zstd_frames(raw: IO[bytes]) -> None:
    import zstandard

    context = zstandard.ZstdDecompressor()
    frame: Any = context.decompressobj()
    inside = False  # bytes of the current frame were fed and it has not ended
    while chunk := raw.read(CHUNK):
        while chunk:
            frame.decompress(chunk)
            inside = not frame.eof
            chunk = frame.unused_data if frame.eof else b""
            if frame.eof:
                frame = context.decompressobj()
    if inside:
        raise TruncatedStream("the last zstd frame ends before its end marker")
