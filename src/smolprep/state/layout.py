"""The run directory on shared storage: one place that knows every path (see docs/run-directory.md).

<root>/<stage>/
  run.json  lock  jobs.jsonl
  filtered/<dataset>/           output of the filter step (when it is not the dataset's last step)
  minhash/<dataset>/{signatures,buckets,remove,documents}/
  sentence/<dataset>/{signatures,duplicates,documents}/
  data/<dataset>/*.jsonl.gz     final output (of the dataset's last document-writing step)
  logs/<dataset>/<step>/        datatrove logging dir: completions/, stats/, logs/, failures/ (local runs)
  manifest.json, report.*

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

    def filtered(self, dataset: str) -> Path:
        return self.stage_dir / "filtered" / dataset

    def minhash(self, dataset: str, part: str) -> Path:
        """part: signatures, buckets, remove or documents (minhash-filter's output when it is not the last)."""
        return self.stage_dir / "minhash" / dataset / part

    def sentence(self, dataset: str, part: str) -> Path:
        """part: signatures, duplicates or documents (sentence-filter's output when it is not the last)."""
        return self.stage_dir / "sentence" / dataset / part

    def data(self, dataset: str) -> Path:
        return self.stage_dir / "data" / dataset

    def final_file(self, dataset: str, rank: int) -> Path:
        """The final file a task of the dataset's last step writes (`AtomicJsonlWriter`'s name)."""
        return self.data(dataset) / f"{rank:05d}.jsonl.gz"

    def logs(self, dataset: str, step: str) -> Path:
        if not _STEP_NAME.match(step):
            raise ValueError(f"step {step!r} is not a step name (lowercase letters, digits and '-')")
        return self.stage_dir / "logs" / dataset / step

    def completions(self, dataset: str, step: str) -> Path:
        return self.logs(dataset, step) / "completions"

    def failures(self, dataset: str, step: str) -> Path:
        """Failure records of a step's tasks: `failures/<rank:05d>.json` (see `failure_records`)."""
        return self.logs(dataset, step) / "failures"

    def failure_records(self, dataset: str, step: str) -> dict[int, dict]:
        """rank -> the record a task wrote when it failed: {"rank", "error", "log", "time"}.

        A record says the task's last attempt failed; only a completion marker says it is done, so a rank
        with both a marker and a record is done. An unreadable record still counts as a failure."""
        folder = self.failures(dataset, step)
        if not folder.is_dir():
            return {}
        records: dict[int, dict] = {}
        for file in folder.glob("*.json"):
            if not file.stem.isdigit():
                continue
            try:
                record = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = {}
            if not isinstance(record, dict):
                record = {}
            record.setdefault("error", f"unreadable failure record {file}")
            records[int(file.stem)] = record
        return records

    def completed_ranks(self, dataset: str, step: str) -> set[int]:
        folder = self.completions(dataset, step)
        if not folder.is_dir():
            return set()
        return {int(p.name) for p in folder.iterdir() if p.name.isdigit()}
