"""Cause-aware retries on the fake Slurm (the real executors and markers; the cluster simulated): `--wait`
applies the profile's retry policy on its own, records each attempt's resources in the ledger, stops at
`max_attempts`, never re-runs a task whose cause has no rule; `resubmit` applies the policy too; `status`
names each failed task's cause and where it was learnt."""

from __future__ import annotations

import functools
import json

import pytest
from submitit.core.utils import DelayedSubmission

from smolprep import launching
from smolprep.cli import main
from smolprep.slurm import monitor, waves
from smolprep.state import ledger
from smolprep.state.layout import RunLayout
from tests.fakes.slurm import FakeJob, FakeSlurm, directives
from tests.fakes.stage import write_stage


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(
        launching, "wait_for_stage", functools.partial(monitor.wait_for_stage, first_poll=0.01, max_poll=0.05)
    )


def _runner(fails):
    """A tick that runs every runnable task; `fails(job, index)` gives the state of those that fail."""

    def tick(fake: FakeSlurm) -> None:
        while ready := fake.runnable():
            job, index = ready[0]
            fake.finish(job.job_id, index, fails(job, index) or "COMPLETED")

    return tick


def _rank_1_of_code_filter(job: FakeJob, index: int) -> bool:
    return job.name.endswith("-code-filter") and 1 in job.ranks(index)


def _attempts(files, dataset: str, step: str, rank: int) -> list[dict]:
    layout = RunLayout(files.output, "fake")
    return [e.resources for e in ledger.attempts_of(ledger.read(layout.ledger), dataset, step)[rank]]


def _status(files, fake, capsys) -> dict:
    capsys.readouterr()
    assert main(files.argv("status", "--json"), slurm=fake) == 0
    return json.loads(capsys.readouterr().out)


def test_wait_reruns_an_out_of_memory_task_with_twice_the_memory_and_the_stage_completes(tmp_path, capsys):
    files = write_stage(tmp_path)

    def fails(job: FakeJob, index: int) -> str | None:
        small = job.resources()[2] == "1G"
        return "OUT_OF_MEMORY" if _rank_1_of_code_filter(job, index) and small else None

    fake = FakeSlurm(accounting=True, tick=_runner(fails))
    assert main(files.argv(None, "--wait"), slurm=fake) == 0
    out = capsys.readouterr().out
    assert "retry policy: code/filter rank 1: OUT_OF_MEMORY: retry 2 of 3 with mem_per_cpu 2G" in out
    assert [a["mem_per_cpu"] for a in _attempts(files, "code", "filter", 1)] == ["1G", "2G"]
    assert [a["mem_per_cpu"] for a in _attempts(files, "code", "filter", 0)] == ["1G"]  # done the first time
    rerun = [j for j in fake.jobs.values() if j.name.endswith("-code-filter")][-1]
    assert rerun.resources()[2] == "2G" and list(rerun.states) == [0]  # one array task: rank 1 only
    status = _status(files, fake, capsys)
    assert status["done"] is True
    attempts = status["datasets"]["code"]["filter"]["attempts"]["1"]
    assert [a["resources"]["mem_per_cpu"] for a in attempts] == ["1G", "2G"]


def test_attempts_are_capped_and_the_last_cause_is_given(tmp_path, capsys):
    files = write_stage(tmp_path)
    fake = FakeSlurm(
        accounting=True, tick=_runner(lambda j, i: "OUT_OF_MEMORY" if _rank_1_of_code_filter(j, i) else None)
    )
    assert main(files.argv(None, "--wait"), slurm=fake) == 1
    assert [a["mem_per_cpu"] for a in _attempts(files, "code", "filter", 1)] == ["1G", "2G", "4G"]
    out = capsys.readouterr().out
    last = "OUT_OF_MEMORY (max RSS 0.01 GiB of 4.00 GiB)"  # the last attempt's cause, as sacct gave it
    assert f"code/filter rank 1: {last}: 3 attempts made (max_attempts 3): not retried" in out
    step = _status(files, fake, capsys)["datasets"]["code"]["filter"]
    assert step["causes"]["1"]["state"] == "OUT_OF_MEMORY" and step["causes"]["1"]["source"] == "sacct"
    assert step["retry"]["1"] == {
        "attempts": 3,
        "retry": False,
        "reason": f"{last}: 3 attempts made (max_attempts 3): not retried",
    }
    assert _status(files, fake, capsys)["datasets"]["notes"]["filter"]["state"] == "done"


def test_a_failure_without_a_rule_is_never_rerun_blindly_but_resubmit_reruns_it(tmp_path, capsys):
    files = write_stage(tmp_path)
    broken = {"yes": True}
    fake = FakeSlurm(
        accounting=True,
        tick=_runner(lambda j, i: "FAILED" if broken["yes"] and _rank_1_of_code_filter(j, i) else None),
    )
    assert main(files.argv(None, "--wait"), slurm=fake) == 1
    assert len(_attempts(files, "code", "filter", 1)) == 1  # not re-run by --wait
    out = capsys.readouterr().out
    assert (
        "code/filter rank 1: FAILED: no retry rule" in out and "--dataset code --step filter --rank 1" in out
    )
    capsys.readouterr()
    assert main(files.argv("status"), slurm=fake) == 0
    out = capsys.readouterr().out
    assert "FAILED" in out and "not retried by the policy" in out and "read their logs" in out
    broken["yes"] = False  # the person fixed it: resubmit runs it again, with the resources it had
    assert main(files.argv("resubmit", "--wait"), slurm=fake) == 0
    assert [a["mem_per_cpu"] for a in _attempts(files, "code", "filter", 1)] == ["1G", "1G"]
    assert _status(files, fake, capsys)["done"] is True


def test_resubmit_applies_the_policy_to_what_failed(tmp_path, capsys):
    files = write_stage(tmp_path, 'max_array_size: 1001\nretry: {TIMEOUT: {time: "+00:30:00"}}\n')
    fake = FakeSlurm(accounting=True)
    assert main(files.argv(), slurm=fake) == 0
    fake.run_all(fails=lambda j, i: _rank_1_of_code_filter(j, i))
    (job,) = [j for j in fake.jobs.values() if j.name.endswith("-code-filter")]
    index = next(i for i in job.states if 1 in job.ranks(i))
    job.states[index] = "TIMEOUT"  # the fake failed it; Slurm's word for it: TIMEOUT
    capsys.readouterr()
    assert main(files.argv("resubmit"), slurm=fake) == 0
    assert "code/filter rank 1: TIMEOUT: retry 2 of 3 with time 01:00:00" in capsys.readouterr().out
    assert [a["time"] for a in _attempts(files, "code", "filter", 1)] == ["00:30:00", "01:00:00"]


def test_status_names_the_cause_and_where_it_came_from(tmp_path, capsys):
    files = write_stage(tmp_path)
    fake = FakeSlurm(accounting=False)  # no sacct: the controller is asked, then the task's own records
    assert main(files.argv(), slurm=fake) == 0
    fake.run_all(fails=lambda j, i: _rank_1_of_code_filter(j, i))
    (job,) = [j for j in fake.jobs.values() if j.name.endswith("-code-filter")]
    index = next(i for i in job.states if 1 in job.ranks(i))
    job.states[index] = "NODE_FAIL"
    cause = _status(files, fake, capsys)["datasets"]["code"]["filter"]["causes"]["1"]
    assert (cause["state"], cause["source"]) == ("NODE_FAIL", "scontrol")
    fake.forgotten.add(job.job_id)  # past MinJobAge: only the run directory remembers
    layout = RunLayout(files.output, "fake")
    log = layout.slurm_log("code", "filter", job.job_id, index)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        "slurmstepd: error: *** JOB 9 ON n1 CANCELLED AT 2026-11-30T07:00:00 DUE TO TIME LIMIT ***\n"
    )
    cause = _status(files, fake, capsys)["datasets"]["code"]["filter"]["causes"]["1"]
    assert (cause["state"], cause["source"]) == ("TIMEOUT", "Slurm log")
    log.unlink()
    cause = _status(files, fake, capsys)["datasets"]["code"]["filter"]["causes"]["1"]
    assert cause["state"] == "UNKNOWN"


def test_the_wave_driver_applies_the_policy_on_its_own(tmp_path, monkeypatch, capsys):
    """A stage that goes in waves: the driver job, run as the node runs it, submits every wave, waits, and
    submits the out-of-memory task again with twice the memory; the stage completes without a person."""
    files = write_stage(tmp_path, "max_array_size: 1001\nmax_queued_tasks: 4\nmax_tasks_per_job: 1\n")

    def fails(job: FakeJob, index: int) -> str | None:
        return "OUT_OF_MEMORY" if _rank_1_of_code_filter(job, index) and job.resources()[2] == "1G" else None

    fake = FakeSlurm(accounting=True)
    assert main(files.argv(), slurm=fake) == 0
    (driver,) = [job for job in fake.jobs.values() if job.name.endswith("-driver")]
    layout = RunLayout(files.output, "fake")
    call = DelayedSubmission.load(
        layout.stage_dir / "logs" / "driver" / driver.job_id / f"{driver.job_id}_submitted.pkl"
    )
    assert directives(driver.script)["time"] == str(
        3 * 24 * 60
    )  # the profile's driver_time (default), minutes
    fake.start(driver.job_id)  # the driver runs: it is never waited for by itself
    fake.tick = _runner(fails)
    monkeypatch.setattr(waves.time, "sleep", lambda seconds: None)
    assert "submitted the waves" in call.function(*call.args, slurm=fake)
    assert [a["mem_per_cpu"] for a in _attempts(files, "code", "filter", 1)] == ["1G", "2G"]
    assert fake.peak_queued <= 4 + 1  # the driver job itself is the one above the limit
    assert _status(files, fake, capsys)["done"] is True


def test_status_efficiency_gives_each_steps_figures_and_suggestions(tmp_path, capsys):
    files = write_stage(tmp_path)
    fake = FakeSlurm(accounting=True, tick=_runner(lambda j, i: None))
    assert main(files.argv(None, "--wait"), slurm=fake) == 0
    capsys.readouterr()
    assert main(files.argv("status", "--efficiency", "--json"), slurm=fake) == 0
    steps = {(e["dataset"], e["step"]): e for e in json.loads(capsys.readouterr().out)}
    assert set(steps) == {
        (d, s)
        for d, s in (
            ("code", "filter"),
            ("code", "minhash-signatures"),
            ("code", "minhash-buckets"),
            ("code", "minhash-cluster"),
            ("code", "minhash-filter"),
            ("notes", "filter"),
        )
    }
    assert all(e["source"] == "sacct" and e["tasks_measured"] > 0 and e["suggested"] for e in steps.values())
    assert main(files.argv("status", "--efficiency"), slurm=fake) == 0
    out = capsys.readouterr().out
    assert "code/minhash-cluster" in out and "Suggested profile values" in out and "mem_per_cpu" in out
