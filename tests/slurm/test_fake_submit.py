"""Submission and resubmission on the fake Slurm (tests/fakes/slurm.py): which arrays are queued, with
which dependencies and ranks, that nothing is queued twice, and that a resubmit re-runs only the failed
ranks and re-wires the steps after them. The executors and markers are real; only the cluster is not."""

from __future__ import annotations

import json

import pytest

from smolprep.cli import main
from smolprep.launching import submit_driver_job
from smolprep.slurm.observe import gather_status
from smolprep.slurm.submit import submit_stage
from smolprep.state import ledger
from tests.fakes.slurm import FakeSlurm, directives
from tests.fakes.stage import slurm_stage, write_stage

STEPS = ("filter", "minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")


@pytest.fixture
def files(tmp_path):
    return write_stage(tmp_path, "max_array_size: 2\n")


def _complete(target) -> dict[tuple[str, str], bool]:
    return {
        (s.dataset, s.step): target.layout.completed_ranks(s.dataset, s.step) == set(range(s.tasks))
        for s in target.plan.steps
    }


def _jobs(outcome, dataset: str, step: str) -> list[str]:
    (found,) = [s for s in outcome.steps if (s.dataset, s.step) == (dataset, step)]
    return found.job_ids


def test_every_step_is_queued_afterok_on_every_array_of_the_step_before(files):
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake)
    outcome = submit_stage(target, resources, fake)
    assert [s.state for s in outcome.steps] == ["submitted"] * 6 and not outcome.report_error
    for dataset, steps in (("code", STEPS), ("notes", ("filter",))):
        before: list[str] = []
        for step in steps:
            job_ids = _jobs(outcome, dataset, step)
            for job_id in job_ids:
                job = fake.jobs[job_id]
                assert job.name == f"smolprep-fake-{dataset}-{step}"
                assert job.after == [("afterok", j) for j in before] and job.kill_on_invalid_dep
            before = job_ids
    # code/filter has 3 tasks: arrays of at most 2 (MaxArraySize in the profile), the ledger says which ranks
    entries = [e for e in ledger.read(target.layout.ledger) if (e.dataset, e.step) == ("code", "filter")]
    assert [(e.array, e.ranks) for e in entries] == [("0-1", [0, 1]), ("0-0", [2])]
    assert [sorted(fake.jobs[e.job_id].states) for e in entries] == [[0, 1], [0]]
    report = fake.jobs[outcome.report_job]
    assert report.after == [("afterany", j) for j in outcome.last_jobs] and report.kill_on_invalid_dep
    assert sorted(outcome.last_jobs) == sorted(
        [*_jobs(outcome, "code", "minhash-filter"), *_jobs(outcome, "notes", "filter")]
    )


def test_running_every_task_completes_every_rank_of_every_step(files):
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake)
    submit_stage(target, resources, fake)
    assert fake.run_all() == 15  # 14 array tasks and the report job
    assert all(_complete(target).values())
    status = gather_status(target.layout, target.plan, fake)
    assert status.done
    relaunch = submit_stage(target, resources, fake)
    assert {s.state for s in relaunch.steps} == {"complete"} and relaunch.report_job is None


def test_a_relaunch_while_the_stage_is_queued_submits_nothing_twice(files):
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake)
    first = submit_stage(target, resources, fake)
    fake.run_all(limit=2)  # the first array of code/filter ran, the rest waits in the queue
    sbatches = fake.calls.count("sbatch")
    again = submit_stage(target, resources, fake)
    assert {s.state for s in again.steps} == {"queued-already"}
    assert again.steps[0].job_ids == first.steps[0].job_ids[1:]  # the array still queued
    assert [s.job_ids for s in again.steps[1:]] == [s.job_ids for s in first.steps[1:]]
    assert fake.calls.count("sbatch") == sbatches and again.report_job is None


def test_a_job_queued_although_sbatch_timed_out_is_found_by_its_tag_and_not_queued_twice(files):
    fake = FakeSlurm()
    fake.lose_answers = 1
    target, resources = slurm_stage(files, fake)
    outcome = submit_stage(target, resources, fake)
    assert [s.state for s in outcome.steps] == ["submitted"] * 6
    assert "squeue comments" in fake.calls and len(fake.jobs) == fake.calls.count("sbatch")
    first = next(e for e in ledger.read(target.layout.ledger) if (e.dataset, e.step) == ("code", "filter"))
    assert fake.jobs[first.job_id].comment == first.tag  # the job sbatch queued before it lost the answer


def test_a_failed_task_cancels_its_dependents_and_resubmit_reruns_only_its_ranks(files):
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake)
    first = submit_stage(target, resources, fake)
    filter_job = _jobs(first, "code", "filter")[0]
    fake.run_all(fails=lambda job, index: (job.job_id, index) == (filter_job, 1))
    # kill-on-invalid-dep: every later step of code is cancelled; notes is independent and finished
    for step in STEPS[1:]:
        assert all(
            fake.jobs[j].states == dict.fromkeys(fake.jobs[j].states, "CANCELLED")
            for j in _jobs(first, "code", step)
        )
    status = {(s.dataset, s.step): s for s in gather_status(target.layout, target.plan, fake).steps}
    assert status[("code", "filter")].failed_ranks == [1] and status[("code", "filter")].completed == 2
    assert status[("notes", "filter")].state == "done"

    again = submit_stage(target, resources, fake)
    states = {(s.dataset, s.step): s.state for s in again.steps}
    assert states == {**{("code", step): "submitted" for step in STEPS}, ("notes", "filter"): "complete"}
    (rerun,) = _jobs(again, "code", "filter")
    assert json.loads((target.layout.logs("code", "filter") / "ranks_to_run.json").read_text()) == [1]
    assert list(fake.jobs[rerun].states) == [0]  # one array task, for rank 1 only
    signatures = _jobs(again, "code", "minhash-signatures")
    assert all(fake.jobs[j].after == [("afterok", rerun)] for j in signatures)
    fake.run_all()
    assert all(_complete(target).values())


def test_a_resubmitted_step_cancels_and_requeues_dependents_still_waiting_on_old_jobs(files):
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake)
    first = submit_stage(target, resources, fake)
    for job_id in _jobs(first, "code", "filter"):
        for index in list(fake.jobs[job_id].states):
            fake.finish(job_id, index)
    (target.layout.completions("code", "filter") / "00002").unlink()  # a rank without its marker
    old_signatures = _jobs(first, "code", "minhash-signatures")
    assert all(fake.jobs[j].active() for j in old_signatures)  # still queued behind the old filter jobs
    again = submit_stage(target, resources, fake)
    assert f"scancel {' '.join(old_signatures)}" in fake.calls
    assert all(not fake.jobs[j].active() for j in old_signatures)
    (rerun,) = _jobs(again, "code", "filter")
    new_signatures = _jobs(again, "code", "minhash-signatures")
    assert set(new_signatures).isdisjoint(old_signatures)
    assert all(fake.jobs[j].after == [("afterok", rerun)] for j in new_signatures)
    fake.run_all()
    assert all(_complete(target).values())


def test_the_report_and_driver_jobs_are_submitit_jobs_queued_through_the_client(files):
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake)
    outcome = submit_stage(target, resources, fake)
    driver = submit_driver_job(target, {"partition": "cpu"}, False, fake)
    for job_id, role in ((outcome.report_job, "report"), (driver, "driver")):
        folder = target.layout.stage_dir / "logs" / role / job_id
        assert (folder / f"{job_id}_submitted.pkl").is_file()  # what the node's submitit loads
        assert (folder / f"{job_id}_submission.sh").read_text() == fake.jobs[job_id].script
        options = directives(fake.jobs[job_id].script)
        assert options["job-name"] == f"smolprep-fake-{role}" and options["partition"] == "cpu"
        assert (
            f"-m submitit.core._submit {target.layout.stage_dir / 'logs' / role / '%j'}"
            in fake.jobs[job_id].script
        )
    assert "dependency" not in directives(fake.jobs[driver].script)
    assert "kill-on-invalid-dep" not in directives(fake.jobs[driver].script)
    assert [(e.step, e.job_id) for e in ledger.read(target.layout.ledger) if e.dataset == "*"] == [
        ("report", outcome.report_job),
        ("driver", driver),
    ]


def test_launch_status_cancel_and_resubmit_through_the_command_line(files, capsys):
    fake = FakeSlurm()
    assert main(files.argv(), slurm=fake) == 0
    assert "sbatch --test-only" in fake.calls and "scontrol show config" in fake.calls
    first_jobs = set(fake.jobs)
    fake.run_all(fails=lambda job, index: job.name == "smolprep-fake-notes-filter" and index == 0)
    capsys.readouterr()
    assert main(files.argv("status", "--json"), slurm=fake) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["datasets"]["notes"]["filter"]["failed_ranks"] == [0]
    assert status["datasets"]["code"]["minhash-filter"]["state"] == "done"
    assert main(files.argv("resubmit"), slurm=fake) == 0
    (rerun,) = set(fake.jobs) - first_jobs - {j for j in fake.jobs if fake.jobs[j].name.endswith("report")}
    assert fake.jobs[rerun].name == "smolprep-fake-notes-filter" and list(fake.jobs[rerun].states) == [0]
    capsys.readouterr()
    assert main(files.argv("cancel"), slurm=fake) == 0
    assert "Cancelled 2 job(s)" in capsys.readouterr().out  # the rerun and its report job
    assert fake.queued_tasks() == 0


def test_force_config_waits_for_no_queued_job_of_the_datasets_it_resets(files, capsys):
    fake = FakeSlurm()
    assert main(files.argv(), slurm=fake) == 0
    code_jobs = sorted({j.job_id for j in fake.jobs.values() if j.name.startswith("smolprep-fake-code-")})
    files.config.write_text(files.config.read_text().replace("tasks: 3", "tasks: 4"))  # code's output changes
    capsys.readouterr()
    assert main(files.argv(None, "--force-config"), slurm=fake) == 2
    err = capsys.readouterr().err
    assert f"queued or running jobs still write ({', '.join(code_jobs)})" in err
    fake.run_all()
    assert main(files.argv(None, "--force-config"), slurm=fake) == 0
    rerun = [
        j
        for j in fake.jobs.values()
        if int(j.job_id) > int(max(code_jobs, key=int)) and j.name.endswith("code-filter")
    ]
    assert [list(j.states) for j in rerun] == [[0, 1], [0, 1]]  # 4 tasks, arrays of at most 2


def test_a_toy_step_of_a_test_registry_is_submitted_and_run_like_any_other(files):
    """The step registry's acceptance on Slurm: a step declared only in a test registry is planned, pickled
    with its own pipeline, queued afterok on the step before it and after every one of its ranks, and
    completes; nothing outside the registry knows it."""
    import dataclasses

    import dill

    from smolprep.pipelines.steps import REGISTRY
    from tests.pipelines.test_steps import TOY, Shout

    toy = dataclasses.replace(TOY, enabled=lambda spec: spec.kind == "code")
    registry = REGISTRY.with_step(toy)
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake, registry)
    assert [s.step for s in target.plan.for_dataset("notes")] == ["filter", "shout"]
    outcome = submit_stage(target, resources, fake)
    before = _jobs(outcome, "code", "minhash-filter")
    for job_id in _jobs(outcome, "code", "shout"):
        assert fake.jobs[job_id].after == [("afterok", j) for j in before]
    assert _jobs(outcome, "code", "shout")[-1] in outcome.last_jobs
    pickled = dill.loads((target.layout.logs("notes", "shout") / "executor.pik").read_bytes())
    assert any(isinstance(block, Shout) for block in pickled.pipeline)
    fake.run_all()
    assert all(_complete(target).values())
    assert gather_status(target.layout, target.plan, fake).done
