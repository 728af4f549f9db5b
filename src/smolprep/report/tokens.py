"""Token counters, and documents, bytes and tokens of a dataset's final output (`data/<dataset>/*.jsonl.gz`)
read from disk (`scan_output`: only for runs whose writers did not record their bytes in the stats; see
`smolprep.report.output` for the way a report reads a stage now).

Tokens are counted with a real tokenizer when the stage config names one (a local `tokenizer.json`,
loaded with the `tokenizers` library; nothing is downloaded), else estimated as UTF-8 bytes / 4 and
labelled so. With a tokenizer, at most `max_tokenized_bytes` of text per dataset are tokenized: above that,
an even stride of documents is tokenized and the count is scaled by bytes (the label says so).

A final file that cannot be read to its end (truncated gzip, garbled line) is damage: `DamagedRunFile`
names it and the completion marker to delete so that its task writes it again.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

from smolprep.state.errors import DamagedRunFile

BYTES_PER_TOKEN_ESTIMATE = 4.0
MAX_TOKENIZED_BYTES = 256 * 2**20  # per dataset
GZIP_RATIO_GUESS = 4.0  # text bytes per compressed byte, only to choose how many documents to tokenize
BATCH = 256


class TokenizerError(Exception):
    """The configured tokenizer cannot be loaded."""


class TokenCounter(Protocol):
    method: str  # "tokenizer" or "estimate"

    def count(self, texts: list[str]) -> int: ...

    def describe(self) -> dict: ...


@dataclass
class TokenizerCounter:
    """Counts with a local tokenizer.json (HF `tokenizers`), without special tokens."""

    path: Path
    method: str = "tokenizer"

    def __post_init__(self) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as err:
            raise TokenizerError(
                f"the `tokenizers` package is not installed ({err}): pip install tokenizers"
            ) from err
        try:
            self._tokenizer = Tokenizer.from_file(str(self.path))
        except Exception as err:  # tokenizers raises a bare Exception on a bad file
            raise TokenizerError(f"cannot load {self.path} as a tokenizer.json: {err}") from err

    def count(self, texts: list[str]) -> int:
        return sum(len(e.ids) for e in self._tokenizer.encode_batch(texts, add_special_tokens=False))

    def describe(self) -> dict:
        return {
            "method": "tokenizer",
            "tokenizer": str(self.path),
            "sha256": hashlib.sha256(self.path.read_bytes()).hexdigest(),
            "vocab_size": self._tokenizer.get_vocab_size(),
            "label": f"counted with the tokenizer {self.path.name} (no special tokens)",
        }


@dataclass
class ByteEstimate:
    """No tokenizer configured: tokens ≈ UTF-8 bytes / 4 (a rule of thumb for BPE vocabularies)."""

    bytes_per_token: float = BYTES_PER_TOKEN_ESTIMATE
    method: str = "estimate"

    def count(self, texts: list[str]) -> int:
        return self.from_bytes(sum(len(t.encode("utf-8")) for t in texts))

    def from_bytes(self, size: int) -> int:
        return round(size / self.bytes_per_token)

    def describe(self) -> dict:
        return {
            "method": "estimate",
            "bytes_per_token": self.bytes_per_token,
            "label": f"ESTIMATE: UTF-8 bytes / {self.bytes_per_token:g} (no `tokenizer:` in the stage config)",
        }


def make_counter(tokenizer: str | None, config_file: str | None = None) -> TokenCounter:
    """The stage's counter: its `tokenizer` (relative paths are relative to the config file) or the estimate."""
    if tokenizer is None:
        return ByteEstimate()
    path = Path(tokenizer).expanduser()
    if not path.is_absolute() and config_file:
        path = Path(config_file).parent / path
    if not path.is_file():
        raise TokenizerError(
            f"tokenizer {tokenizer!r}: no file {path} (a local tokenizer.json; nothing is downloaded)"
        )
    return TokenizerCounter(path.resolve())


@dataclass(frozen=True)
class OutputScan:
    files: int
    docs: int
    text_bytes: int  # UTF-8 bytes of the `text` fields
    disk_bytes: int  # size of the .jsonl.gz files
    tokens: int
    tokenized_bytes: int  # bytes of the documents actually counted (= text_bytes when exact)
    method: str  # "tokenizer", "tokenized" (the tokenize steps' own count) or "estimate"

    @property
    def label(self) -> str:
        if self.method in ("estimate", "tokenized"):
            return {"estimate": "estimate", "tokenized": "exact (tokenized)"}[self.method]
        if self.tokenized_bytes >= self.text_bytes:
            return "exact"
        share = 100 * self.tokenized_bytes / self.text_bytes if self.text_bytes else 0.0
        return f"extrapolated from {share:.1f}% of the text"


def output_files(folder: Path) -> list[Path]:
    """The final output files of a dataset (never a writer's `_tmp/`)."""
    return sorted(folder.glob("*.jsonl.gz")) if folder.is_dir() else []


def _texts(file: Path) -> Iterator[str]:
    with gzip.open(file, "rb") as f:
        for line in f:
            if line.strip():
                text = orjson.loads(line)["text"]
                if not isinstance(text, str):
                    raise TypeError(f"text is {type(text).__name__}, not a string")
                yield text


def read_texts(file: Path, markers: Path | None) -> Iterator[str]:
    """`_texts`, with a damaged file named (`markers`: the completions/ folder of the step that wrote it)."""
    try:
        yield from _texts(file)
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as err:
        rank = file.name.split(".", 1)[0]
        marker = markers / rank if markers else f"completions/{rank} of the step that wrote it"
        raise DamagedRunFile(
            file,
            f"unreadable final file ({type(err).__name__}: {err})",
            f"Delete it and its task's completion marker {marker}, then relaunch the same command: the task "
            "writes it again",
        ) from err


def count_in_batches(texts: Iterable[str], counter: TokenCounter) -> int:
    """Tokens of all `texts`, given to the counter `BATCH` at a time."""
    tokens = 0
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= BATCH:
            tokens += counter.count(batch)
            batch = []
    return tokens + (counter.count(batch) if batch else 0)


def scan_output(
    folder: Path,
    counter: TokenCounter,
    max_tokenized_bytes: int = MAX_TOKENIZED_BYTES,
    markers: Path | None = None,
) -> OutputScan:
    """Read every output document once: count documents and bytes; tokenize all of them, or an even stride
    when there is more text than `max_tokenized_bytes` (then tokens are scaled by bytes). `markers`: the
    completions/ folder of the step that wrote `folder`, named when a file is damaged."""
    files = output_files(folder)
    disk = sum(f.stat().st_size for f in files)
    tokenize = not isinstance(counter, ByteEstimate)
    rate = 1.0
    if tokenize and disk * GZIP_RATIO_GUESS > max_tokenized_bytes:
        rate = max_tokenized_bytes / (disk * GZIP_RATIO_GUESS)
    docs = text_bytes = counted_bytes = 0

    def chosen() -> Iterator[str]:  # every document is counted; an even stride of them is tokenized
        nonlocal docs, text_bytes, counted_bytes
        for file in files:
            for text in read_texts(file, markers):
                size = len(text.encode("utf-8"))
                if tokenize and int((docs + 1) * rate) > int(docs * rate):
                    counted_bytes += size
                    yield text
                docs += 1
                text_bytes += size

    tokens = count_in_batches(chosen(), counter)
    if not tokenize:
        assert isinstance(counter, ByteEstimate)
        tokens, counted_bytes = counter.from_bytes(text_bytes), text_bytes
    elif 0 < counted_bytes < text_bytes:
        tokens = round(tokens * text_bytes / counted_bytes)
    return OutputScan(len(files), docs, text_bytes, disk, tokens, counted_bytes, counter.method)
