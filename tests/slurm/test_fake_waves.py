"""Waves on the fake Slurm: a stage larger than the queue limit is queued part by part as its tasks
finish, never above the limit, each step after every task of the step before, a dataset whose step failed
stops there while the others go on, and a busy controller only delays a wave."""

from __future__ import annotations

import pytest
from submitit.core.utils import DelayedSubmission

from smolprep.cli import main
from smolprep.config.errors import ConfigError
from smolprep.slurm import waves
from smolprep.slurm.submit import SlurmStage
from smolprep.slurm.waves import NoQueueLimit, run_waves
from smolprep.state import ledger
from tests.fakes.slurm import FakeSlurm
from tests.fakes.stage import slurm_stage, write_stage

LIMIT = 3  # array tasks queued at once; the stage has 14


@pytest.fixture
def files(tmp_path):
    return write_stage(tmp_path, f"max_array_size: 1001\nmax_queued_tasks: {LIMIT}\nmax_tasks_per_job: 1\n")


def _finish_order(fake: FakeSlurm, target) -> dict[tuple[str, str], list[int]]:
    """(dataset, step) -> positions in the order the fake finished tasks."""
    names = {
        f"smolprep-{target.stage.name}-{s.dataset}-{s.step}": (s.dataset, s.step) for s in target.plan.steps
    }
    order: dict[tuple[str, str], list[int]] = {}
    for position, (job_id, _, _) in enumerate(fake.history):
        key = names.get(fake.jobs[job_id].name)
        if key:
            order.setdefault(key, []).append(position)
    return order


def test_waves_stay_under_the_queue_limit_and_follow_the_dependencies(files):
    fake = FakeSlurm(tick=lambda f: f.run_all(limit=1))  # one task ends between two looks at the queue
    target, resources = slurm_stage(files, fake)
    assert not target.fit.fits and target.fit.peak_queued == 14
    outcome = run_waves(target, resources, fake, poll=0)
    assert fake.peak_queued <= LIMIT
    assert [s.state for s in outcome.steps] == ["submitted"] * 6
    fake.run_all()
    for s in target.plan.steps:
        assert target.layout.completed_ranks(s.dataset, s.step) == set(range(s.tasks)), s.key
        ranks = [
            r
            for e in ledger.read(target.layout.ledger)
            if (e.dataset, e.step) == (s.dataset, s.step)
            for r in e.ranks
        ]
        assert sorted(ranks) == list(range(s.tasks)), f"{s.key}: every rank queued exactly once"
    order = _finish_order(fake, target)
    for s in target.plan.steps:
        if s.after:
            assert min(order[(s.dataset, s.step)]) > max(order[(s.dataset, s.after)]), s.key


def test_a_failed_step_stops_its_dataset_and_the_others_go_on(files):
    def tick(fake: FakeSlurm) -> None:
        fake.run_all(
            lambda job, index: job.name == "smolprep-fake-code-filter" and job.ranks(index) == [0], limit=1
        )

    fake = FakeSlurm(tick=tick)
    target, resources = slurm_stage(files, fake)
    outcome = run_waves(target, resources, fake, poll=0)
    fake.run_all()
    assert fake.peak_queued <= LIMIT
    assert sorted((s.dataset, s.step, s.state, s.message) for s in outcome.steps) == [
        ("code", "filter", "submitted", ""),
        ("code", "minhash-signatures", "held", "filter did not complete"),
        ("notes", "filter", "submitted", ""),
    ]
    assert target.layout.completed_ranks("code", "filter") == {1, 2}
    assert target.layout.completed_ranks("notes", "filter") == {0, 1}
    assert not any(job.name.startswith("smolprep-fake-code-minhash") for job in fake.jobs.values())


def test_a_busy_controller_delays_the_wave_without_losing_a_task(files):
    fake = FakeSlurm(tick=lambda f: f.run_all(limit=1))
    fake.refuse_next = ["sbatch: error: Batch job submission failed: Resource temporarily unavailable"] * 2
    target, resources = slurm_stage(files, fake)
    outcome = run_waves(target, resources, fake, poll=0)
    fake.run_all()
    assert [s.state for s in outcome.steps] == ["submitted"] * 6
    assert fake.calls.count("sbatch") == len(fake.jobs) + 2  # the two refusals were tried again
    for s in target.plan.steps:
        assert target.layout.completed_ranks(s.dataset, s.step) == set(range(s.tasks)), s.key


def test_waves_without_the_cluster_limits_are_refused_with_a_typed_error(files):
    fake = FakeSlurm()
    target, resources = slurm_stage(files, fake)
    unfitted = SlurmStage(target.stage, target.plan, target.profile, target.layout)
    with pytest.raises(NoQueueLimit, match="waves need the cluster's queue limit"):
        run_waves(unfitted, resources, fake, poll=0)
    assert fake.jobs == {}


def _driver_call(fake: FakeSlurm, layout) -> DelayedSubmission:
    """What the node's submitit loads for the queued wave driver job."""
    (driver,) = [job for job in fake.jobs.values() if job.name.endswith("-driver")]
    return DelayedSubmission.load(
        layout.stage_dir / "logs" / "driver" / driver.job_id / f"{driver.job_id}_submitted.pkl"
    )


def test_the_driver_job_runs_the_launch_sequence_on_the_node(files, monkeypatch, capsys):
    """A launch that does not fit queues the driver job; its pickled call, run as the node runs it (with the
    fake client), submits every wave, then the report job, and the stage completes."""
    fake = FakeSlurm(tick=lambda f: f.run_all())
    assert main(files.argv(None, "--partition", "cpu"), slurm=fake) == 0
    assert "Submitted the wave driver job" in capsys.readouterr().out
    target, _ = slurm_stage(files, fake)
    assert target.layout.driver_file.is_file() and fake.queued_tasks() == 1  # the driver alone
    call = _driver_call(fake, target.layout)
    assert call.args[3:] == ({"partition": "cpu"}, ["code", "notes"], False)  # overrides, datasets, --force
    monkeypatch.setattr(waves.time, "sleep", lambda seconds: None)  # the fake finishes tasks at each look
    assert "submitted the waves" in call.function(*call.args, slurm=fake)
    fake.run_all()
    assert not target.layout.driver_file.exists()
    assert fake.peak_queued <= LIMIT + 1  # the driver job itself is the one above the limit
    for s in target.plan.steps:
        assert target.layout.completed_ranks(s.dataset, s.step) == set(range(s.tasks)), s.key
    assert [e.step for e in ledger.read(target.layout.ledger) if e.dataset == "*"] == ["driver", "report"]


def test_a_driver_job_of_an_edited_config_submits_nothing_and_fails(files, capsys):
    fake = FakeSlurm()
    assert main(files.argv(), slurm=fake) == 0
    target, _ = slurm_stage(files, fake)
    call = _driver_call(fake, target.layout)
    files.config.write_text(files.config.read_text().replace("tasks: 3", "tasks: 4"))
    queued = set(fake.jobs)
    with pytest.raises(ConfigError, match="tasks"):
        call.function(*call.args, slurm=fake)
    assert set(fake.jobs) == queued
    assert not target.layout.driver_file.exists()  # status no longer waits for it
