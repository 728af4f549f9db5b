"""The report of the shipped sample's run, with the shipped tokenizer.json: every identity holds exactly
and every number matches the files on disk and datatrove's stats."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json

import pytest
from tokenizers import Tokenizer

from smolprep.plan import plan_stage
from smolprep.report import build_report
from smolprep.summary import stage_summary
from tests.conftest import ROOT, read_jsonl_folder

BUDGET = 300_000  # the sample has about 450,000 tokens: every dataset under 4 epochs


@pytest.fixture(scope="module")
def sample_report(sample_run, tokenizer_path):
    stage = dataclasses.replace(sample_run.config, tokenizer=str(tokenizer_path), token_budget=BUDGET)
    return stage, build_report(sample_run.layout, stage, plan_stage(stage))


def _input_records(dataset: str) -> int:
    count = 0
    for file in sorted((ROOT / "sample" / dataset).glob("**/*.jsonl*")):
        with gzip.open(file, "rb") if file.suffix == ".gz" else open(file, "rb") as f:
            count += sum(1 for line in f if line.strip())
    return count


def test_every_step_accounts_for_every_document(sample_report) -> None:
    _, manifest = sample_report
    assert manifest["complete"] and manifest["warnings"] == []
    for name, d in manifest["datasets"].items():
        steps = list(d["steps"].values())
        assert list(d["steps"]) == [
            "filter",
            "minhash-signatures",
            "minhash-buckets",
            "minhash-cluster",
            "minhash-filter",
        ]
        for step_name, step in d["steps"].items():
            assert step["docs_in"] - step["docs_out"] == sum(step["removed"].values()), (name, step_name)
            assert "unaccounted" not in step and step["completed"] == step["tasks"]
            for block in step.get("funnel", []):
                assert block["docs_in"] - block["docs_out"] == sum(block["removed"].values())
        for before, after in itertools.pairwise(steps):
            assert after["docs_in"] == before["docs_out"]
        assert d["docs_in"] == steps[0]["docs_in"] and d["docs_out"] == steps[-1]["docs_out"]
        assert d["docs_in"] - d["docs_out"] == sum(sum(s["removed"].values()) for s in steps)
        assert d["steps"]["minhash-cluster"]["found"]["to_remove"] == sum(
            d["steps"]["minhash-filter"]["removed"].values()
        )


def test_numbers_match_the_files_on_disk(sample_run, sample_report, tokenizer_path) -> None:
    _, manifest = sample_report
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    for name, d in manifest["datasets"].items():
        final = read_jsonl_folder(sample_run.layout.data(name))
        texts = [r["text"] for r in final]
        files = sorted(sample_run.layout.data(name).glob("*.jsonl.gz"))
        assert d["docs_in"] == _input_records(name)
        assert d["docs_out"] == len(final)
        assert d["steps"]["filter"]["docs_out"] == len(read_jsonl_folder(sample_run.layout.filtered(name)))
        assert d["bytes_out"] == sum(len(t.encode("utf-8")) for t in texts)
        assert (d["files_out"], d["disk_bytes"]) == (len(files), sum(f.stat().st_size for f in files))
        assert d["tokens_out"] == sum(
            len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)
        )
        assert d["tokens_counted"] == "exact" and d["tokens_out"] > 0


def test_numbers_match_the_stats_and_the_summary_table(sample_run, sample_report) -> None:
    stage, manifest = sample_report
    for row in stage_summary(sample_run.layout, plan_stage(stage)):
        d = manifest["datasets"][row.dataset]
        assert (d["docs_in"], d["docs_out"]) == (row.docs_in, row.docs_out)
        assert sum(d["steps"]["filter"]["removed"].values()) == row.removed_filter
        assert sum(d["steps"]["minhash-filter"]["removed"].values()) == row.removed_dedup
        stats = json.loads(
            (sample_run.layout.logs(row.dataset, "filter") / "stats" / "00000.json").read_text()
        )
        assert d["steps"]["filter"]["cpu_seconds"] >= sum(b["time_stats"]["total"] for b in stats) - 1e-3 > 0


def test_mixture_against_the_budget(sample_report, tokenizer_path) -> None:
    stage, manifest = sample_report
    assert manifest["tokens"]["method"] == "tokenizer" and manifest["tokens"]["tokenizer"] == str(
        tokenizer_path
    )
    assert manifest["token_budget"] == BUDGET and manifest["tokens_total"] == sum(
        d["tokens_out"] for d in manifest["datasets"].values()
    )
    for spec in stage.datasets:
        d = manifest["datasets"][spec.name]
        assert d["weight"] == spec.weight
        assert d["tokens_target"] == round(spec.weight * BUDGET)
        assert d["epochs"] == pytest.approx(spec.weight * BUDGET / d["tokens_out"], abs=1e-4)


def test_the_manifest_names_the_pinned_config_and_the_config_file(sample_report, sample_run) -> None:
    stage, manifest = sample_report
    pinned = json.loads(sample_run.layout.run_json.read_text())
    assert manifest["config_hash"] == pinned["config_hash"]  # what a relaunch is compared with
    assert manifest["config_file_hash"] == stage.config_hash == pinned["config_file_hash"]
    assert manifest["config_hash"] != manifest["config_file_hash"]
