"""An ID-only code dataset (blob ids and encodings, no text) runs through a whole local stage: the
`contents` step fills each row's text from a real S3 server (moto's, through boto3), counts the blobs that
are missing, and the rest of the stage sees exactly the documents of the same rows given with their text."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys

import boto3
import pytest

from smolprep.config.stage import load_stage_config
from smolprep.plan import plan_stage
from smolprep.state.layout import RunLayout
from smolprep.summary import stage_summary
from tests.conftest import ROOT, read_jsonl_folder, write_jsonl
from tests.fakes import s3_server
from tests.fakes.hub_repo import sample_documents

moto_s3 = s3_server.moto_s3  # the fixture

pytestmark = pytest.mark.e2e
MISSING = 3  # blobs never uploaded


def rows_of(folder):
    return [
        line for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines() if line.strip()
    ]


def test_an_id_only_dataset_gets_its_contents_from_s3_and_runs_like_its_text(moto_s3, tmp_path):
    minified = {"id": "minified.js", "text": "var a=" + "1+" * 3000 + "1;\n"}  # the code filter drops it
    documents = [*sample_documents("code")[:59], minified]
    rows, texts = [], []
    for d in documents:
        data = d["text"].encode("utf-8")
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        rows.append({"blob_id": blob, "src_encoding": "UTF-8", "path": d["id"]})
        texts.append({"blob_id": blob, "content": d["text"], "path": d["id"]})
    s3 = boto3.client("s3", endpoint_url=moto_s3)
    s3.create_bucket(Bucket="softwareheritage")
    for row, text in list(zip(rows, texts, strict=True))[MISSING:]:
        s3.put_object(
            Bucket="softwareheritage",
            Key=f"content/{row['blob_id']}",
            Body=gzip.compress(text["content"].encode()),
        )
    write_jsonl(tmp_path / "ids" / "part-0.jsonl", rows[:30])
    write_jsonl(tmp_path / "ids" / "part-1.jsonl", rows[30:])
    write_jsonl(tmp_path / "text" / "part-0.jsonl", texts[MISSING:30])
    write_jsonl(tmp_path / "text" / "part-1.jsonl", texts[30:])
    common = "kind: code, text_key: content, id_key: blob_id, tasks: 2"
    config = tmp_path / "ids.yaml"
    config.write_text(
        "name: ids\n"
        "datasets:\n"
        f"  - {{name: ids, path: ids, {common}, contents: {{from: 's3://softwareheritage/content/{{blob_id}}'}}}}\n"
        f"  - {{name: text, path: text, {common}}}\n"
    )
    out = tmp_path / "out"
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": moto_s3}
    options = {"--config": config, "--cluster": "local", "--output": out}
    command = [sys.executable, str(ROOT / "launch.py"), *(str(x) for pair in options.items() for x in pair)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secret" not in (done.stdout + done.stderr).lower()
    filled = read_jsonl_folder(out / "ids" / "data" / "ids")
    given = read_jsonl_folder(out / "ids" / "data" / "text")
    assert len(filled) > 0
    assert sorted((d["id"], d["text"]) for d in filled) == sorted((d["id"], d["text"]) for d in given)
    assert {d["metadata"]["path"] for d in filled} <= {r["path"] for r in rows[MISSING:]}
    manifest = json.loads((out / "ids" / "manifest.json").read_text())
    steps = manifest["datasets"]["ids"]["steps"]
    assert list(steps)[:2] == ["contents", "filter"]
    assert steps["contents"]["removed"] == {"S3 contents: missing": MISSING}  # counted by reason, not fatal
    # the summary counts what `contents` dropped as filtered out, and only dedup's removals as duplicates
    stage = load_stage_config(config)
    rows = {row.dataset: row for row in stage_summary(RunLayout(out, "ids"), plan_stage(stage))}
    ids, text = rows["ids"], rows["text"]
    assert ids.docs_in == len(rows_written := rows_of(tmp_path / "ids")) == 60
    assert text.removed_filter >= 1 and ids.removed_filter == text.removed_filter + MISSING
    assert ids.removed_dedup == text.removed_dedup
    assert ids.docs_out == text.docs_out == len(filled) and len(rows_written) - MISSING == text.docs_in


def test_rows_without_the_text_field_are_refused_at_the_dry_run_with_what_to_configure(tmp_path, capsys):
    from smolprep.cli import main

    write_jsonl(
        tmp_path / "ids" / "part-0.jsonl",
        [{"blob_id": f"{i:040x}", "src_encoding": "UTF-8"} for i in range(5)],
    )
    config = tmp_path / "ids.yaml"
    config.write_text(
        "name: ids\ndatasets:\n  - {name: ids, path: ids, kind: code, text_key: content, id_key: blob_id}\n"
    )
    argv = ["--config", str(config), "--cluster", "local", "--output", str(tmp_path / "out")]
    for extra in (["--dry-run"], []):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err
        assert "datasets[0] (ids).text_key: got 'content'" in err and "blob_id, src_encoding" in err
        assert "add `contents: {from: s3://" in err
    assert not (tmp_path / "out").exists()
