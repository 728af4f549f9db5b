"""Nothing half-written: the atomic writer and its checksums; a filter that raises drops the document, up
to a limit."""

from __future__ import annotations

import gzip
import hashlib
import json

import dill
import pytest
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from smolprep.pipelines.guards import FilterGuard, TooManyFilterErrors
from smolprep.pipelines.writers import AtomicJsonlWriter
from smolprep.stats_keys import FILE_BYTES, TEXT_BYTES


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_output_appears_only_when_the_task_finished(tmp_path):
    writer = AtomicJsonlWriter(str(tmp_path))
    docs = iter([Document(text="one", id="1"), Document(text="two", id="2")])
    stream = writer.run(docs, rank=3)
    next(stream)
    assert _files(tmp_path) == ["_tmp/00003.jsonl.gz"]  # while writing: only the temporary file
    list(stream)
    assert _files(tmp_path) == ["00003.jsonl.gz", "00003.jsonl.gz.sha256"]
    # the shared _tmp/ stays: removing it could land between another task's creating it and opening its file
    assert (tmp_path / "_tmp").is_dir()
    with gzip.open(tmp_path / "00003.jsonl.gz", "rt") as f:
        assert [json.loads(line)["text"] for line in f] == ["one", "two"]


def test_an_interrupted_task_leaves_no_output_and_its_rerun_replaces_the_leftover(tmp_path):
    def crashing():
        yield Document(text="partial", id="1")
        raise RuntimeError("node died")

    with pytest.raises(RuntimeError):
        list(AtomicJsonlWriter(str(tmp_path)).run(crashing(), rank=0))
    assert _files(tmp_path) == []
    (tmp_path / "_tmp").mkdir(exist_ok=True)
    (tmp_path / "_tmp" / "00000.jsonl.gz").write_bytes(b"\x1f\x8b truncated by kill -9")
    (tmp_path / "_tmp" / "00000.jsonl.gz.sha256").write_text("left by a kill between writing and moving\n")
    list(AtomicJsonlWriter(str(tmp_path)).run(iter([Document(text="whole", id="1")]), rank=0))
    assert _files(tmp_path) == ["00000.jsonl.gz", "00000.jsonl.gz.sha256"]


def _write(folder, texts, rank=0):
    docs = iter([Document(text=t, id=str(i)) for i, t in enumerate(texts)])
    list(AtomicJsonlWriter(str(folder)).run(docs, rank=rank))


def test_the_writer_counts_the_text_bytes_and_the_file_size_it_wrote(tmp_path):
    """The report reads these from the stats instead of re-reading every final file."""
    texts = ["one", "Tiếng Việt có dấu", "x" * 5000, "二つ"]
    writer = AtomicJsonlWriter(str(tmp_path))
    list(writer.run(iter([Document(text=t, id=str(i)) for i, t in enumerate(texts)]), rank=2))
    stats = writer.stats.to_dict()["stats"]
    assert stats[TEXT_BYTES]["total"] == sum(len(t.encode("utf-8")) for t in texts)
    assert stats[FILE_BYTES]["total"] == (tmp_path / "00002.jsonl.gz").stat().st_size
    assert stats["total"] == len(texts)


def test_each_output_file_has_a_sha256sum_checksum_that_globs_leave_out(tmp_path):
    _write(tmp_path, ["one", "two"], rank=1)
    data = (tmp_path / "00001.jsonl.gz").read_bytes()
    sidecar = (tmp_path / "00001.jsonl.gz.sha256").read_text()
    assert sidecar == f"{hashlib.sha256(data).hexdigest()}  00001.jsonl.gz\n"  # what `sha256sum -c` reads
    assert [p.name for p in tmp_path.glob("*.jsonl.gz")] == ["00001.jsonl.gz"]


def test_the_checksum_is_in_place_before_the_data_file(tmp_path):
    writer = AtomicJsonlWriter(str(tmp_path))
    moves: list[str] = []
    real_mv = writer.output_folder.mv

    def mv_then_die(source, target):
        moves.append(target)
        if target.endswith(".jsonl.gz"):
            raise KeyboardInterrupt("killed between the two moves")
        real_mv(source, target)

    writer.output_folder.mv = mv_then_die
    with pytest.raises(KeyboardInterrupt):
        list(writer.run(iter([Document(text="one", id="1")]), rank=0))
    assert moves == ["00000.jsonl.gz.sha256", "00000.jsonl.gz"]
    assert [p for p in _files(tmp_path) if not p.startswith("_tmp/")] == ["00000.jsonl.gz.sha256"]


def test_the_same_documents_give_the_same_bytes(tmp_path):
    _write(tmp_path / "a", ["one", "two"])
    _write(tmp_path / "b", ["one", "two"])
    first = (tmp_path / "a" / "00000.jsonl.gz").read_bytes()
    assert first == (tmp_path / "b" / "00000.jsonl.gz").read_bytes()
    assert first[4:8] == b"\0\0\0\0"  # no modification time in the gzip header


class _Fragile(BaseFilter):
    name = "fragile"

    def filter(self, doc):
        if "bad" in doc.text:
            raise ValueError("cannot parse")
        return True


def test_a_document_that_makes_a_filter_raise_is_dropped_and_counted():
    guard = FilterGuard(_Fragile(), max_errors=5)
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(["ok", "bad one", "fine"])]
    kept = list(guard.run(iter(docs)))
    assert [d.id for d in kept] == ["0", "2"]
    assert guard.stats.stats["dropped_filter_error"].total == 1 and guard.name == "fragile"
    assert guard.stats.name.endswith(": fragile")  # the stats block is named after the guarded filter


def test_too_many_filter_errors_fail_the_task_loudly():
    guard = FilterGuard(_Fragile(), max_errors=2)
    docs = [Document(text="bad", id=str(i)) for i in range(3)]
    with pytest.raises(TooManyFilterErrors, match="3 documents made fragile raise"):
        list(guard.run(iter(docs)))


def test_guard_pickles():
    guard = dill.loads(dill.dumps(FilterGuard(_Fragile())))
    assert guard.filter(Document(text="bad", id="x")) == (False, "filter_error")


class _NoTokenizer(BaseFilter):
    name = "needs a package"

    def filter(self, doc):
        raise ImportError("Japanese support requires SudachiPy and SudachiDict-core")


def test_a_missing_package_fails_the_task_at_the_first_document():
    """A package that cannot be imported is the machine's problem, not the document's: no document is
    dropped as filter_error, the task fails at once with the import error."""
    guard = FilterGuard(_NoTokenizer(), max_errors=100)
    docs = [Document(text=f"doc {i}", id=str(i)) for i in range(5)]
    with pytest.raises(ImportError, match="SudachiPy"):
        list(guard.run(iter(docs)))
    assert guard.stats.stats["dropped_filter_error"].total == 0
