"""The run directory on shared storage: one place that knows every path (see docs/run-directory.md).

<root>/<stage>/
  run.json  lock  jobs.jsonl
  filtered/<dataset>/           output of the filter step
  minhash/<dataset>/{signatures,buckets,remove}/
  data/<dataset>/*.jsonl.gz     final output
  logs/<dataset>/<step>/        datatrove logging dir: completions/, stats/, logs/
  manifest.json, report.*
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STEPS = ("filter", "minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")


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
        """part: signatures, buckets or remove."""
        return self.stage_dir / "minhash" / dataset / part

    def data(self, dataset: str) -> Path:
        return self.stage_dir / "data" / dataset

    def logs(self, dataset: str, step: str) -> Path:
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; steps are {', '.join(STEPS)}")
        return self.stage_dir / "logs" / dataset / step

    def completions(self, dataset: str, step: str) -> Path:
        return self.logs(dataset, step) / "completions"

    def completed_ranks(self, dataset: str, step: str) -> set[int]:
        folder = self.completions(dataset, step)
        if not folder.is_dir():
            return set()
        return {int(p.name) for p in folder.iterdir() if p.name.isdigit()}
