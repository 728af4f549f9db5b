"""RunLayout's paths are the ones the writers use (a local run, the Slurm submission on the fake Slurm, the
wave driver), and `done_ranks` / `step_done` are the one completion check: only markers of ranks 0 to
tasks-1 count."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from smolprep.launching import submit_driver_job
from smolprep.local_run import step_complete
from smolprep.plan import plan_stage
from smolprep.slurm.monitor import completed_tasks, stage_complete
from smolprep.slurm.submit import submit_stage
from smolprep.slurm.waves import register_driver
from smolprep.state.layout import RunLayout
from smolprep.summary import stage_summary
from tests.conftest import StageRun, run_stage, write_jsonl
from tests.fakes.slurm import FakeSlurm, directives
from tests.fakes.stage import slurm_stage, write_stage

CONFIG = """\
name: paths
datasets:
  - {name: notes, path: notes, kind: code, tasks: 2, dedup: false}
"""


def _sources(n: int) -> list[dict]:
    return [{"text": f"def f_{k}(x):\n    return x * {k} + {k * k}\n", "id": f"n-{k}"} for k in range(n)]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> StageRun:
    base = tmp_path_factory.mktemp("paths")
    write_jsonl(base / "notes" / "a.jsonl", _sources(4))
    write_jsonl(base / "notes" / "b.jsonl", _sources(3))
    (base / "paths.yaml").write_text(CONFIG)
    run = run_stage(base / "paths.yaml", base / "out")
    assert run.exit_code == 0, f"the local run failed; logs in {run.layout.logs_root}"
    return run


def test_a_local_run_writes_markers_stats_and_task_logs_where_the_layout_says(local_run):
    layout = local_run.layout
    ranks = (0, 1)
    assert set(layout.completions("notes", "filter").iterdir()) == {
        layout.marker("notes", "filter", r) for r in ranks
    }
    assert set(layout.stats_dir("notes", "filter").glob("*")) == {
        layout.stats_file("notes", "filter", r) for r in ranks
    }
    assert set(layout.task_logs("notes", "filter").glob("*.log")) == {
        layout.task_log("notes", "filter", r) for r in ranks
    }
    assert all(json.loads(layout.stats_file("notes", "filter", r).read_text()) for r in ranks)


def test_a_local_run_writes_its_console_log_where_the_layout_says(local_run):
    (log,) = local_run.layout.logs_root.glob("local-*.log")
    timestamp = log.name.removeprefix("local-").removesuffix(".log")
    assert re.fullmatch(r"\d{8}-\d{6}", timestamp)
    assert local_run.layout.local_log(timestamp) == log


def test_done_ranks_counts_only_numeric_markers_of_the_steps_ranks(tmp_path):
    layout = RunLayout(tmp_path, "s")
    folder = layout.completions("d", "filter")
    folder.mkdir(parents=True)
    for name in ("00000", "00002", "00003", "00009", "abc", "00001.tmp", "-1"):
        (folder / name).touch()
    assert layout.completed_ranks("d", "filter") == {0, 2, 3, 9}
    assert layout.done_ranks("d", "filter", 3) == {0, 2}
    assert not layout.step_done("d", "filter", 3)
    layout.marker("d", "filter", 1).touch()
    assert layout.done_ranks("d", "filter", 3) == {0, 1, 2}
    assert layout.step_done("d", "filter", 3)
    assert layout.done_ranks("missing", "filter", 3) == set() and not layout.step_done("missing", "filter", 1)


def test_a_marker_beyond_the_task_count_does_not_complete_a_step_anywhere(local_run, tmp_path):
    """Two tasks, markers 0 and 7: the step is not done for the local runner, the Slurm monitor and the
    summary alike (the summary used to count any marker)."""
    output = tmp_path / "out"
    shutil.copytree(local_run.layout.root, output)
    layout = RunLayout(output.resolve(), local_run.layout.stage)
    plan = plan_stage(local_run.config)
    (step,) = plan.steps
    assert step_complete(layout, step) and stage_complete(layout, plan)
    layout.marker("notes", "filter", 1).rename(layout.marker("notes", "filter", 7))
    assert layout.completed_ranks("notes", "filter") == {0, 7}
    assert layout.done_ranks("notes", "filter", step.tasks) == {0}
    assert not step_complete(layout, step)
    assert (completed_tasks(layout, plan), stage_complete(layout, plan)) == (1, False)
    assert [s.state for s in stage_summary(layout, plan)] == ["incomplete"]


def test_slurm_submission_writes_the_executor_ranks_and_slurm_logs_where_the_layout_says(tmp_path):
    fake = FakeSlurm()
    target, resources = slurm_stage(write_stage(tmp_path, "max_array_size: 2\n"), fake)
    layout = target.layout
    outcome = submit_stage(target, resources, fake)
    assert [s.state for s in outcome.steps] == ["submitted"] * 6
    for submitted in outcome.steps:
        dataset, step = submitted.dataset, submitted.step
        (planned,) = [s for s in target.plan.steps if (s.dataset, s.step) == (dataset, step)]
        assert layout.executor_file(dataset, step).is_file()
        assert json.loads(layout.ranks_file(dataset, step).read_text()) == list(range(planned.tasks))
        assert layout.slurm_logs(dataset, step).is_dir()
        for job_id in submitted.job_ids:
            script = fake.jobs[job_id].script
            (pickled,) = re.findall(r"launch_pickled_pipeline (\S+)", script)
            assert Path(shlex.split(pickled)[0]) == layout.executor_file(dataset, step)
            output = directives(script)["output"]
            assert Path(output.replace("%A", job_id).replace("%a", "1")) == layout.slurm_log(
                dataset, step, job_id, 1
            )
            assert f'export HF_HOME="{layout.hf_cache}"' in script
    driver = submit_driver_job(target, {"partition": "cpu"}, False, fake)
    for job_id, role in ((outcome.report_job, "report"), (driver, "driver")):
        assert (layout.job_logs(role) / job_id / f"{job_id}_submitted.pkl").is_file()
    register_driver(layout, driver)
    assert json.loads(layout.driver_file.read_text())["job_id"] == driver
    fake.run_all()
    assert all(layout.step_done(s.dataset, s.step, s.tasks) for s in target.plan.steps)


def test_hf_cache_is_under_the_output_root_and_shared_by_stages(tmp_path):
    assert (
        RunLayout(tmp_path, "a").hf_cache
        == RunLayout(tmp_path, "b").hf_cache
        == tmp_path / ".cache" / "huggingface"
    )


def test_the_marker_of_a_stats_file_is_the_marker_of_its_task(tmp_path):
    layout = RunLayout(tmp_path, "s")
    assert RunLayout.marker_of_stats(layout.stats_file("en", "filter", 7)) == layout.marker("en", "filter", 7)
