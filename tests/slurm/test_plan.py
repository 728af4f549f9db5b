"""Slurm planning: which ranks go into which array chunk, matching datatrove's RUN_OFFSET mapping.

datatrove runs, for array index a of the chunk with RUN_OFFSET k, the ranks
ranks_to_run[(a + k * max_array_size) * tasks_per_job : (a + k * max_array_size + 1) * tasks_per_job].
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from smolprep.config.profile import ClusterProfile
from smolprep.config.stage import load_stage_config
from smolprep.plan import StagePlan, plan_stage
from smolprep.slurm.plan import chunk_ranks, plan_submissions
from smolprep.slurm.render import ArrayChunk
from tests.conftest import write_jsonl


def _stage_plan(tmp_path: Path, tasks: int = 7, num_buckets: int = 3, per_bucket: int = 2) -> StagePlan:
    write_jsonl(tmp_path / "en" / "a.jsonl", [{"text": "hello"}])
    write_jsonl(tmp_path / "vi" / "a.jsonl", [{"text": "xin chào"}])
    config = tmp_path / "stage.yaml"
    config.write_text(
        "name: plan-test\n"
        f"minhash: {{num_buckets: {num_buckets}, bucket_tasks_per_bucket: {per_bucket}}}\n"
        "datasets:\n"
        f"  - {{name: en, path: en, tasks: {tasks}}}\n"
        "  - {name: vi, path: vi, tasks: 2, dedup: false}\n"
    )
    return plan_stage(load_stage_config(config))


def _datatrove_ranks(chunk: ArrayChunk, ranks_to_run: tuple[int, ...], max_size: int, per_job: int) -> list:
    """What datatrove's SlurmPipelineExecutor.run executes for every array index of this chunk."""
    ran = []
    for a in range(chunk.size):
        job = a + chunk.index * max_size
        ran += ranks_to_run[job * per_job : (job + 1) * per_job]
    return ran


def test_real_plan_task_counts(tmp_path):
    plan = _stage_plan(tmp_path)
    assert plan.task_counts() == {
        "en": {
            "filter": 7,
            "minhash-signatures": 7,
            "minhash-buckets": 6,
            "minhash-cluster": 1,
            "minhash-filter": 7,
        },
        "vi": {"filter": 2},
    }


def test_seven_tasks_max_three(tmp_path):
    plan = _stage_plan(tmp_path)
    subs = plan_submissions(plan, ClusterProfile(max_array_size=3), {})
    assert [(s.step.dataset, s.step.step) for s in subs] == [(s.dataset, s.step) for s in plan.steps]
    by_key = {s.step.key: s for s in subs}
    filt = by_key["en/filter"]
    assert [c.size for c in filt.chunks] == [3, 3, 1]
    assert [c.index for c in filt.chunks] == [0, 1, 2]
    assert [c.ranks for c in filt.chunks] == [(0, 1, 2), (3, 4, 5), (6,)]
    assert all((c.dataset, c.step) == ("en", "filter") for c in filt.chunks)
    assert filt.ranks == tuple(range(7)) and not filt.complete and filt.tasks_per_job == 1
    assert [c.size for c in by_key["en/minhash-buckets"].chunks] == [3, 3]
    assert [c.ranks for c in by_key["en/minhash-cluster"].chunks] == [(0,)]
    assert [c.ranks for c in by_key["vi/filter"].chunks] == [(0, 1)]


def test_completed_ranks_are_not_planned(tmp_path):
    plan = _stage_plan(tmp_path)
    completed = {("en", "filter"): {1, 4}, ("en", "minhash-buckets"): {0}}
    subs = {s.step.key: s for s in plan_submissions(plan, ClusterProfile(max_array_size=3), completed)}
    filt = subs["en/filter"]
    assert filt.ranks == (0, 2, 3, 5, 6)
    assert [c.ranks for c in filt.chunks] == [filt.ranks[i * 3 : (i + 1) * 3] for i in range(2)]
    assert [c.size for c in filt.chunks] == [3, 2]
    for chunk in filt.chunks:
        assert list(chunk.ranks) == _datatrove_ranks(chunk, filt.ranks, 3, 1)
    assert subs["en/minhash-buckets"].ranks == (1, 2, 3, 4, 5)
    assert subs["en/minhash-signatures"].ranks == tuple(range(7))  # other steps untouched


def test_everything_complete(tmp_path):
    plan = _stage_plan(tmp_path)
    completed = {(s.dataset, s.step): set(range(s.tasks)) for s in plan.steps}
    subs = plan_submissions(plan, ClusterProfile(max_array_size=3), completed)
    assert len(subs) == len(plan.steps)
    assert all(s.complete and s.chunks == () and s.ranks == () for s in subs)


def test_completed_marker_of_unknown_rank_is_ignored(tmp_path):
    plan = _stage_plan(tmp_path)
    subs = plan_submissions(plan, ClusterProfile(max_array_size=1001), {("vi", "filter"): {0, 5}})
    vi = next(s for s in subs if s.step.key == "vi/filter")
    assert vi.ranks == (1,) and [c.ranks for c in vi.chunks] == [(1,)]


def test_tasks_per_job(tmp_path):
    ranks = _stage_plan(tmp_path, tasks=10).for_dataset("en")[0]
    assert (ranks.step, ranks.tasks) == ("filter", 10)
    to_run = tuple(range(ranks.tasks))
    chunks = chunk_ranks("en", "filter", to_run, max_array_size=2, tasks_per_job=3)
    # 10 ranks, 3 per job -> 4 jobs -> 2 chunks of 2 array indices
    assert [(c.index, c.size) for c in chunks] == [(0, 2), (1, 2)]
    assert [c.ranks for c in chunks] == [to_run[0:6], to_run[6:10]]
    for chunk in chunks:
        assert list(chunk.ranks) == _datatrove_ranks(chunk, to_run, 2, 3)


def test_tasks_per_job_with_gaps():
    to_run = (0, 2, 3, 5, 8, 9, 11)
    chunks = chunk_ranks("d", "filter", to_run, max_array_size=1, tasks_per_job=2)
    assert [c.ranks for c in chunks] == [(0, 2), (3, 5), (8, 9), (11,)]
    assert [c.size for c in chunks] == [1, 1, 1, 1]


def test_no_ranks_no_chunks():
    assert chunk_ranks("d", "filter", (), max_array_size=5) == ()


def test_random_chunking_is_complete_and_fits():
    rng = random.Random(20240501)
    for _ in range(300):
        tasks = rng.randint(1, 3000)
        max_size = rng.randint(1, 1001)
        per_job = rng.choice((1, 1, 1, 2, 3, 7))
        done = set(rng.sample(range(tasks), rng.randint(0, tasks // 3)))
        to_run = tuple(r for r in range(tasks) if r not in done)
        chunks = chunk_ranks("d", "filter", to_run, max_size, per_job)
        case = f"tasks={tasks} max={max_size} per_job={per_job} done={len(done)}"
        assert all(1 <= c.size <= max_size for c in chunks), case
        assert max(c.size - 1 for c in chunks) < max_size, case  # highest --array index
        assert [c.index for c in chunks] == list(range(len(chunks))), case
        assert tuple(r for c in chunks for r in c.ranks) == to_run, case
        assert sum(c.size for c in chunks) == -(-len(to_run) // per_job), case
        for chunk in chunks:
            assert list(chunk.ranks) == _datatrove_ranks(chunk, to_run, max_size, per_job), case


@pytest.mark.parametrize(("tasks", "sizes"), [(1001, [1001]), (1002, [1001, 1]), (2002, [1001, 1001])])
def test_max_array_size_boundary(tasks, sizes):
    assert [c.size for c in chunk_ranks("d", "filter", tuple(range(tasks)), 1001)] == sizes
