"""Job records and submit limits through both clients: the fake Slurm (records of the tasks it ran, the
association limit it enforces, the launcher planning the stage under that limit) and `RealSlurm` on stub
commands (the sacct, scontrol and sacctmgr command lines it runs and what it makes of their failures)."""

from __future__ import annotations

import dataclasses

import pytest

from smolprep.launching import fit_to_cluster
from smolprep.slurm.client import RealSlurm, submit_user
from smolprep.slurm.errors import SbatchBusy, SlurmQueryError
from smolprep.slurm.query import ASSOC_FORMAT, QOS_FORMAT, SACCT_FORMAT, JobRecord
from smolprep.slurm.waves import run_waves
from tests.fakes.slurm import FAKE_RSS, FakeSlurm
from tests.fakes.stage import slurm_stage, write_stage

SCRIPT = """\
#!/bin/bash
#SBATCH --job-name=smolprep-fake-code-filter
#SBATCH --array=0-2
#SBATCH --time=00:30:00
#SBATCH --cpus-per-task=2
#SBATCH --mem-per-cpu=1G
true
"""


def test_the_fake_records_what_its_tasks_did():
    fake = FakeSlurm(accounting=True)
    job = fake.sbatch(SCRIPT)
    fake.finish(job, 0)
    fake.finish(job, 1, "OUT_OF_MEMORY")
    records = fake.job_records([job])
    assert records is not None and sorted(records) == [f"{job}_{i}" for i in range(3)]
    done, oom, pending = (records[f"{job}_{i}"] for i in range(3))
    assert (done.state, done.exit_code, oom.state, oom.signal, pending.state) == (
        "COMPLETED",
        0,
        "OUT_OF_MEMORY",
        125,
        "PENDING",
    )
    assert done.req_mem_bytes == 2 * 2**30 and done.time_limit_seconds == 1800 and done.alloc_cpus == 2
    assert done.max_rss_bytes == int(FAKE_RSS.removesuffix("K")) * 1024 and pending.max_rss_bytes is None
    assert (pending.node, done.node) == (None, "fake-node")
    assert fake.accounting([job]) == {
        f"{job}_0": "COMPLETED",
        f"{job}_1": "OUT_OF_MEMORY",
        f"{job}_2": "PENDING",
    }
    assert fake.job_records([f"{job}_1"]) == {f"{job}_1": oom}  # one array task by its own name
    assert fake.job_records(["999"]) == {}


def test_a_test_sets_records_and_the_controller_forgets_jobs():
    fake = FakeSlurm(accounting=True)
    job = fake.sbatch(SCRIPT)
    requeued = JobRecord(f"{job}_2", "NODE_FAIL", history=("PREEMPTED",), restarts=1)
    fake.records[requeued.job_id] = requeued
    records = fake.job_records([job]) or {}
    assert records[f"{job}_2"] == requeued and records[f"{job}_0"].state == "PENDING"
    controller = fake.controller_records([job])
    assert sorted(controller) == [f"{job}_{i}" for i in range(3)]
    assert controller[f"{job}_0"].req_mem_bytes == 2 * 2**30 and controller[f"{job}_0"].node is None
    fake.forgotten.add(job)
    assert fake.controller_records([job]) == {}


def test_without_accounting_there_are_no_records_nor_submit_limits():
    fake = FakeSlurm(max_submit_jobs=1)
    job = fake.sbatch(SCRIPT)
    assert fake.job_records([job]) is None and fake.accounting([job]) is None
    assert fake.submit_limits("alice") is None
    assert fake.controller_records([job]) != {}  # the controller needs no slurmdbd


def test_the_fakes_association_limit_is_reported_and_enforced_busy():
    fake = FakeSlurm(accounting=True, max_submit_jobs=4)
    limits = fake.submit_limits("alice", "physics")
    assert limits is not None
    assert [limit.describe() for limit in limits.submit()] == ["association alice/physics MaxSubmitJobs 4"]
    fake.sbatch(SCRIPT)
    with pytest.raises(SbatchBusy) as busy:
        fake.sbatch(SCRIPT)  # 3 + 3 array tasks > 4
    assert "AssocMaxSubmitJobLimit" in busy.value.said


def test_the_launcher_plans_under_the_users_submit_limit_and_waves_never_pass_it(tmp_path):
    files = write_stage(tmp_path, "max_array_size: 1001\nmax_tasks_per_job: 1\n")
    fake = FakeSlurm(accounting=True, max_submit_jobs=5, tick=lambda f: f.run_all(limit=1))
    target, resources = slurm_stage(files, fake)
    assert target.fit is not None and target.fit.fits  # MaxJobCount alone: 14 tasks fit at once
    fit = fit_to_cluster(target, fake)
    assert "sacctmgr" in fake.calls and "scontrol show config" in fake.calls
    assert (fit.limits.max_queued_tasks, fit.fits, fit.peak_queued) == (5, False, 14)
    assert f"MaxSubmitJobs 5 (association {submit_user()}/root)" in fit.explain()
    outcome = run_waves(dataclasses.replace(target, fit=fit), resources, fake, poll=0)
    fake.run_all()
    assert [s.state for s in outcome.steps] == ["submitted"] * 6 and fake.peak_queued <= 5
    for s in target.plan.steps:
        assert target.layout.completed_ranks(s.dataset, s.step) == set(range(s.tasks)), s.key


# --- RealSlurm on stub commands -----------------------------------------------------------------------------

SACCT_OUT = "77_0|COMPLETED|0:0||00:00:05|00:30:00|2G|00:04.000|2|n1\n77_0.batch|COMPLETED|0:0|2048K|00:00:05||2G|00:04.000|2|n1\n"
SCONTROL_OUT = "JobId=78 ArrayJobId=77 ArrayTaskId=1 JobState=FAILED Reason=NonZeroExitCode ExitCode=2:0 RunTime=00:00:03 TimeLimit=00:30:00 Restarts=0 NodeList=n1 NumNodes=1 NumCPUs=2 MinMemoryCPU=1G"


def _answering(tmp_path, monkeypatch, name: str, body: str):
    """The only Slurm command on PATH: `name`, which notes its arguments and runs `body` (POSIX sh)."""
    seen, bin_dir = tmp_path / "seen", tmp_path / "bin"
    seen.mkdir(exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    command = bin_dir / name
    command.write_text(f'#!/bin/sh\necho "$*" >> {seen}/{name}\n{body}\n')
    command.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return seen / name


def test_real_job_records_run_sacct_with_steps_and_duplicates(tmp_path, monkeypatch):
    args = _answering(tmp_path, monkeypatch, "sacct", f"printf '{SACCT_OUT}'")
    records = RealSlurm().job_records(["77", "76", "77"])
    assert records is not None and records["77_0"].max_rss_bytes == 2048 * 1024
    assert args.read_text() == f"-n -P --duplicates -o {SACCT_FORMAT} -j 76,77\n"
    assert RealSlurm().accounting(["77"]) == {"77_0": "COMPLETED"}
    assert RealSlurm().job_records([]) == {}


def test_real_job_records_are_none_without_accounting(tmp_path, monkeypatch):
    _answering(tmp_path, monkeypatch, "sacct", "echo 'Slurm accounting storage is disabled' >&2; exit 1")
    assert RealSlurm().job_records(["77"]) is None and RealSlurm().accounting(["77"]) is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert RealSlurm().job_records(["77"]) is None


def test_real_controller_records_skip_forgotten_jobs_but_not_a_down_controller(tmp_path, monkeypatch):
    body = (
        f'case "$*" in *" 77") echo "{SCONTROL_OUT}";; '
        '*" 76") echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1;; '
        '*" 79_3") echo "JobId=79 ArrayJobId=79 ArrayTaskId=2-5 JobState=PENDING Reason=Priority";; '
        '*) echo "slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2; exit 1;; esac'
    )
    args = _answering(tmp_path, monkeypatch, "scontrol", body)
    records = RealSlurm().controller_records(["77", "76"])
    assert list(records) == ["77_1"] and (records["77_1"].state, records["77_1"].exit_code) == ("FAILED", 2)
    assert args.read_text() == "show job -o 76\nshow job -o 77\n"
    assert list(RealSlurm().controller_records(["79_3"])) == ["79_3"]  # not the rest of the pending range
    with pytest.raises(SlurmQueryError) as down:
        RealSlurm().controller_records(["75"])
    assert "Unable to contact slurm controller" in str(down.value)


def test_real_submit_limits_ask_sacctmgr_for_the_association_and_the_qos(tmp_path, monkeypatch):
    body = (
        'case "$*" in *assoc*) echo "alice|physics|||40|||normal,high|normal";; '
        '*qos*) echo "high||8||||"; echo "normal||200||||";; esac'
    )
    args = _answering(tmp_path, monkeypatch, "sacctmgr", body)
    limits = RealSlurm().submit_limits("alice", "physics", "high")
    assert limits is not None
    assert [r.describe() for r in limits.limits] == [
        "association alice/physics MaxSubmitJobs 40",
        "QOS high MaxSubmitJobsPerUser 8",
    ]
    assert args.read_text().splitlines() == [
        f"-n -P show assoc where user=alice account=physics format={ASSOC_FORMAT}",
        f"-n -P show qos high format={QOS_FORMAT}",
    ]
    default = RealSlurm().submit_limits("alice")
    assert (
        default is not None
        and [r.describe() for r in default.limits][-1] == "QOS normal MaxSubmitJobsPerUser 200"
    )
    assert args.read_text().splitlines()[-2:] == [
        f"-n -P show assoc where user=alice format={ASSOC_FORMAT}",
        f"-n -P show qos format={QOS_FORMAT}",
    ]


def test_real_submit_limits_are_none_without_slurmdbd_or_sacctmgr(tmp_path, monkeypatch):
    no_dbd = "sacctmgr: error: Problem talking to the database: Connection refused"
    _answering(tmp_path, monkeypatch, "sacctmgr", f"echo '{no_dbd}' >&2; exit 1")
    assert RealSlurm().submit_limits("alice") is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert RealSlurm().submit_limits("alice") is None
