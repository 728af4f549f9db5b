"""Resource efficiency per step (pure, no Slurm): the ratios of one task from sacct's record or its exit
record, medians and maxima per step, the suggestion's headroom and rounding, the array tasks of the
ledger, and the suggested profile snippet, which the profile loader reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from smolprep.config.profile import StepResources, load_profile, memory_bytes, time_seconds
from smolprep.plan import StagePlan, StepPlan
from smolprep.slurm.efficiency import (
    EXIT_RECORDS,
    HEADER,
    MEMORY_HEADROOM,
    SACCT,
    TIME_HEADROOM,
    StepEfficiency,
    TaskUsage,
    array_task_ids,
    exit_usages,
    render_rows,
    stage_efficiency_from_exits,
    stage_efficiency_from_sacct,
    step_efficiency,
    suggested_profile_yaml,
    usage_from_exit,
    usage_from_record,
)
from smolprep.slurm.efficiency_render import efficiency_table
from smolprep.slurm.query import JobRecord, parse_sacct_records
from smolprep.state import ledger
from smolprep.state.layout import RunLayout

MIB, GIB = 1024**2, 1024**3


def _exit(state: str = "completed", **changes) -> dict:
    record = {
        "rank": 0,
        "job": "",
        "attempt": 1,
        "state": state,
        "cpus": 2,
        "elapsed": 600.0,
        "cpu_seconds": 900.0,
        "max_rss_bytes": 1 * GIB,
        "mem_limit_bytes": 4 * GIB,
        "time_limit_seconds": 3600,
        "started": 1000.0,
    }
    return record | changes


def _usage(rss: int | None = None, elapsed: float | None = None, **ratios) -> TaskUsage:
    values = {"cpu_efficiency": None, "memory_share": None, "time_share": None} | ratios
    return TaskUsage(**values, max_rss_bytes=rss, elapsed_seconds=elapsed)


def _eff(rss: int | None, elapsed: float | None, asked: StepResources | None, step: str = "filter"):
    return step_efficiency("web", step, [_usage(rss, elapsed)], asked, EXIT_RECORDS)


# --- one task -----------------------------------------------------------------------------------------------


def test_the_ratios_of_an_exit_record() -> None:
    usage = usage_from_exit(_exit())
    assert usage is not None
    assert usage.cpu_efficiency == pytest.approx(900 / (600 * 2))
    assert usage.memory_share == pytest.approx(0.25)
    assert usage.time_share == pytest.approx(600 / 3600)
    assert (usage.max_rss_bytes, usage.elapsed_seconds) == (GIB, 600.0)


@pytest.mark.parametrize("state", ["completed", "error", "time-limit", "terminated"])
def test_an_ended_exit_record_is_measured(state) -> None:
    assert usage_from_exit(_exit(state)) is not None


@pytest.mark.parametrize("state", ["running", "requeued", None])
def test_a_task_that_has_not_ended_is_not_measured(state) -> None:
    assert usage_from_exit(_exit(state)) is None


def test_an_unknown_number_leaves_its_ratio_unknown() -> None:
    usage = usage_from_exit(_exit(mem_limit_bytes=None, time_limit_seconds=None, cpu_seconds=None))
    assert usage is not None
    assert (usage.cpu_efficiency, usage.memory_share, usage.time_share) == (None, None, None)
    assert usage.max_rss_bytes == GIB


SACCT_TEXT = """\
7_0|COMPLETED|0:0||00:10:00|01:00:00|8G|00:15:00|2|node1
7_0.batch|COMPLETED|0:0|2G|00:10:00||||2|node1
7_1|OUT_OF_MEMORY|0:125||00:02:00|01:00:00|8G|00:03:00|2|node1
7_1.batch|OUT_OF_MEMORY|0:125|8G|00:02:00||||2|node1
7_2|RUNNING|0:0||00:05:00|01:00:00|8G|00:01:00|2|node1
7_3|PENDING|0:0||00:00:00|01:00:00|8G|00:00:00|2|None assigned
"""


def test_the_ratios_of_sacct_records_of_ended_tasks_only() -> None:
    records = parse_sacct_records(SACCT_TEXT)
    done, oom = usage_from_record(records["7_0"]), usage_from_record(records["7_1"])
    assert done is not None and oom is not None
    assert done.cpu_efficiency == pytest.approx(900 / (600 * 2))
    assert done.memory_share == pytest.approx(0.25) and done.time_share == pytest.approx(600 / 3600)
    assert oom.memory_share == pytest.approx(1.0) and oom.max_rss_bytes == 8 * GIB
    assert usage_from_record(records["7_2"]) is None and usage_from_record(records["7_3"]) is None
    assert usage_from_record(JobRecord("7_4", "REQUEUED", elapsed_seconds=60)) is None


# --- one step -----------------------------------------------------------------------------------------------


def test_medians_and_maxima_of_a_step() -> None:
    usages = [
        _usage(GIB, 100.0, memory_share=0.2, time_share=0.1, cpu_efficiency=0.9),
        _usage(3 * GIB, 400.0, memory_share=0.9, time_share=0.4, cpu_efficiency=0.5),
        _usage(2 * GIB, 200.0, memory_share=0.5, time_share=None, cpu_efficiency=0.7),
    ]
    eff = step_efficiency("web", "filter", usages, None, SACCT)
    assert eff is not None and eff.measured == 3 and eff.source == SACCT
    assert (eff.memory_share_median, eff.memory_share_max) == (0.5, 0.9)
    assert (eff.time_share_median, eff.time_share_max) == pytest.approx((0.25, 0.4))  # the unknown left out
    assert (eff.cpu_efficiency_median, eff.cpu_efficiency_max) == (0.7, 0.9)
    assert (eff.max_rss_bytes, eff.max_elapsed_seconds) == (3 * GIB, 400.0)


def test_nothing_measured_is_no_step_and_no_suggestion() -> None:
    assert step_efficiency("web", "filter", [], StepResources(), EXIT_RECORDS) is None
    eff = _eff(None, None, None)
    assert eff is not None and eff.suggestion() is None


ASKED = StepResources(time="04:00:00", cpus=2, mem_per_cpu="2G")


@pytest.mark.parametrize(
    ("rss", "cpus", "expected"),
    [
        (600 * MIB, 1, "768M"),  # 750M rounded up to a multiple of 256M
        (3 * GIB, 2, "2G"),  # 3.75G over 2 CPUs: 1920M, rounded up to 2048M
        (4 * GIB, 2, "2560M"),  # exactly 2560M: no rounding
        (10 * MIB, 1, "256M"),  # at least 256M
    ],
)
def test_the_memory_suggestion_has_headroom_per_cpu_and_rounds_up(rss, cpus, expected) -> None:
    eff = _eff(rss, 60.0, StepResources(time="01:00:00", cpus=cpus, mem_per_cpu="8G"))
    suggestion = eff.suggestion()
    assert suggestion is not None and suggestion.mem_per_cpu == expected and suggestion.cpus == cpus
    per_cpu = memory_bytes(expected)
    assert per_cpu * cpus >= rss * MEMORY_HEADROOM and per_cpu % (256 * MIB) == 0


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (700.0, "00:20:00"),  # 1050 s rounded up to 5 minutes
        (60.0, "00:10:00"),  # at least 10 minutes
        (3 * 3600.0, "04:30:00"),  # exactly 4.5 hours
        (20 * 3600.0, "1-06:00:00"),
    ],
)
def test_the_time_suggestion_has_headroom_and_rounds_up_to_five_minutes(elapsed, expected) -> None:
    suggestion = _eff(GIB, elapsed, ASKED).suggestion()
    assert suggestion is not None and suggestion.time == expected
    assert time_seconds(expected) >= elapsed * TIME_HEADROOM and time_seconds(expected) % 300 == 0


def test_what_was_not_measured_keeps_what_was_asked() -> None:
    suggestion = _eff(None, 700.0, ASKED).suggestion()
    assert suggestion == StepResources(time="00:20:00", cpus=2, mem_per_cpu="2G")
    assert _eff(None, 700.0, None).suggestion() is None


def test_the_manifest_entry_reads_back() -> None:
    eff = step_efficiency(
        "web", "filter", [_usage(GIB, 100.0, memory_share=0.25, cpu_efficiency=0.5)], ASKED, EXIT_RECORDS
    )
    assert eff is not None
    data = json.loads(json.dumps(eff.as_json()))
    assert data["suggested"] == {"time": "00:10:00", "cpus": 2, "mem_per_cpu": "768M"}
    assert data["memory_share"] == {"median": 0.25, "max": 0.25} and data["time_share"]["max"] is None
    assert StepEfficiency.from_json(data) == eff


# --- a stage: exit records and sacct -------------------------------------------------------------------------

PLAN = StagePlan(
    "s",
    (
        StepPlan("web", "filter", 4, None, reads_documents=True, writes_documents=True),
        StepPlan("web", "minhash-signatures", 2, "filter"),
        StepPlan("code", "filter", 1, None, reads_documents=True, writes_documents=True),
    ),
)


def _write_exits(layout: RunLayout, dataset: str, step: str, records: dict[int, dict]) -> None:
    folder = layout.exits(dataset, step)
    folder.mkdir(parents=True, exist_ok=True)
    for rank, record in records.items():
        (folder / f"{rank:05d}.json").write_text(json.dumps(record | {"rank": rank}))


def _submit(layout: RunLayout, dataset: str, step: str, job: str, ranks: list[int], per_job: int = 1, **res):
    resources = res or None
    entry = ledger.new_entry(dataset, step, job, 0, "0-0", ranks, "tag", per_job, resources)
    ledger.append(layout.ledger, entry)


def test_ranks_run_by_one_array_task_are_measured_as_that_task() -> None:
    shared = {"job": "7_0", "attempt": 1, "elapsed": 1000.0, "cpu_seconds": 500.0, "cpus": 1}
    records = {
        0: _exit(**shared, max_rss_bytes=GIB),
        1: _exit(**shared, max_rss_bytes=2 * GIB),  # the process's peak: includes rank 0's
        2: _exit(job="7_1", attempt=1, elapsed=300.0, cpus=1),
        3: _exit("running", job="7_1", attempt=1, elapsed=50.0, cpus=1),  # still running: left out
    }
    usages = exit_usages(records)
    assert len(usages) == 2
    first = next(u for u in usages if u.elapsed_seconds == 2000.0)
    assert first.time_share == pytest.approx(2000 / 3600) and first.max_rss_bytes == 2 * GIB
    assert first.cpu_efficiency == pytest.approx(0.5)


def test_stage_efficiency_from_exit_records(tmp_path) -> None:
    layout = RunLayout(tmp_path, "s")
    _write_exits(layout, "web", "filter", {r: _exit(elapsed=100.0 * (r + 1), started=r) for r in range(3)})
    _write_exits(layout, "web", "minhash-signatures", {0: _exit("running")})
    _write_exits(
        layout, "code", "filter", {0: _exit(cpus=1, mem_limit_bytes=3 * GIB, time_limit_seconds=600)}
    )
    _submit(layout, "web", "filter", "41", [0, 1, 2, 3], time="02:00:00", cpus=2, mem_per_cpu="3G")
    _submit(layout, "web", "filter", "42", [3], time="05:00:00", cpus=2, mem_per_cpu="6G")  # the last

    effs = stage_efficiency_from_exits(layout, PLAN, lambda step: StepResources(time="00:30:00"))
    assert [(e.dataset, e.step, e.measured) for e in effs] == [("web", "filter", 3), ("code", "filter", 1)]
    web, code = effs
    assert web.asked == StepResources(time="05:00:00", cpus=2, mem_per_cpu="6G")  # the ledger's last entry
    assert web.max_elapsed_seconds == 300.0 and web.time_share_median == pytest.approx(200 / 3600)
    assert code.asked == StepResources(time="00:30:00")  # no submission: the profile's
    # no ledger and no profile: what the exit record says its attempt asked for
    (code_alone,) = stage_efficiency_from_exits(layout, StagePlan("s", PLAN.steps[2:]))
    assert code_alone.asked == StepResources(time="00:10:00", cpus=1, mem_per_cpu="3G")


def test_array_task_ids_count_indices_with_several_ranks_per_task() -> None:
    entries = [
        ledger.new_entry("web", "filter", "41", 0, "0-2", list(range(7)), "t", tasks_per_job=3),
        ledger.new_entry("web", "filter", "42", 0, "0-0", [5], "t"),
        ledger.new_entry("code", "filter", "43", 0, "0-1", [0, 1], "t"),
    ]
    assert array_task_ids(entries) == {
        ("web", "filter"): ["41_0", "41_1", "41_2", "42_0"],
        ("code", "filter"): ["43_0", "43_1"],
    }


def test_stage_efficiency_from_sacct_records(tmp_path) -> None:
    layout = RunLayout(tmp_path, "s")
    _submit(layout, "web", "filter", "7", [0, 1, 2, 3], time="01:00:00", cpus=2, mem_per_cpu="4G")
    records = parse_sacct_records(SACCT_TEXT) | {
        "99_0": JobRecord("99_0", "COMPLETED", elapsed_seconds=5)  # not a task of this stage
    }
    effs = stage_efficiency_from_sacct(layout, PLAN, records, lambda step: StepResources())
    assert len(effs) == 1
    (eff,) = effs
    assert (eff.dataset, eff.step, eff.measured, eff.source) == ("web", "filter", 2, SACCT)
    assert eff.memory_share_max == pytest.approx(1.0) and eff.max_rss_bytes == 8 * GIB
    assert eff.asked == StepResources(time="01:00:00", cpus=2, mem_per_cpu="4G")
    assert eff.suggestion() == StepResources(time="00:15:00", cpus=2, mem_per_cpu="5G")


# --- rendering ----------------------------------------------------------------------------------------------


def test_rows_and_console_table() -> None:
    usage = _usage(3 * GIB, 700.0, memory_share=0.4, time_share=0.2, cpu_efficiency=0.8)
    eff = step_efficiency("web", "minhash-cluster", [usage], ASKED, SACCT)
    assert eff is not None
    (row,) = render_rows([eff])
    assert row == [
        "web/minhash-cluster",
        "1",
        "80% / 80%",
        "40% / 40%",
        "20% / 20%",
        "2G × 2 CPUs, 04:00:00",
        "2G × 2 CPUs, 00:20:00",
        "sacct",
    ]
    console = Console(width=250, record=True)
    console.print(efficiency_table([eff]))
    text = console.export_text()
    assert all(column in text for column in HEADER) and "web/minhash-cluster" in text
    assert "2G × 2 CPUs, 00:20:00" in text


def test_the_profile_snippet_loads_and_takes_the_largest_per_step(tmp_path) -> None:
    effs = [
        _eff(600 * MIB, 700.0, StepResources(cpus=1), step="minhash-cluster"),
        _eff(3 * GIB, 100.0, StepResources(cpus=2), step="filter"),
        step_efficiency("code", "filter", [_usage(GIB, 5000.0)], StepResources(cpus=4), EXIT_RECORDS),
    ]
    snippet = suggested_profile_yaml(effs)
    assert snippet.splitlines()[0] == "steps:"
    assert '  minhash-cluster: {time: "00:20:00", cpus: 1, mem_per_cpu: 768M}' in snippet.splitlines()
    profile = tmp_path / "suggested.yaml"
    profile.write_text("executor: local\n" + snippet)
    loaded = load_profile(str(profile))
    assert loaded.resources("minhash-cluster") == StepResources(time="00:20:00", cpus=1, mem_per_cpu="768M")
    # filter: web's 2G x 2 CPUs and code's 512M x 4 CPUs (5000 s): 4 CPUs, web's 4G over them, code's time
    merged = loaded.resources("filter")
    assert merged == StepResources(time="02:05:00", cpus=4, mem_per_cpu="1G")
    assert memory_bytes(merged.mem_per_cpu) * merged.cpus >= 3 * GIB * MEMORY_HEADROOM
    assert suggested_profile_yaml([]) == ""


def test_every_step_in_the_snippet_is_a_step_the_profile_knows(tmp_path: Path) -> None:
    eff = _eff(GIB, 60.0, ASKED, step="tokenize-merge")
    profile = tmp_path / "p.yaml"
    profile.write_text("executor: local\n" + suggested_profile_yaml([eff]))
    assert dict(load_profile(str(profile)).steps)["tokenize-merge"].mem_per_cpu == "768M"
