"""Bad input: a corrupt line is skipped, counted (with file and line in the task log) and the task completes;
a corrupt or truncated file is skipped whole and named; input fields never override our metadata or ids."""

from __future__ import annotations

import gzip
import json
import random
import string

from smolprep.plan import plan_stage
from smolprep.stats_keys import CORRUPT_FILES, FILES_READ, parse_skipped_file_key
from smolprep.summary import stage_summary, step_blocks
from tests.conftest import read_jsonl_folder, run_stage, sample_texts, write_jsonl

GOOD = "def add(a, b):\n    return a + b\n"


def test_corrupt_lines_are_skipped_and_counted(tmp_path):
    data = tmp_path / "code"
    data.mkdir()
    lines = [
        json.dumps({"id": "ok-1", "text": GOOD}).encode(),
        b'{"id": "broken", "text": "unterminated',
        json.dumps({"id": "ok-2", "text": GOOD + "# two\n"}).encode(),
        b'{"id": "latin1", "text": "caf\xe9"}',
        json.dumps({"id": "no-text", "content": GOOD}).encode(),
        b"[1, 2, 3]",
        json.dumps({"id": "ok-3", "text": GOOD + "# three\n"}).encode(),
    ]
    (data / "part.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    config = tmp_path / "bad.yaml"
    config.write_text(
        "name: bad-input\ndatasets:\n  - {name: code, path: code, kind: code, tasks: 1, dedup: false}\n"
    )

    run = run_stage(config, tmp_path / "out")

    assert run.exit_code == 0
    assert sorted(r["id"] for r in read_jsonl_folder(run.layout.data("code"))) == ["ok-1", "ok-2", "ok-3"]
    reader = step_blocks(run.layout, "code", "filter")[0]
    assert (reader.get("corrupt_json"), reader.get("corrupt_utf8"), reader.get("missing_text")) == (2, 1, 1)
    log = (run.layout.logs("code", "filter") / "logs" / "task_00000.log").read_text()
    assert "part.jsonl:2 (corrupt_json)" in log and "part.jsonl:4 (corrupt_utf8)" in log
    assert "part.jsonl:5 (missing_text)" in log and "part.jsonl:6 (corrupt_json)" in log
    (row,) = stage_summary(run.layout, plan_stage(run.config))
    assert (row.docs_in, row.corrupt_lines, row.docs_out) == (3, 4, 3)


def _code_records(prefix: str, n: int) -> list[dict]:
    """Distinct small programs (no two are near-duplicates)."""
    rng = random.Random(prefix)
    terms = ["".join(rng.choices(string.ascii_lowercase, k=8)) for _ in range(20 * n)]
    return [
        {
            "id": f"{prefix}-{i}",
            "text": "def f(x):\n    return " + " + ".join(terms[20 * i : 20 * i + 20]) + "\n",
        }
        for i in range(n)
    ]


def _jsonl_bytes(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_corrupt_compressed_files_are_skipped_whole_and_named_and_the_good_ones_written(tmp_path, capsys):
    data = tmp_path / "code"
    data.mkdir()
    whole = gzip.compress(_jsonl_bytes(_code_records("a", 300)))
    (data / "a.jsonl.gz").write_bytes(whole[: len(whole) // 2])  # truncated: its first documents decode
    write_jsonl(data / "b.jsonl.gz", _code_records("b", 100))
    (data / "c.jsonl.gz").write_bytes(bytes(range(256)) * 40)  # random bytes named .gz
    (data / "d.jsonl.gz").write_bytes(_jsonl_bytes(_code_records("d", 10)))  # plain JSONL named .gz
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00 cut short")
    (bad / "y.jsonl.zst").write_bytes(b"not zstd either")
    (bad / "z.jsonl.gz").write_bytes(b"")  # empty: no document, but not corrupt
    config = tmp_path / "corrupt.yaml"
    config.write_text(
        "name: corrupt-files\ndatasets:\n"
        "  - {name: code, path: code, kind: code, tasks: 1}\n"
        "  - {name: bad, path: bad, kind: code, tasks: 2, dedup: false}\n"
    )

    run = run_stage(config, tmp_path / "out", capsys)
    out = run.stdout

    assert run.exit_code == 1  # a task whose every file is corrupt fails; the other dataset completes
    assert sorted(r["id"] for r in read_jsonl_folder(run.layout.data("code"))) == sorted(
        f"b-{i}" for i in range(100)
    )
    (stats,) = (run.layout.logs("code", "filter") / "stats").glob("*.json")  # one task
    reader = json.loads(stats.read_text())[0]["stats"]
    assert (reader[FILES_READ], reader[CORRUPT_FILES]) == (4, 3)
    skipped = {}
    for key, value in reader.items():
        named = parse_skipped_file_key(key)
        if named:
            assert value == 1
            skipped[named[0]] = named[1]
    assert skipped["a.jsonl.gz"] == (
        "truncated gzip (EOFError: Compressed file ended before the end-of-stream marker was reached)"
    )
    assert skipped["c.jsonl.gz"].startswith("corrupt gzip (BadGzipFile: Not a gzipped file")
    assert skipped["d.jsonl.gz"].startswith("corrupt gzip (BadGzipFile: Not a gzipped file (b'{\"')")
    log = (run.layout.logs("code", "filter") / "logs" / "task_00000.log").read_text()
    assert "skipped input file a.jsonl.gz: truncated gzip" in log
    # rank 0 reads x and z (z is empty, not corrupt: it completes); rank 1 reads only y and fails
    assert run.layout.completed_ranks("bad", "filter") == {0}
    bad_logs = run.layout.logs("bad", "filter") / "logs"
    assert "skipped input file x.jsonl.gz: truncated gzip" in (bad_logs / "task_00000.log").read_text()
    failed = (bad_logs / "task_00001.log").read_text()
    assert "every input file of this task" in failed and "y.jsonl.zst (corrupt zstd" in failed
    assert "failed bad:" in out and "y.jsonl.zst" in "".join(out.split())


def test_input_fields_named_like_ours_are_kept_apart_and_null_ids_named_after_the_input_line(tmp_path):
    texts = sample_texts("en-web")[:40]
    records = [
        {
            "id": None if i % 2 else f"doc-{i}",
            "text": text,
            "source": "common-crawl",
            "metadata": {"language": "xx"},
        }
        for i, text in enumerate(texts)
    ]
    write_jsonl(tmp_path / "web" / "dolma" / "part.jsonl", records)
    write_jsonl(
        tmp_path / "code" / "part.jsonl", [{**r, "id": None, "weight": 9} for r in _code_records("c", 5)]
    )
    config = tmp_path / "dolma.yaml"
    config.write_text(
        "name: dolma-like\ndatasets:\n"
        "  - {name: web, path: web, kind: web, language: en, tasks: 1, weight: 0.6}\n"
        "  - {name: code, path: code, kind: code, tasks: 1, weight: 0.4}\n"
    )

    run = run_stage(config, tmp_path / "out")

    assert run.exit_code == 0
    web = read_jsonl_folder(run.layout.data("web"))
    assert len(web) >= 10
    for record in web:
        meta = record["metadata"]
        assert (meta["source"], meta["dataset"], meta["weight"]) == (str(tmp_path / "web"), "web", 0.6)
        assert (meta["input_source"], meta["input_language"], meta["language"]) == (
            "common-crawl",
            "xx",
            "en",
        )
        line = int(record["id"].rsplit("/", 1)[1]) if "/" in record["id"] else int(record["id"].split("-")[1])
        assert record["id"] == (f"dolma/part.jsonl/{line}" if line % 2 else f"doc-{line}")
        assert record["text"] == texts[line]
    code = read_jsonl_folder(run.layout.data("code"))
    assert sorted(r["id"] for r in code) == [f"part.jsonl/{i}" for i in range(5)]
    assert all(r["metadata"]["weight"] == 0.4 and r["metadata"]["input_weight"] == 9 for r in code)
    assert all("language" not in r["metadata"] for r in code)
