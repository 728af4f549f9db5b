"""Which files of an input folder are data: the default globs match `*.jsonl*`, which also matches side
files such as `part.jsonl.gz.md5` or `part.jsonl.sha256`. A file is read when its name ends with the
format's extension, optionally followed by one compression suffix datatrove reads."""

from __future__ import annotations

COMPRESSIONS = ("", ".gz", ".zst", ".bz2", ".xz", ".lz4")
EXTENSIONS = {"jsonl": (".jsonl", ".json"), "parquet": (".parquet",)}


def is_input_file(name: str, fmt: str) -> bool:
    """True for a data file of format `fmt` (jsonl, parquet); any name for other formats."""
    extensions = EXTENSIONS.get(fmt)
    if extensions is None:
        return True
    lower = name.lower()
    return any(lower.endswith(ext + comp) for ext in extensions for comp in COMPRESSIONS)
