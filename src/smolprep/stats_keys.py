"""Names of the counters our readers add to datatrove's per-task stats, shared by the readers that write
them and the summary and manifest that read them.

Skipped input lines are counted under `CORRUPT_LINE_KEYS`. A skipped input *file* (truncated gzip, random
bytes, plain JSONL named `.gz`, an unreadable parquet file) is counted under `CORRUPT_FILES` and named by a
counter of its own, `skipped_file_key(path, reason)`, whose value is 1 per task that skipped it: stats
files hold only counters, so the counter's name carries the file and the reason.

The writer (`AtomicJsonlWriter`) adds what it wrote: `TEXT_BYTES` (UTF-8 bytes of the `text` fields) and
`FILE_BYTES` (the compressed size of its output file), so that the report reads them from the stats instead
of re-reading every final file.
"""

from __future__ import annotations

CORRUPT_LINE_KEYS = ("corrupt_utf8", "corrupt_json", "missing_text")
CORRUPT_FILES = "corrupt_files"
FILES_READ = "files_read"  # input files a task opened (corrupt ones included)
TEXT_BYTES = "text_bytes"  # UTF-8 bytes of the texts a writer wrote
FILE_BYTES = "file_bytes"  # bytes of the (compressed) file a writer published
_SKIPPED_FILE = "skipped_file: "
_SEPARATOR = " :: "


def skipped_file_key(path: str, reason: str) -> str:
    """The counter that names one skipped file: 'skipped_file: <path> :: <reason>' (one line)."""
    reason = " ".join(str(reason).split()) or "unreadable"
    return f"{_SKIPPED_FILE}{path}{_SEPARATOR}{reason}"


def parse_skipped_file_key(key: str) -> tuple[str, str] | None:
    """(path, reason) of a `skipped_file_key`, None for any other counter."""
    if not key.startswith(_SKIPPED_FILE) or _SEPARATOR not in key:
        return None
    path, reason = key.removeprefix(_SKIPPED_FILE).split(_SEPARATOR, 1)
    return path, reason
