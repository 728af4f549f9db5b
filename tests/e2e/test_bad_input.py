"""A corrupt input line is skipped, counted (with file and line in the task log) and the task completes."""

from __future__ import annotations

import json

from smolprep.plan import plan_stage
from smolprep.summary import stage_summary, step_blocks
from tests.conftest import read_jsonl_folder, run_stage

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
