"""The shipped sample's texts, for the equivalence tests (a plain module, imported by name)."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "sample"


@cache
def sample_texts(dataset: str) -> tuple[str, ...]:
    """Every document text of ``sample/<dataset>`` in file order."""
    texts = []
    for file in sorted((SAMPLE / dataset).glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    return tuple(texts)
