"""Readers: our metadata wins, ids are stable, side files are not data, input files are used whole or not at
all, and our own files between steps are verified against their checksums."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import pickle
import subprocess
import sys
from pathlib import Path

import dill
import pytest
import zstandard
from datatrove.data import Document

from smolprep.config.stage import load_stage_config
from smolprep.pipelines.readers import input_reader
from smolprep.pipelines.writers import AtomicJsonlWriter
from smolprep.state.errors import DamagedRunFile
from smolprep.stats_keys import CORRUPT_FILES, FILES_READ, parse_skipped_file_key
from tests.conftest import run_stage, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def _reader(tmp_path: Path, options: str = "", dataset: str = "docs"):
    config = tmp_path / "stage.yaml"
    config.write_text(
        f"name: readers\ndatasets:\n  - {{name: {dataset}, path: {dataset}, kind: code, tasks: 1{options}}}\n"
    )
    stage = load_stage_config(config)
    return input_reader(stage, stage.datasets[0])


def _read(reader, rank: int = 0, world_size: int = 1) -> list[Document]:
    return list(reader.run(None, rank, world_size))


def _counter(reader, key: str) -> int:
    stat = reader.stats.stats.get(key)
    return int(stat.total) if stat is not None else 0


def _records(n: int, prefix: str) -> list[dict]:
    return [{"id": f"{prefix}-{i}", "text": f"{prefix} document number {i} " * 20} for i in range(n)]


# --- our metadata wins -------------------------------------------------------------------------------------


def test_our_metadata_wins_and_the_inputs_own_fields_are_kept_as_input_fields(tmp_path):
    write_jsonl(
        tmp_path / "docs" / "part.jsonl",
        [
            {
                "id": "d1",
                "text": "a Dolma-style record",
                "source": "common-crawl",
                "weight": 7,
                "metadata": {"dataset": "theirs", "config": "cc-2024", "language": "fr", "url": "http://x"},
            },
            {"id": "d2", "text": "no fields of ours", "lang_score": 0.5},
        ],
    )
    first, second = _read(_reader(tmp_path))
    ours = {"source": str(tmp_path / "docs"), "config": None, "weight": 1.0, "dataset": "docs"}
    assert {k: first.metadata[k] for k in ours} == ours
    assert first.metadata["input_source"] == "common-crawl" and first.metadata["input_weight"] == 7
    assert (first.metadata["input_dataset"], first.metadata["input_config"]) == ("theirs", "cc-2024")
    assert first.metadata["input_language"] == "fr" and "language" not in first.metadata  # code: none of ours
    assert first.metadata["url"] == "http://x"
    assert not any(k.startswith("input_") for k in second.metadata) and second.metadata["lang_score"] == 0.5


def test_a_saved_hugging_face_dataset_gets_our_metadata_too(tmp_path):
    from datasets import Dataset

    rows = [{"id": None, "text": "a row", "source": "s2orc", "dataset": "theirs"}]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "docs"))
    (document,) = _read(_reader(tmp_path, ", format: hf"))
    assert (document.metadata["source"], document.metadata["dataset"]) == (str(tmp_path / "docs"), "docs")
    assert (document.metadata["input_source"], document.metadata["input_dataset"]) == ("s2orc", "theirs")
    assert document.id == f"{tmp_path / 'docs'}/00000/0"


# --- stable ids --------------------------------------------------------------------------------------------


def test_null_missing_and_empty_ids_become_file_and_line(tmp_path):
    lines = [
        {"id": None, "text": "null id"},
        {"text": "missing id"},
        {"id": "", "text": "empty id"},
        {"id": 0, "text": "zero id"},
        {"id": "kept", "text": "own id"},
    ]
    write_jsonl(tmp_path / "docs" / "sub" / "part.jsonl", lines)
    ids = [d.id for d in _read(_reader(tmp_path))]
    assert ids == ["sub/part.jsonl/0", "sub/part.jsonl/1", "sub/part.jsonl/2", "0", "kept"]


# --- side files and globs ----------------------------------------------------------------------------------


def _with_side_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_jsonl(tmp_path / "docs" / f"{name}.jsonl.gz", _records(3, name))
        (tmp_path / "docs" / f"{name}.jsonl.gz.md5").write_text("d41d8cd98f00b204e9800998ecf8427e  x\n")
        (tmp_path / "docs" / f"{name}.jsonl.sha256").write_text("0" * 64 + "  x\n")


def test_the_default_glob_reads_data_files_only_and_every_task_keeps_its_files(tmp_path):
    _with_side_files(tmp_path)
    reader = _reader(tmp_path)
    assert [d.id for d in _read(reader, 0, 2)] == ["a-0", "a-1", "a-2"]
    assert _counter(reader, "corrupt_json") == 0 and _counter(reader, FILES_READ) == 1
    assert [d.id for d in _read(_reader(tmp_path), 1, 2)] == ["b-0", "b-1", "b-2"]


def test_an_explicit_glob_is_obeyed_as_written(tmp_path):
    _with_side_files(tmp_path)
    reader = _reader(tmp_path, ", glob: '*.jsonl.gz*'")
    assert len(_read(reader)) == 6
    assert _counter(reader, FILES_READ) == 4  # the .md5 files too: the user asked for them
    assert _counter(reader, "corrupt_json") == 2


# --- byte order mark ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["part.jsonl", "part.jsonl.gz"])
def test_a_utf8_byte_order_mark_is_not_part_of_the_first_line(tmp_path, name):
    body = b"\xef\xbb\xbf" + b"".join(json.dumps(r).encode() + b"\n" for r in _records(2, "bom"))
    path = tmp_path / "docs" / name
    path.parent.mkdir()
    path.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    reader = _reader(tmp_path)
    assert [d.id for d in _read(reader)] == ["bom-0", "bom-1"]
    assert _counter(reader, "corrupt_json") == 0


# --- corrupt or unreadable input files ---------------------------------------------------------------------


def _jsonl_bytes(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _zstd_with_checksum(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


def _flip_middle(data: bytes) -> bytes:
    middle = bytearray(data)
    middle[len(middle) // 2] ^= 0xFF
    return bytes(middle)


BAD_FILES = {
    "a.jsonl.gz": (
        lambda d: gzip.compress(d)[: len(gzip.compress(d)) * 2 // 3],
        "truncated gzip (EOFError: ",
    ),
    "c.jsonl.gz": (lambda d: os.urandom(4096), "corrupt gzip (BadGzipFile: "),
    "d.jsonl.gz": (lambda d: d, "corrupt gzip (BadGzipFile: Not a gzipped file"),
    "e.jsonl.zst": (lambda d: _zstd_with_checksum(d)[:-40], "truncated zstd (TruncatedStream: "),
    "f.jsonl.zst": (lambda d: _flip_middle(_zstd_with_checksum(d)), "corrupt zstd (ZstdError: "),
    "g.jsonl.bz2": (lambda d: bz2.compress(d)[:-30], "truncated bz2 (EOFError: "),
    "h.jsonl.xz": (lambda d: lzma.compress(d)[:-30], "truncated xz (EOFError: "),
}


def test_a_corrupt_compressed_file_is_skipped_whole_counted_and_named(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, (damage, _) in BAD_FILES.items():
        (folder / name).write_bytes(damage(_jsonl_bytes(_records(400, name.split(".")[0]))))
    write_jsonl(folder / "b.jsonl.gz", _records(100, "b"))
    reader = _reader(tmp_path)
    ids = [d.id for d in _read(reader)]
    assert ids == [f"b-{i}" for i in range(100)]  # none of the damaged files' first documents
    assert _counter(reader, FILES_READ) == len(BAD_FILES) + 1
    assert _counter(reader, CORRUPT_FILES) == len(BAD_FILES)
    skipped = {}
    for key, stat in reader.stats.stats.items():
        parsed = parse_skipped_file_key(key)
        if parsed:
            skipped[parsed[0]] = parsed[1]
            assert stat.total == 1
    assert sorted(skipped) == sorted(BAD_FILES)
    for name, (_, reason) in BAD_FILES.items():
        assert skipped[name].startswith(reason), skipped[name]


def _parquet(path: Path, records: list[dict], row_group_size: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size, compression="snappy")


def _break_page_header(path: Path, row_group: int) -> None:
    """Overwrite the header of a later row group's first page: the rows before it stay readable."""
    import pyarrow.parquet as pq

    offset = pq.ParquetFile(path).metadata.row_group(row_group).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))


def test_a_corrupt_parquet_file_is_skipped_whole(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    _parquet(folder / "good.parquet", _records(50, "good"), 1000)
    _parquet(folder / "late.parquet", _records(2500, "late"), 1000)
    _break_page_header(folder / "late.parquet", row_group=2)
    (folder / "cut.parquet").write_bytes((folder / "good.parquet").read_bytes()[:-100])
    reader = _reader(tmp_path, ", format: parquet")
    assert {d.id.split("-")[0] for d in _read(reader)} == {"good"}
    assert _counter(reader, CORRUPT_FILES) == 2
    reasons = [parse_skipped_file_key(k) for k in reader.stats.stats]
    assert sorted(r[0] for r in reasons if r) == ["cut.parquet", "late.parquet"]
    assert all(r[1].startswith("unreadable parquet (") for r in reasons if r)


def test_a_task_whose_every_file_is_corrupt_fails_naming_them(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(_jsonl_bytes(_records(50, "a")))[:-20])
    (folder / "b.jsonl.gz").write_bytes(b"not gzip at all\n")
    named = r"a\.jsonl\.gz \(truncated gzip .*b\.jsonl\.gz \(corrupt gzip"
    with pytest.raises(RuntimeError, match=named) as raised:
        _read(_reader(tmp_path))
    assert type(raised.value).__name__ == "CorruptInputFiles"


# --- our own files between steps ---------------------------------------------------------------------------


def _filtered(tmp_path: Path, texts_per_file: list[list[str]]) -> Path:
    folder = tmp_path / "filtered"
    for rank, texts in enumerate(texts_per_file):
        docs = iter([Document(text=t, id=f"{rank}-{i}", metadata={"n": i}) for i, t in enumerate(texts)])
        list(AtomicJsonlWriter(str(folder)).run(docs, rank=rank))
    return folder


def _read_intermediate(folder: Path, rank: int = 0, world_size: int = 1) -> list[Document]:
    from smolprep.pipelines.intermediate import intermediate_reader

    return list(
        intermediate_reader(str(folder), "remove the folder and relaunch").run(None, rank, world_size)
    )


def test_intact_intermediate_files_are_read_with_their_ids_and_metadata(tmp_path):
    folder = _filtered(tmp_path, [["one", "two"], ["three"]])
    docs = _read_intermediate(folder)
    assert [(d.id, d.text, d.metadata) for d in docs] == [
        ("0-0", "one", {"n": 0}),
        ("0-1", "two", {"n": 1}),
        ("1-0", "three", {"n": 0}),
    ]
    assert [d.id for d in _read_intermediate(folder, 1, 2)] == ["1-0"]


def _rewrite_gz(path: Path, edit) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(edit(lines))))


DAMAGES = {
    "flipped byte": (lambda p: p.write_bytes(_flip_middle(p.read_bytes())), None),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-25]), None),
    "garbled line": (
        lambda p: _rewrite_gz(p, lambda ls: [ls[0], b'{"text": "cut', *ls[2:]]),
        "line 2 is not JSON",
    ),
    "valid JSON, other text": (
        lambda p: _rewrite_gz(p, lambda ls: [ls[0], ls[1].replace(b"two", b"TWO"), *ls[2:]]),
        "its SHA-256 is",
    ),
    "line removed": (lambda p: _rewrite_gz(p, lambda ls: ls[1:]), "its SHA-256 is"),
    "checksum missing": (
        lambda p: Path(f"{p}.sha256").unlink(),
        "its checksum file 00000.jsonl.gz.sha256 is missing",
    ),
    "checksum garbled": (
        lambda p: Path(f"{p}.sha256").write_text("nonsense\n"),
        "is not one `<sha256>  <name>` line",
    ),
    "data file deleted": (lambda p: p.unlink(), "the file is missing, but its checksum file"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_intermediate_file_fails_loudly_naming_it(tmp_path, damage):
    folder = _filtered(tmp_path, [["one", "two", "three", "four"] * 50, ["other"]])
    apply, problem = DAMAGES[damage]
    apply(folder / "00000.jsonl.gz")
    with pytest.raises(DamagedRunFile) as raised:
        _read_intermediate(folder, 0, 2)
    assert raised.value.path == folder / "00000.jsonl.gz"
    assert "remove the folder and relaunch" in str(raised.value)
    if problem:
        assert problem in raised.value.problem
    assert [d.id for d in _read_intermediate(folder, 1, 2)] == ["1-0"]  # the other task's file is fine


def test_the_errors_survive_the_trip_from_a_worker_process_to_the_launcher(tmp_path):
    """A worker's exception is pickled back; one that cannot be rebuilt stops the launcher's pool."""
    folder = _filtered(tmp_path, [["one"]])
    (folder / "00000.jsonl.gz.sha256").unlink()
    with pytest.raises(DamagedRunFile) as damaged:
        _read_intermediate(folder)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.jsonl.gz").write_bytes(b"cut")
    with pytest.raises(RuntimeError) as corrupt:
        _read(_reader(tmp_path))
    for err in (damaged.value, corrupt.value):
        for codec in (pickle, dill):
            again = codec.loads(codec.dumps(err))
            assert type(again) is type(err) and str(again) == str(err)


# --- seeded sampling ---------------------------------------------------------------------------------------


def test_the_sampling_stream_does_not_depend_on_the_interpreters_hash_seed():
    code = "from smolprep.pipelines.sampling import stream_seed; print(stream_seed(3, 'en-web', 1))"
    values = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(values) == 1


def _sampled_run(tmp_path: Path, name: str, seed: int | None) -> dict[str, bytes]:
    config = tmp_path / f"{name}.yaml"
    seed_line = f"seed: {seed}\n" if seed is not None else ""
    config.write_text(
        f"name: sampled\n{seed_line}datasets:\n"
        f"  - {{name: code, path: {ROOT / 'sample' / 'code'}, kind: code, tasks: 2, dedup: false, sample_rate: 0.5}}\n"
    )
    run = run_stage(config, tmp_path / name)
    assert run.exit_code == 0
    folder = run.layout.data("code")
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.jsonl.gz"))}


def _ids(files: dict[str, bytes]) -> set[str]:
    return {json.loads(line)["id"] for data in files.values() for line in gzip.decompress(data).splitlines()}


def test_sample_rate_keeps_the_same_documents_in_every_run_and_others_with_another_seed(tmp_path):
    first = _sampled_run(tmp_path, "first", None)
    again = _sampled_run(tmp_path, "again", 0)  # 0 is the default seed
    other = _sampled_run(tmp_path, "other", 1)
    kept = _ids(first)
    assert _ids(again) == kept
    assert len(first) == 2 and first == again  # byte-identical final files
    assert 0.35 < len(kept) / 348 < 0.65  # the sample's code dataset has 348 documents
    assert _ids(other) != kept and 0.35 < len(_ids(other)) / 348 < 0.65


def test_every_step_with_our_readers_writer_and_sampler_pickles_for_slurm(tmp_path):
    from smolprep.pipelines.build import FilterResources, build_step, dataset_steps
    from smolprep.state.layout import RunLayout

    write_jsonl(tmp_path / "docs" / "part.jsonl", _records(2, "p"))
    config = tmp_path / "stage.yaml"
    config.write_text(
        "name: pickled\ndatasets:\n  - {name: docs, path: docs, kind: code, sample_rate: 0.5}\n"
    )
    stage = load_stage_config(config)
    spec = stage.datasets[0]
    resources = FilterResources(lid_model=None, spam_phrases=())
    for step in dataset_steps(spec):
        pipeline = build_step(stage, spec, step, RunLayout(tmp_path / "out", stage.name), resources)
        again = dill.loads(dill.dumps(pipeline))
        assert [type(block) for block in again] == [type(block) for block in pipeline]
