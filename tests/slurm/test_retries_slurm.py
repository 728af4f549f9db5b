"""Failure causes and retries on the real Slurm with accounting (slurmdbd + MariaDB, cgroup memory limits):
a task that allocates past its memory is killed, `status` says OUT_OF_MEMORY (from sacct), `resubmit`
runs it again with twice the memory, and the stage completes with the documents of a local run; `status
--efficiency` then has the step's figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smolprep.state import ledger
from tests.conftest import ROOT, read_jsonl_folder, run_stage

pytestmark = pytest.mark.slurm
SMALL = "80M"  # below what a filter task of the English sample needs (~100 MiB RSS): the cgroup kills it


def _launch(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ,
    )


def _texts(folder: Path) -> set[str]:
    return {r["text"] for r in read_jsonl_folder(folder)}


@pytest.fixture(scope="module")
def small_memory_stage(tmp_path_factory):
    base = tmp_path_factory.mktemp("oom-stage")
    config = base / "oom.yaml"
    config.write_text(
        f"name: oom\ndatasets:\n  - {{name: en, path: {ROOT / 'sample' / 'en-web'}, language: en, tasks: 1, "
        "dedup: false}\n"
    )
    profile = base / "small-memory.yaml"
    profile.write_text(
        (ROOT / "cluster" / "dev-slurm.yaml").read_text().split("steps:")[0]
        + f'steps:\n  default: {{time: "00:10:00", cpus: 1, mem_per_cpu: {SMALL}}}\n'
        + "retry: {default: {max_attempts: 3, OUT_OF_MEMORY: {mem: x2}}}\n"
    )
    clean = run_stage(config, base / "local")
    assert clean.exit_code == 0
    return config, profile, _texts(clean.layout.data("en"))


def test_an_out_of_memory_task_is_named_and_rerun_with_twice_the_memory(
    dev_slurm, small_memory_stage, tmp_path
):
    config, profile, clean = small_memory_stage
    out = tmp_path / "out"
    args = ["--config", str(config), "--cluster", str(profile), "--output", str(out)]
    launched = _launch(*args)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    deadline = time.monotonic() + 180
    while True:  # until the task has left the queue and sacct has its end
        status = json.loads(_launch("status", "--json", *args).stdout)
        step = status["datasets"]["en"]["filter"]
        if step["state"] == "failed" and step.get("causes", {}).get("0", {}).get("source") == "sacct":
            break
        assert time.monotonic() < deadline, step
        time.sleep(2)
    cause = step["causes"]["0"]
    assert cause["state"] == "OUT_OF_MEMORY", step
    assert (
        step["retry"]["0"]["retry"] is True and "mem_per_cpu 160M (was 80M)" in step["retry"]["0"]["reason"]
    )

    resubmitted = _launch("resubmit", "--wait", *args)
    assert resubmitted.returncode == 0, resubmitted.stdout + resubmitted.stderr
    assert (
        "retry policy: en/filter rank 0: OUT_OF_MEMORY: retry 2 of 3 with mem_per_cpu 160M"
        in resubmitted.stdout
    )
    entries = [e for e in ledger.read(out / "oom" / "jobs.jsonl") if e.step == "filter"]
    assert [e.resources["mem_per_cpu"] for e in entries] == ["80M", "160M"]
    assert _texts(out / "oom" / "data" / "en") == clean

    efficiency = json.loads(_launch("status", "--efficiency", "--json", *args).stdout)
    (figures,) = [e for e in efficiency if e["step"] == "filter"]
    assert figures["source"].startswith("sacct") and figures["tasks_measured"] >= 1
    assert figures["memory_share"]["max"] > 0.25  # ~100 MiB of the 160M the completed attempt asked for
