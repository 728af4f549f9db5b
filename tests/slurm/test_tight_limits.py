"""The real Slurm with tight limits (MaxJobCount 40, MaxArraySize 5, and the user's association limited to
14 submitted jobs with sacctmgr; MinJobAge 2 s): the sample stage, which needs several times that many array tasks,
completes in waves, with no failed sbatch, the same documents as a local run, and never more array tasks
queued than the binding limit (the user's) allows."""

from __future__ import annotations

import getpass
import subprocess
import sys
import time

import pytest

from smolprep.slurm.client import RealSlurm
from smolprep.slurm.query import QueueEntry
from smolprep.state import ledger
from smolprep.state.status import queued_indices
from tests.conftest import ROOT, read_jsonl_folder
from tests.slurm.conftest import describe, run_start_sh

pytestmark = pytest.mark.slurm


USER_LIMIT = 14  # MaxSubmitJobs of the user's association: below half of MaxJobCount 40, so it binds


def _sacctmgr(*args: str) -> None:
    done = subprocess.run(["sacctmgr", "-i", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def tight_cluster(dev_slurm):
    # finished jobs leave the controller (and MaxJobCount) 2 s after they end, not 60: with MaxJobCount 40,
    # every wave would otherwise wait one or two minutes for the controller to purge the previous one
    started = run_start_sh("--max-job-count", "40", "--max-array-size", "5", "--min-job-age", "2")
    assert started.returncode == 0, describe(started)
    user = getpass.getuser()
    try:
        _sacctmgr("modify", "user", user, "set", f"MaxSubmitJobs={USER_LIMIT}")
        yield RealSlurm().config()
    finally:
        _sacctmgr("modify", "user", user, "set", "MaxSubmitJobs=-1")
        restored = run_start_sh()
        assert restored.returncode == 0, describe(restored)


def test_sample_stage_completes_in_waves_under_tight_limits(tight_cluster, sample_run, tmp_path):
    assert (tight_cluster["MaxJobCount"], tight_cluster["MaxArraySize"]) == ("40", "5")
    profile = tmp_path / "tight.yaml"
    profile.write_text((ROOT / "cluster" / "dev-slurm.yaml").read_text() + "max_tasks_per_job: 1\n")
    out = tmp_path / "out"
    args = [
        "--config",
        str(ROOT / "configs/sample.yaml"),
        "--cluster",
        str(profile),
        "--output",
        str(out),
        "--wait",
    ]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak, samples = 0, 0
    while proc.poll() is None:
        ids = {e.job_id for e in ledger.read(out / "sample" / "jobs.jsonl")}
        lines = subprocess.run(
            ["squeue", "-h", "--array", "-o", "%F|%i"], capture_output=True, text=True
        ).stdout.split()
        queued = [line.split("|")[1] for line in lines if line.split("|")[0] in ids]
        peak = max(peak, sum(len(queued_indices(QueueEntry("", j, "", "", ""))) or 1 for j in queued))
        samples += 1
        time.sleep(0.5)
    output = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0, output
    assert "submitted in waves" in output and "error" not in output.lower()
    assert f"bound by MaxSubmitJobs {USER_LIMIT}" in output and "MaxJobCount 40" in output
    assert samples > 20 and 0 < peak <= USER_LIMIT  # the user's own limit, used whole
    entries = ledger.read(out / "sample" / "jobs.jsonl")
    assert all(int(e.array.split("-")[1]) < 5 for e in entries if e.array != "-")  # MaxArraySize 5
    assert sum(int(e.array.split("-")[1]) + 1 for e in entries if e.array != "-") == 99  # every task once
    for spec in sample_run.config.datasets:
        local = {r["text"] for r in read_jsonl_folder(sample_run.layout.data(spec.name))}
        assert {r["text"] for r in read_jsonl_folder(out / "sample" / "data" / spec.name)} == local
