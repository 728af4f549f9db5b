"""Sentence-level dedup on the real single-node Slurm of cluster/dev-slurm: the same corpus as
tests/e2e/test_sentence_dedup.py (`sentence` for en, `minhash+sentence` for vi) gives the same documents as
a local run, each sentence step is an array gated on every task of the step before, and status and the
stage-level report cover the sentence steps."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.plan import plan_stage
from smolprep.state import ledger
from tests.conftest import run_stage
from tests.e2e.test_sentence_dedup import SENTENCE_STEPS, check_sentence_output, write_sentence_corpus
from tests.slurm.conftest import quick_wait

pytestmark = pytest.mark.slurm

_STARTED = re.compile(r" at (\S+), restart")  # the start line of each array task (as in test_submit.py)


def _start_times(logs: Path) -> list[datetime]:
    times = []
    for file in (logs / "slurm_logs").glob("*.out"):
        times += [datetime.fromisoformat(m.group(1)) for m in _STARTED.finditer(file.read_text())]
    return times


@pytest.fixture(scope="module")
def slurm_sentences(dev_slurm, tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm-sentences")
    config, corpus = write_sentence_corpus(base)
    with quick_wait():
        run = run_stage(config, base / "slurm", None, "dev-slurm", ["--wait"])
    assert run.exit_code == 0, (
        f"the sentence dedup stage failed on Slurm; see {run.layout.stage_dir / 'logs'}"
    )
    local = run_stage(config, base / "local")
    assert local.exit_code == 0
    return run, local, corpus


def test_sentence_dedup_on_slurm_removes_copies_and_leaves_unique_text(slurm_sentences):
    run, local, corpus = slurm_sentences
    check_sentence_output(run, corpus)
    for dataset in ("en", "vi"):
        for rank in (0, 1):
            assert (
                run.layout.final_file(dataset, rank).read_bytes()
                == local.layout.final_file(dataset, rank).read_bytes()
            )


def test_each_sentence_step_is_an_array_gated_on_the_step_before(slurm_sentences):
    run, _, _ = slurm_sentences
    entries = ledger.read(run.layout.ledger)
    for dataset in ("en", "vi"):
        plan = plan_stage(run.config).for_dataset(dataset)
        assert {e.step for e in entries if e.dataset == dataset} == {s.step for s in plan}
        for step in plan:
            if step.step not in SENTENCE_STEPS:
                continue
            (job,) = [e for e in entries if (e.dataset, e.step) == (dataset, step.step)]
            assert job.ranks == list(range(step.tasks))
            upstream_done = max(
                p.stat().st_mtime for p in run.layout.completions(dataset, step.after).iterdir()
            )
            started = _start_times(run.layout.logs(dataset, step.step))
            assert len(started) == step.tasks
            assert min(t.timestamp() for t in started) >= upstream_done, (dataset, step.step)


def test_status_and_the_stage_report_cover_the_sentence_steps(slurm_sentences, capsys):
    run, _, corpus = slurm_sentences
    args = ["--config", run.config.source_file, "--cluster", "dev-slurm", "--output", str(run.layout.root)]
    assert main(["status", *args, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["done"] is True
    assert all(status["datasets"][d][s]["state"] == "done" for d in ("en", "vi") for s in SENTENCE_STEPS)
    manifest = json.loads(run.layout.manifest.read_text())  # written by the stage-level report job
    for dataset in ("en", "vi"):
        removed = manifest["datasets"][dataset]["steps"]["sentence-filter"]["removed"]
        assert removed == {"Sentence dedup: repeated_sentences": len(corpus.copied[dataset])}
