"""Stages submitted to the real single-node Slurm of cluster/dev-slurm (started by the dev_slurm fixture)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.state import ledger
from tests.conftest import ROOT, read_jsonl_folder, run_stage, write_jsonl
from tests.slurm.conftest import quick_wait

pytestmark = pytest.mark.slurm


@pytest.fixture(autouse=True)
def _quick_wait():
    with quick_wait():
        yield


def _queue_size() -> int:
    out = subprocess.run(["squeue", "-h", "--array", "-o", "%i"], capture_output=True, text=True, check=True)
    return len(out.stdout.split())


def _texts(folder: Path) -> set[str]:
    return {r["text"] for r in read_jsonl_folder(folder)}


@pytest.fixture(scope="module")
def slurm_sample(dev_slurm, tmp_path_factory):
    with quick_wait():
        run = run_stage(
            ROOT / "configs" / "sample.yaml",
            tmp_path_factory.mktemp("slurm-sample"),
            None,
            "dev-slurm",
            ["--wait"],
        )
    assert run.exit_code == 0, f"the sample stage failed on Slurm; see {run.layout.stage_dir / 'logs'}"
    return run


def test_sample_on_slurm_gives_the_same_documents_as_local(slurm_sample, sample_run):
    for spec in sample_run.config.datasets:
        local = _texts(sample_run.layout.data(spec.name))
        assert local
        assert _texts(slurm_sample.layout.data(spec.name)) == local, spec.name


def test_jobs_are_named_and_recorded_in_the_ledger(slurm_sample):
    entries = ledger.read(slurm_sample.layout.ledger)
    steps = ("filter", "minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")
    assert {(e.dataset, e.step) for e in entries if e.step != "report"} == {
        (d.name, s) for d in slurm_sample.config.datasets for s in steps
    }
    assert all(e.tag.startswith("smolprep:sample:") and e.job_id.isdigit() for e in entries)
    script = (slurm_sample.layout.logs("en-web", "filter") / "slurm_logs").iterdir()
    first_log = next(iter(sorted(script))).read_text()
    assert "smolprep: smolprep-sample-en-web-filter array task" in first_log


def test_the_stage_level_job_wrote_the_report(slurm_sample):
    (report,) = [e for e in ledger.read(slurm_sample.layout.ledger) if e.step == "report"]
    assert (slurm_sample.layout.stage_dir / "logs" / "report" / report.job_id).is_dir()  # submitit's folder
    manifest = json.loads((slurm_sample.layout.stage_dir / "manifest.json").read_text())
    for spec in slurm_sample.config.datasets:
        assert manifest["datasets"][spec.name]["docs_out"] == len(
            read_jsonl_folder(slurm_sample.layout.data(spec.name))
        )
    assert (slurm_sample.layout.stage_dir / "report.html").stat().st_size > 0


def test_relaunch_after_success_queues_nothing(slurm_sample, capsys):
    before = ledger.read(slurm_sample.layout.ledger)
    code, out = slurm_sample.relaunch(capsys, cluster="dev-slurm")
    assert code == 0
    assert "nothing to submit" in out
    assert ledger.read(slurm_sample.layout.ledger) == before


def test_unknown_partition_exits_2_and_queues_nothing(dev_slurm, tmp_path, capsys):
    queued = _queue_size()
    out = tmp_path / "out"
    code = main(
        [
            "--config",
            str(ROOT / "configs/sample.yaml"),
            "--cluster",
            "dev-slurm",
            "--output",
            str(out),
            "--partition",
            "no-such-partition",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-partition" in err and "partition" in err
    assert not out.exists()
    assert _queue_size() == queued


def test_test_only_checks_each_script_with_slurm(dev_slurm, tmp_path, capsys):
    code = main(
        [
            "--config",
            str(ROOT / "configs/sample.yaml"),
            "--cluster",
            "dev-slurm",
            "--output",
            str(tmp_path),
            "--dry-run",
            "--test-only",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("#!/bin/bash") == 15
    assert out.count("sbatch --test-only: ") == 15 and "to start at" in out
    assert not any(tmp_path.iterdir())


_STARTED = re.compile(r" at (\S+), restart")


def _start_times(logs: Path) -> list[datetime]:
    times = []
    for file in (logs / "slurm_logs").glob("*.out"):
        times += [datetime.fromisoformat(m.group(1)) for m in _STARTED.finditer(file.read_text())]
    return times


def test_a_step_split_into_several_arrays_gates_its_dependent_on_all_of_them(dev_slurm, tmp_path):
    sources = [p for p in sorted((ROOT / "src" / "smolprep").rglob("*.py")) if p.read_text().strip()][:14]
    for i in range(7):
        write_jsonl(
            tmp_path / "code" / f"part-{i}.jsonl",
            [{"id": f"{i}-{j}", "text": sources[2 * i + j].read_text()} for j in range(2)],
        )
    config = tmp_path / "split.yaml"
    config.write_text(
        "name: split\nminhash: {num_buckets: 2}\ndatasets:\n  - {name: code, path: code, kind: code, tasks: 7}\n"
    )
    profile = tmp_path / "tiny-arrays.yaml"
    profile.write_text(
        (ROOT / "cluster" / "dev-slurm.yaml").read_text().replace("max_array_size: 1001", "max_array_size: 3")
    )

    run = run_stage(config, tmp_path / "out", None, str(profile), ["--wait"])

    assert run.exit_code == 0
    entries = ledger.read(run.layout.ledger)
    filter_jobs = [e for e in entries if e.step == "filter"]
    assert [(e.chunk, e.array, e.ranks) for e in filter_jobs] == [
        (0, "0-2", [0, 1, 2]),
        (1, "0-2", [3, 4, 5]),
        (2, "0-0", [6]),
    ]
    upstream_done = max(p.stat().st_mtime for p in run.layout.completions("code", "filter").iterdir())
    downstream = _start_times(run.layout.logs("code", "minhash-signatures"))
    assert len(downstream) == 7
    assert min(t.timestamp() for t in downstream) >= upstream_done
    assert len(read_jsonl_folder(run.layout.data("code"))) == 14
    assert json.loads((run.layout.logs("code", "filter") / "ranks_to_run.json").read_text()) == list(range(7))


def test_a_failed_step_cancels_its_dependents_and_spares_other_datasets(dev_slurm, tmp_path):
    write_jsonl(tmp_path / "good" / "part-0.jsonl", [{"id": "a", "text": "def f():\n    return 1\n"}])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "part-0.jsonl.gz").write_bytes(b"this is not gzip\n")  # the filter task will crash
    config = tmp_path / "failing.yaml"
    config.write_text(
        "name: failing\nminhash: {num_buckets: 1}\ndatasets:\n"
        "  - {name: bad, path: bad, kind: code, tasks: 1}\n"
        "  - {name: good, path: good, kind: code, tasks: 1}\n"
    )

    run = run_stage(config, tmp_path / "out", None, "dev-slurm", ["--wait"])

    assert run.exit_code == 1
    job_ids = {e.job_id for e in ledger.read(run.layout.ledger)}
    listed = subprocess.run(
        ["squeue", "-h", "--array", "-o", "%F"], capture_output=True, text=True, check=True
    )
    assert not job_ids & set(listed.stdout.split()), "a job of the stage is still queued behind a failure"
    assert not run.layout.completed_ranks("bad", "filter")
    assert not run.layout.completed_ranks("bad", "minhash-signatures")
    assert len(read_jsonl_folder(run.layout.data("good"))) == 1


def _code_stage(tmp_path, tasks: int) -> Path:
    sources = [p for p in sorted((ROOT / "src" / "smolprep").rglob("*.py")) if p.read_text().strip()][:8]
    for i, source in enumerate(sources):
        write_jsonl(tmp_path / "code" / f"part-{i}.jsonl", [{"id": str(i), "text": source.read_text()}])
    config = tmp_path / "packed.yaml"
    config.write_text(
        f"name: packed\nminhash: {{num_buckets: 2}}\ndatasets:\n  - {{name: code, path: code, kind: code, tasks: {tasks}}}\n"
    )
    return config


def test_a_tight_queue_limit_packs_several_ranks_per_array_task(dev_slurm, tmp_path):
    config = _code_stage(tmp_path, 4)  # 4 + 4 + 2 + 1 + 4 = 15 tasks
    profile = tmp_path / "tight.yaml"
    profile.write_text((ROOT / "cluster" / "dev-slurm.yaml").read_text() + "max_queued_tasks: 10\n")
    run = run_stage(config, tmp_path / "out", None, str(profile), ["--wait"])
    assert run.exit_code == 0
    entries = [e for e in ledger.read(run.layout.ledger) if e.step != "report"]
    assert {e.tasks_per_job for e in entries if e.step != "minhash-cluster"} == {2}
    assert sum(int(e.array.split("-")[1]) + 1 for e in entries) <= 10
    assert len(read_jsonl_folder(run.layout.data("code"))) == 8
    assert all(
        len(run.layout.completed_ranks("code", s)) == n for s, n in (("filter", 4), ("minhash-buckets", 2))
    )


def test_a_stage_that_does_not_fit_the_queue_is_submitted_in_waves(dev_slurm, tmp_path):
    config = _code_stage(tmp_path, 4)  # 15 tasks; at most 3 array tasks of 2 ranks may be queued
    profile = tmp_path / "tiny.yaml"
    profile.write_text(
        (ROOT / "cluster" / "dev-slurm.yaml").read_text() + "max_queued_tasks: 3\nmax_tasks_per_job: 2\n"
    )
    args = ["--config", str(config), "--cluster", str(profile), "--output", str(tmp_path / "out"), "--wait"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), *args], stdout=subprocess.PIPE, text=True
    )
    peak = 0
    while proc.poll() is None:
        ids = {
            e.job_id
            for e in ledger.read(tmp_path / "out" / "packed" / "jobs.jsonl")
            if e.step not in ("report",)
        }
        lines = subprocess.run(
            ["squeue", "-h", "--array", "-o", "%F|%i"], capture_output=True, text=True
        ).stdout.split()
        peak = max(peak, sum(len(expand(line.split("|")[1])) for line in lines if line.split("|")[0] in ids))
        time.sleep(0.3)
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0, out
    assert "submitted in waves" in out
    assert 0 < peak <= 3
    entries = [
        e for e in ledger.read(tmp_path / "out" / "packed" / "jobs.jsonl") if e.step not in ("report",)
    ]
    # arrays of at most 3 - 2 indices: the report and driver jobs share the limit
    assert sorted((e.step, e.array) for e in entries if e.step == "filter") == [("filter", "0-0")] * 2
    assert len(read_jsonl_folder(tmp_path / "out" / "packed" / "data" / "code")) == 8


def expand(job: str) -> list[int]:
    from smolprep.slurm.query import QueueEntry
    from smolprep.state.status import queued_indices

    return queued_indices(QueueEntry("", job, "", "", "")) or [0]


def test_without_wait_a_driver_job_submits_the_waves(dev_slurm, tmp_path):
    config = _code_stage(tmp_path, 4)
    profile = tmp_path / "tiny.yaml"
    profile.write_text(
        (ROOT / "cluster" / "dev-slurm.yaml").read_text() + "max_queued_tasks: 4\nmax_tasks_per_job: 2\n"
    )
    args = ["--config", str(config), "--cluster", str(profile), "--output", str(tmp_path / "out")]
    launched = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert "wave driver job" in launched.stdout
    stage_dir = tmp_path / "out" / "packed"
    assert (stage_dir / "driver.json").is_file()
    again = subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True)
    assert again.returncode == 0 and "Nothing submitted" in again.stdout  # the driver owns the stage
    status = json.loads(
        subprocess.run(
            [sys.executable, str(ROOT / "launch.py"), "status", *args, "--json"],
            capture_output=True,
            text=True,
        ).stdout
    )
    assert any(step["state"] == "waiting" for step in status["datasets"]["code"].values()) or status["done"]
    deadline = time.monotonic() + 300
    while (stage_dir / "driver.json").exists() and time.monotonic() < deadline:
        time.sleep(1)
    waited = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *args, "--wait"], capture_output=True, text=True
    )
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert len(read_jsonl_folder(stage_dir / "data" / "code")) == 8
    steps = [e.step for e in ledger.read(stage_dir / "jobs.jsonl")]
    assert steps.count("driver") == 1 and steps.count("filter") == 1
