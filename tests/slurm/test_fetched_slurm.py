"""A stage of `source:` datasets, fetched by a Slurm job on the profile's fetch_partition, runs on the dev
Slurm with the test Hub stopped: every job reads the fetched files under HF_HUB_OFFLINE=1 and the output is
the documents of the JSONL sample."""

from __future__ import annotations

import pytest

from smolprep.cli import main
from smolprep.state import ledger
from tests.conftest import ROOT, read_jsonl_folder, run_stage
from tests.fetch import conftest as hub_fixtures
from tests.fetch.test_fetch import write_stage
from tests.slurm.conftest import quick_wait

pytestmark = pytest.mark.slurm
fake_hub, hub_repos = hub_fixtures.fake_hub, hub_fixtures.hub_repos  # the test Hub's fixtures


def test_a_fetched_stage_runs_on_the_dev_slurm_with_the_hub_stopped(
    dev_slurm,
    fake_hub,
    tmp_path,
    sample_run,
    monkeypatch,
    capsys,
):
    repo = fake_hub.repos.sample
    config, out = write_stage(tmp_path, repo), tmp_path / "out"
    # the fetch itself runs as a Slurm job on the profile's fetch_partition (its node reaches the test Hub)
    profile = tmp_path / "fetching.yaml"
    profile.write_text((ROOT / "cluster" / "dev-slurm.yaml").read_text() + "fetch_partition: cpu\n")
    fetch = ["fetch", "--config", str(config), "--cluster", str(profile), "--output", str(out), "--wait"]
    assert main(fetch) == 0
    assert "Submitted the fetch job" in capsys.readouterr().out
    assert [e.step for e in ledger.read(out / "fetched" / "jobs.jsonl")] == ["fetch"]
    fake_hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with quick_wait():
        run = run_stage(config, out, None, "dev-slurm", ["--wait"])
    assert run.exit_code == 0, f"logs in {run.layout.stage_dir / 'logs'}"
    for name in ("en-web", "vi-web", "code"):
        fetched = read_jsonl_folder(run.layout.data(name))
        expected = read_jsonl_folder(sample_run.layout.data(name))
        assert sorted((d["id"], d["text"]) for d in fetched) == sorted((d["id"], d["text"]) for d in expected)
        assert {d["metadata"]["source"] for d in fetched} == {repo}
