"""`sample_rate`: keep each document with that probability, the same documents in every run of a config.

datatrove's `SamplerFilter` draws from an unseeded generator, so two runs keep different documents. Here
each task draws from a generator seeded with a stable hash (SHA-256, not Python's salted `hash()`) of the
stage's `seed`, the dataset's name and the task's rank: a rerun of a task keeps the same documents, tasks
and datasets draw independent streams, and another `seed:` gives another sample.
"""

from __future__ import annotations

import hashlib

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from numpy.random import default_rng


def stream_seed(seed: int, dataset: str, rank: int) -> int:
    """A 64-bit seed for one task's random stream."""
    digest = hashlib.sha256(f"{seed}\0{dataset}\0{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


class SeededSampler(BaseFilter):
    """Keeps a document with probability `rate`, from a stream seeded by (seed, dataset, rank)."""

    name = "🎲 Sampler"  # the report names what this block removes "sampled out" (report.accounting)

    def __init__(self, rate: float, seed: int, dataset: str):
        super().__init__()
        self.rate = rate
        self.seed = seed
        self.dataset = dataset
        self._uniform = default_rng(stream_seed(seed, dataset, 0)).uniform

    def run(self, data, rank: int = 0, world_size: int = 1):
        self._uniform = default_rng(stream_seed(self.seed, self.dataset, rank)).uniform
        yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool:
        return self._uniform() < self.rate
