"""Per-step accounting from merged stats: docs_in - docs_out == sum(removed), reasons by filter."""

from __future__ import annotations

import json

from smolprep.report.accounting import account_step, block_kind, block_label
from smolprep.stats_keys import CORRUPT_FILES, FILES_READ, skipped_file_key
from smolprep.summary import BlockCounters, SkippedFile, merge_stats_files

READER = "📖 - READER: 📖 JSONL (counting corrupt lines)"
LID = "🔻 - FILTER: 🌍 Language ID (lid.176)"
GOPHER = "🔻 - FILTER: 🥇 Gopher Quality (per language)"
SAMPLER = "🔻 - FILTER: 🎲 Sampler"
WRITER = "💽 - WRITER: 🐿 Jsonl (atomic)"
MINHASH_1 = "🫂 - DEDUP: 🎯 MinHash stage 1"
MINHASH_4 = "🫂 - DEDUP: 🎯 MinHash stage 4"


def _filter_blocks() -> list[BlockCounters]:
    return [
        BlockCounters(READER, {"documents": 100, "corrupt_json": 2, "missing_text": 1}, 0.5),
        BlockCounters(SAMPLER, {"total": 100, "forwarded": 80, "dropped": 20}, 0.1),
        BlockCounters(
            LID,
            {
                "total": 80,
                "forwarded": 60,
                "dropped": 20,
                "dropped_wrong_language": 15,
                "dropped_low_language_score": 5,
            },
            2.0,
        ),
        BlockCounters(
            GOPHER, {"total": 60, "forwarded": 50, "dropped": 10, "dropped_gopher_short_doc": 10}, 1.0
        ),
        BlockCounters(WRITER, {"total": 50, "XXXXX.jsonl.gz": 50}, 0.4),
    ]


def test_labels_drop_the_type_and_the_emoji() -> None:
    assert block_label(LID) == "Language ID (lid.176)"
    assert block_label("🔻 - FILTER: 🧑\u200d💻 Code sanity") == "Code sanity"
    assert block_label(MINHASH_4) == "MinHash dedup"
    assert [block_kind(n) for n in (READER, LID, WRITER, MINHASH_1)] == [
        "reader",
        "filter",
        "writer",
        "dedup",
    ]


def test_filter_step_accounts_for_every_document_by_filter_and_reason() -> None:
    account = account_step("filter", _filter_blocks(), tasks=4, completed=4, upstream_docs=0)
    assert (account.docs_in, account.docs_out) == (100, 50)
    assert account.removed == {
        "Sampler: sampled out": 20,
        "Language ID (lid.176): wrong_language": 15,
        "Language ID (lid.176): low_language_score": 5,
        "Gopher Quality (per language): gopher_short_doc": 10,
    }
    assert account.docs_in - account.docs_out == sum(account.removed.values())
    assert account.unaccounted == 0
    assert account.skipped_lines == {"corrupt_json": 2, "missing_text": 1}  # lines, not documents
    assert [(b.label, b.docs_in, b.docs_out) for b in account.blocks] == [
        ("Sampler", 100, 80),
        ("Language ID (lid.176)", 80, 60),
        ("Gopher Quality (per language)", 60, 50),
    ]
    assert account.cpu_seconds == 4.0


def test_minhash_filter_removals_are_near_duplicates() -> None:
    blocks = [
        BlockCounters("📖 - READER: 📖 JSONL (previous step)", {"documents": 50}),
        BlockCounters(MINHASH_4, {"total": 50, "forwarded": 46, "dropped": 4}),
        BlockCounters(WRITER, {"total": 46}),
    ]
    account = account_step("minhash-filter", blocks, 4, 4, upstream_docs=50)
    assert account.removed == {"MinHash dedup: near-duplicate": 4}
    assert (account.docs_in, account.docs_out, account.unaccounted) == (50, 46, 0)


def test_steps_that_remove_nothing() -> None:
    signatures = account_step(
        "minhash-signatures",
        [
            BlockCounters("📖 - READER: 📖 JSONL (previous step)", {"documents": 50}),
            BlockCounters(MINHASH_1, {"total": 50}),
        ],
        4,
        4,
        upstream_docs=50,
    )
    assert (signatures.docs_in, signatures.docs_out, signatures.removed) == (50, 50, {})
    cluster = account_step(
        "minhash-cluster",
        [BlockCounters(MINHASH_1.replace("1", "3"), {"duplicates": 7, "to_remove": 4})],
        1,
        1,
        50,
    )
    assert (cluster.docs_in, cluster.docs_out, cluster.removed) == (50, 50, {})
    assert cluster.found == {"duplicates": 7, "to_remove": 4}


def test_counters_that_do_not_add_up_are_unaccounted_not_hidden() -> None:
    blocks = _filter_blocks()
    blocks[-1] = BlockCounters(WRITER, {"total": 45})  # a writer stats file from another run, say
    account = account_step("filter", blocks, 4, 4, upstream_docs=0)
    assert account.unaccounted == 5
    assert account.as_json()["unaccounted"] == 5


def test_a_step_without_stats_has_no_output() -> None:
    account = account_step("minhash-filter", [], tasks=4, completed=0, upstream_docs=50)
    assert (account.docs_in, account.docs_out, account.unaccounted, account.complete) == (50, 0, 50, False)


def test_merged_stats_carry_block_time(tmp_path) -> None:
    block = {"name": MINHASH_4, "time_stats": {"total": 1.5, "n": 3}, "stats": {"total": 3, "forwarded": 3}}
    idle = {"name": MINHASH_4, "time_stats": 0, "stats": {}}  # a task whose block saw no document
    (tmp_path / "00000.json").write_text(json.dumps([block]))
    (tmp_path / "00001.json").write_text(json.dumps([block]))
    (tmp_path / "00002.json").write_text(json.dumps([idle]))
    (merged,) = merge_stats_files(sorted(tmp_path.glob("*.json")))
    assert merged.seconds == 3.0 and merged.counters == {"total": 6, "forwarded": 6}


def test_a_block_without_a_name_is_named_by_its_position() -> None:
    blocks = _filter_blocks()
    blocks[2] = BlockCounters("🔻 - FILTER: None", blocks[2].counters)
    account = account_step("filter", blocks, 4, 4, upstream_docs=0)
    assert account.removed["block 3: wrong_language"] == 15


def _task_stats(documents: object, reader_extra: dict, kept: int, read: int) -> list[dict]:
    """One filter task's stats file, in the shape of a real run's (datatrove's MetricStats.to_dict)."""
    doc_len = {"total": 493078, "n": read, "mean": 493078 / read, "min": 306, "max": 19469}
    return [
        {
            "name": READER,
            "time_stats": {"total": 0.0023, "n": read, "mean": 1.2e-05, "total_human": "0 seconds"},
            "stats": {"input_files": 3, "doc_len": doc_len, "documents": documents, **reader_extra},
        },
        {
            "name": GOPHER,
            "time_stats": {"total": 0.014, "n": read, "mean": 7e-05},
            "stats": {
                "total": read,
                "forwarded": kept,
                "dropped": read - kept,
                "dropped_gopher_short_doc": read - kept,
                "doc_len": doc_len,
            },
        },
        {
            "name": WRITER,
            "time_stats": {"total": 0.037, "n": kept, "mean": 0.00018},
            "stats": {"_tmp/XXXXX.jsonl.gz": kept, "total": kept, "doc_len": doc_len},
        },
    ]


def test_a_task_reading_several_files_is_accounted_for(tmp_path) -> None:
    several = {
        "total": 200,
        "n": 3,
        "mean": 66.67,
        "variance": 3333.3,
        "min": 0,
        "max": 100,
        "unit": "input_file",
    }
    (tmp_path / "00000.json").write_text(json.dumps(_task_stats(several, {}, kept=180, read=200)))
    one = {"total": 50, "mean": 50.0, "unit": "input_file"}
    (tmp_path / "00001.json").write_text(json.dumps(_task_stats(one, {}, kept=50, read=50)))
    account = account_step("filter", merge_stats_files(sorted(tmp_path.glob("*.json"))), 2, 2, 0)
    assert (account.docs_in, account.docs_out, account.unaccounted) == (250, 230, 0)
    assert account.removed == {"Gopher Quality (per language): gopher_short_doc": 20}


def test_skipped_files_are_neither_documents_nor_removal_reasons(tmp_path) -> None:
    bad = skipped_file_key("in/en/b.jsonl.gz", "truncated gzip")
    extra = {FILES_READ: 3, CORRUPT_FILES: 1, bad: 1}
    documents = {"total": 150, "n": 2, "mean": 75.0, "unit": "input_file"}
    (tmp_path / "00000.json").write_text(json.dumps(_task_stats(documents, extra, kept=140, read=150)))
    account = account_step("filter", merge_stats_files([tmp_path / "00000.json"]), 1, 1, 0)
    assert (account.docs_in, account.docs_out, account.unaccounted) == (150, 140, 0)
    assert account.removed == {"Gopher Quality (per language): gopher_short_doc": 10}
    assert (account.files_read, account.corrupt_files) == (3, 1)
    assert account.skipped_files == (SkippedFile("in/en/b.jsonl.gz", "truncated gzip"),)
    assert account.as_json()["skipped_files"] == [{"file": "in/en/b.jsonl.gz", "reason": "truncated gzip"}]
