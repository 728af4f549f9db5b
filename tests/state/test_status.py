"""Status assembly from markers, the ledger and recorded squeue lines (pure)."""

from __future__ import annotations

from smolprep.slurm.query import QueueEntry
from smolprep.state.ledger import LedgerEntry
from smolprep.state.status import expand_array_indices, step_status


def _entry(job: str, ranks: list[int], step: str = "filter") -> LedgerEntry:
    return LedgerEntry("ds", step, job, 0, f"0-{len(ranks) - 1}", ranks, "tag", 0.0)


def test_expand_array_indices():
    assert expand_array_indices("4-9%2") == [4, 5, 6, 7, 8, 9]
    assert expand_array_indices("1,3,5-6") == [1, 3, 5, 6]
    assert expand_array_indices("0-8:4") == [0, 4, 8]


def test_done_only_by_markers():
    status = step_status("ds", "filter", 3, {0, 1, 2}, [_entry("10", [0, 1, 2])], [])
    assert (status.state, status.completed, status.failed) == ("done", 3, 0)


def test_missing_from_queue_without_marker_is_failed_never_done():
    status = step_status("ds", "filter", 4, {0, 2}, [_entry("10", [0, 1, 2, 3])], [])
    assert (status.state, status.completed, status.failed, status.failed_ranks) == ("failed", 2, 2, [1, 3])


def test_running_and_pending_from_squeue_map_array_indices_to_ranks():
    ledger = [_entry("10", [0, 1, 2, 3]), _entry("11", [5, 7])]  # a resubmission of ranks 5 and 7
    queue = [
        QueueEntry("10", "10_0", "RUNNING", "None", "n"),
        QueueEntry("10", "10_[2-3%1]", "PENDING", "JobArrayTaskLimit", "n"),
        QueueEntry("11", "11_1", "PENDING", "Dependency", "n"),
        QueueEntry("99", "99_1", "RUNNING", "None", "someone else's"),
    ]
    status = step_status("ds", "filter", 8, {1}, ledger, queue)
    assert (status.running, status.pending, status.completed) == (1, 3, 1)
    assert status.failed_ranks == [5]  # submitted in job 11, index 0: not queued, no marker
    assert status.not_submitted == 2  # ranks 4 and 6
    assert status.state == "failed" and status.reasons == ["JobArrayTaskLimit", "Dependency"]


def test_pending_with_dependency_never_satisfied_reason():
    queue = [QueueEntry("12", "12_[0-1]", "PENDING", "DependencyNeverSatisfied", "n")]
    status = step_status(
        "ds", "minhash-signatures", 2, set(), [_entry("12", [0, 1], "minhash-signatures")], queue
    )
    assert (status.state, status.pending, status.reasons) == ("pending", 2, ["DependencyNeverSatisfied"])


def test_not_submitted():
    status = step_status("ds", "filter", 2, set(), [], [])
    assert (status.state, status.not_submitted) == ("not-submitted", 2)


def test_several_ranks_per_array_task():
    entry = LedgerEntry("ds", "filter", "20", 0, "0-1", [0, 1, 2, 3, 4], "tag", 0.0, tasks_per_job=3)
    queue = [QueueEntry("20", "20_1", "RUNNING", "None", "n")]  # index 1 runs ranks 3 and 4
    status = step_status("ds", "filter", 5, {0, 1}, [entry], queue)
    assert (status.running, status.completed, status.failed_ranks) == (2, 2, [2])
    assert entry.index_of_rank(4) == 1 and entry.ranks_of_index(0) == [0, 1, 2]


def test_steps_a_wave_driver_will_submit_are_waiting_not_unsubmitted():
    from smolprep.plan import StagePlan, StepPlan
    from smolprep.state.status import stage_status

    plan = StagePlan(
        "s", (StepPlan("ds", "filter", 2, None), StepPlan("ds", "minhash-signatures", 2, "filter"))
    )
    entries = [_entry("10", [0, 1])]
    queue = [QueueEntry("10", "10_[0-1]", "PENDING", "Priority", "n")]
    without = stage_status(plan, {}, entries, queue)
    with_driver = stage_status(plan, {}, entries, queue, driver_active=True)
    assert without.steps[1].state == "not-submitted"
    assert with_driver.steps[1].state == "waiting" and with_driver.steps[0].state == "pending"


def test_a_failure_record_without_a_marker_is_failed_with_its_errors_last_line():
    records = {1: {"rank": 1, "error": "ValueError: bad value", "log": "x", "time": 0.0}}
    status = step_status("ds", "filter", 3, {0}, [], [], records)
    assert (status.state, status.failed_ranks, status.not_submitted) == ("failed", [1], 1)
    assert status.errors == {1: "ValueError: bad value"}
    assert status.as_json()["errors"] == {"1": "ValueError: bad value"}


def test_a_marker_wins_over_a_failure_record():
    records = {0: {"error": "OSError: earlier attempt"}, 1: {"error": "OSError: earlier attempt"}}
    status = step_status("ds", "filter", 2, {0, 1}, [], [], records)
    assert (status.state, status.failed, status.errors) == ("done", 0, {})


def test_a_recorded_rank_that_is_queued_again_is_pending_not_failed():
    queue = [QueueEntry("30", "30_0", "PENDING", "Priority", "n")]
    status = step_status("ds", "filter", 2, {0}, [_entry("30", [1])], queue, {1: {"error": "E: x"}})
    assert (status.state, status.pending, status.failed, status.errors) == ("pending", 1, 0, {})


def test_a_record_without_a_usable_error_still_fails_the_rank():
    status = step_status(
        "ds", "filter", 1, set(), [], [], {0: {"error": "Traceback\n  ...\nKeyError: 'x'\n"}}
    )
    assert status.errors == {0: "KeyError: 'x'"}
    assert step_status("ds", "filter", 1, set(), [], [], {0: {}}).state == "failed"


def test_stage_status_passes_each_steps_records():
    from smolprep.plan import StagePlan, StepPlan
    from smolprep.state.status import stage_status

    plan = StagePlan("s", (StepPlan("a", "filter", 1, None), StepPlan("b", "filter", 1, None)))
    status = stage_status(
        plan, {("a", "filter"): {0}}, [], [], failures={("b", "filter"): {0: {"error": "E: y"}}}
    )
    assert [s.state for s in status.steps] == ["done", "failed"] and not status.done
    assert status.as_json()["datasets"]["b"]["filter"]["errors"] == {"0": "E: y"}
