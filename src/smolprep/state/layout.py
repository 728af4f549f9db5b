"""The run directory on shared storage: one place that knows every path (see docs/run-directory.md).

<root>/<stage>/
  run.json  lock  jobs.jsonl  driver.json
  filtered/<dataset>/           output of the filter step (when it is not the dataset's last step)
  minhash/<dataset>/{signatures,buckets,remove,documents}/
  sentence/<dataset>/{signatures,duplicates,documents}/
  data/<dataset>/*.jsonl.gz     final output (of the dataset's last document-writing step)
  logs/<dataset>/<step>/        datatrove logging dir: completions/, stats/, logs/, failures/ (tasks that
                                raised), exits/, slurm_logs/, executor.pik, ranks_to_run.json (Slurm)
  logs/report/, logs/driver/    the stage's function jobs (Slurm); logs/local-<time>.log (local runs)
  manifest.json, report.*
<root>/.cache/huggingface/      HF_HOME unless the cluster profile sets one

A task is done when its completion marker exists: `done_ranks` and `step_done` are the only completion check.

Which steps exist, and which of these folders each writes, is the step registry's (pipelines/steps.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

_STEP_NAME = re.compile(r"^[a-z][a-z0-9-]*$")  # a folder name (the registry checks the name is a step)


@dataclass(frozen=True)
class RunLayout:
    root: Path
    stage: str

    @property
    def stage_dir(self) -> Path:
        return self.root / self.stage

    @property
    def run_json(self) -> Path:
        return self.stage_dir / "run.json"

    @property
    def lock(self) -> Path:
        return self.stage_dir / "lock"

    @property
    def ledger(self) -> Path:
        return self.stage_dir / "jobs.jsonl"

    @property
    def manifest(self) -> Path:
        return self.stage_dir / "manifest.json"

    @property
    def driver_file(self) -> Path:
        """The wave driver of a stage submitted in waves (Slurm): who runs it, since when."""
        return self.stage_dir / "driver.json"

    @property
    def hf_cache(self) -> Path:
        """HF_HOME of the tasks unless the cluster profile sets `hf_home`; shared by every stage."""
        return self.root / ".cache" / "huggingface"

    @property
    def data_root(self) -> Path:
        """The final documents of every dataset: `data/<dataset>/`."""
        return self.stage_dir / "data"

    @property
    def logs_root(self) -> Path:
        return self.stage_dir / "logs"

    def job_logs(self, role: str) -> Path:
        """The submitit folder of a stage-level function job (role: report or driver)."""
        if not _STEP_NAME.match(role):
            raise ValueError(f"job role {role!r} is not a folder name (lowercase letters, digits and '-')")
        return self.logs_root / role

    def local_log(self, timestamp: str) -> Path:
        """What the workers of a local run started at `timestamp` printed."""
        return self.logs_root / f"local-{timestamp}.log"

    def contents(self, dataset: str) -> Path:
        """The `contents` step's output: an ID-only dataset's rows with their text."""
        return self.stage_dir / "contents" / dataset

    def tokenized(self, dataset: str) -> Path:
        """A dataset's tokenized shards (`<dataset>_*.ds` with `.ds.index` and `.ds.metadata`), for training."""
        return self.stage_dir / "tokenized" / dataset

    def tokenized_parts(self, dataset: str) -> Path:
        """The tokenize step's per-task token files, before tokenize-merge shuffles them into shards."""
        return self.stage_dir / "tokenized-parts" / dataset

    def filtered(self, dataset: str) -> Path:
        return self.stage_dir / "filtered" / dataset

    def minhash(self, dataset: str, part: str) -> Path:
        """part: signatures, buckets, remove or documents (minhash-filter's output when it is not the last)."""
        return self.stage_dir / "minhash" / dataset / part

    def sentence(self, dataset: str, part: str) -> Path:
        """part: signatures, duplicates or documents (sentence-filter's output when it is not the last)."""
        return self.stage_dir / "sentence" / dataset / part

    def data(self, dataset: str) -> Path:
        return self.data_root / dataset

    def final_file(self, dataset: str, rank: int) -> Path:
        """The final file a task of the dataset's last step writes (`AtomicJsonlWriter`'s name)."""
        return self.data(dataset) / f"{rank:05d}.jsonl.gz"

    def logs(self, dataset: str, step: str) -> Path:
        if not _STEP_NAME.match(step):
            raise ValueError(f"step {step!r} is not a step name (lowercase letters, digits and '-')")
        return self.logs_root / dataset / step

    def completions(self, dataset: str, step: str) -> Path:
        return self.logs(dataset, step) / "completions"

    def marker(self, dataset: str, step: str, rank: int) -> Path:
        """The completion marker datatrove writes when a task finished."""
        return self.completions(dataset, step) / f"{rank:05d}"

    def stats_dir(self, dataset: str, step: str) -> Path:
        return self.logs(dataset, step) / "stats"

    def stats_file(self, dataset: str, step: str, rank: int) -> Path:
        """A task's counters (datatrove's stats file), written just before its completion marker."""
        return self.stats_dir(dataset, step) / f"{rank:05d}.json"

    @staticmethod
    def marker_of_stats(stats_file: Path) -> Path:
        """The completion marker of the task that wrote `stats_file` (`stats_file(dataset, step, rank)`)."""
        return stats_file.parent.parent / "completions" / stats_file.stem

    def task_logs(self, dataset: str, step: str) -> Path:
        return self.logs(dataset, step) / "logs"

    def task_log(self, dataset: str, step: str, rank: int) -> Path:
        """The log datatrove writes for one task."""
        return self.task_logs(dataset, step) / f"task_{rank:05d}.log"

    def slurm_logs(self, dataset: str, step: str) -> Path:
        """Slurm's stdout and stderr of the step's array tasks: `<job id>_<array index>.out`."""
        return self.logs(dataset, step) / "slurm_logs"

    def slurm_log(self, dataset: str, step: str, job_id: str, index: int) -> Path:
        return self.slurm_logs(dataset, step) / f"{job_id}_{index}.out"

    def executor_file(self, dataset: str, step: str) -> Path:
        """The pickled Slurm executor of the step, which every array task loads."""
        return self.logs(dataset, step) / "executor.pik"

    def ranks_file(self, dataset: str, step: str) -> Path:
        """The ranks each array index of the step's last submission runs (datatrove's ranks_to_run.json)."""
        return self.logs(dataset, step) / "ranks_to_run.json"

    def exits(self, dataset: str, step: str) -> Path:
        """Exit records of a step's Slurm tasks: `exits/<rank:05d>.json` (`smolprep.slurm.exit_record`)."""
        return self.logs(dataset, step) / "exits"

    def failures(self, dataset: str, step: str) -> Path:
        """Failure records of a step's tasks: `failures/<rank:05d>.json` (see `failure_records`)."""
        return self.logs(dataset, step) / "failures"

    def failure_records(self, dataset: str, step: str) -> dict[int, dict]:
        """rank -> the record a task wrote when it failed: {"rank", "error", "log", "time"}.

        A record says the task's last attempt failed; only a completion marker says it is done, so a rank
        with both a marker and a record is done. An unreadable record still counts as a failure."""
        folder = self.failures(dataset, step)
        records: dict[int, dict] = {}
        for rank, record in rank_records(folder).items():
            record = dict(record or {})
            record.setdefault("error", f"unreadable failure record {folder / f'{rank:05d}.json'}")
            records[rank] = record
        return records

    def completed_ranks(self, dataset: str, step: str) -> set[int]:
        """Every rank with a completion marker, whatever the step's task count (see `done_ranks`)."""
        folder = self.completions(dataset, step)
        if not folder.is_dir():
            return set()
        return {int(p.name) for p in folder.iterdir() if p.name.isdigit()}

    def done_ranks(self, dataset: str, step: str, tasks: int) -> set[int]:
        """The step's tasks (ranks 0 to tasks-1) that have their completion marker; a marker of a rank
        outside that range (left by a run with more tasks) counts for nothing."""
        return self.completed_ranks(dataset, step) & set(range(tasks))

    def step_done(self, dataset: str, step: str, tasks: int) -> bool:
        """Every one of the step's `tasks` tasks has its completion marker."""
        return len(self.done_ranks(dataset, step, tasks)) == tasks


def rank_records(folder: Path) -> dict[int, dict | None]:
    """rank -> the JSON object in `folder/<rank:05d>.json` (None when the file cannot be read as one)."""
    if not folder.is_dir():
        return {}
    records: dict[int, dict | None] = {}
    for file in folder.glob("*.json"):
        if not file.stem.isdigit():
            continue
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
        records[int(file.stem)] = record if isinstance(record, dict) else None
    return records
