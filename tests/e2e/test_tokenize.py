"""The tokenize steps on the sample stage: every dataset's final documents, tokenized and merged into
shards, read back the way datatrove's `DatatroveFolderDataset` (what nanotron's datatrove loader builds on)
reads them: `.ds` tokens, `.ds.index` document ends. Sampled documents decode to the exact final texts,
each followed by EOS; the shards' `.metadata` token counts add up; a rerun writes identical bytes."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from tests.conftest import ROOT, read_jsonl_folder, run_stage

pytestmark = pytest.mark.e2e
EOS = "<EOT>"


def exact_tokenizer(tmp_path: Path) -> Path:
    """The shipped test tokenizer (byte-level BPE) without its NFKC normalizer: its decoding then gives back
    exactly the text it encoded, as SmolLM3's does."""
    data = json.loads((ROOT / "tests" / "data" / "tokenizer" / "tokenizer.json").read_text())
    data["normalizer"] = None
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data))
    return path


def tokenize_config(tmp_path: Path, tokenizer: Path) -> Path:
    config = tmp_path / "tok.yaml"
    datasets = "".join(
        f"  - {{name: {name}, path: {ROOT / 'sample' / name}, kind: {kind}, {lang}tasks: 2}}\n"
        for name, kind, lang in (
            ("en-web", "web", "language: en, "),
            ("vi-web", "web", "language: vi, "),
            ("code", "code", ""),
        )
    )
    config.write_text(
        f"name: tok\ntokenize: {{tokenizer: {tokenizer}, eos_token: '{EOS}'}}\ndatasets:\n{datasets}"
    )
    return config


def read_documents(folder: Path) -> list[list[int]]:
    """Every document of a tokenized folder, as DatatroveFolderDataset finds them: each `<name>.ds` holds the
    tokens (2 bytes each below 65,536 tokens of vocabulary), its `.ds.index` the end of every document."""
    documents = []
    for shard in sorted(folder.glob("*.ds")):
        tokens = np.frombuffer(shard.read_bytes(), dtype=np.uint16)
        raw = (shard.parent / f"{shard.name}.index").read_bytes()
        ends = struct.unpack(f"<{len(raw) // 8}Q", raw)
        starts = (0, *ends[:-1])
        documents += [tokens[a:b].tolist() for a, b in zip(starts, ends, strict=True)]
    return documents


def test_the_sample_stage_tokenized_reads_back_to_its_final_texts(tmp_path):
    tokenizer = exact_tokenizer(tmp_path)
    run = run_stage(tokenize_config(tmp_path, tokenizer), tmp_path / "out")
    assert run.exit_code == 0
    decoder = Tokenizer.from_file(str(tokenizer))
    eos = decoder.token_to_id(EOS)
    sample = random.Random(0)
    for name in ("en-web", "vi-web", "code"):
        texts = [d["text"] for d in read_jsonl_folder(run.layout.data(name))]
        documents = read_documents(run.layout.tokenized(name))
        assert len(documents) == len(texts) > 0
        assert all(doc[-1] == eos for doc in documents)
        for doc in sample.sample(documents, min(25, len(documents))):
            assert decoder.decode(doc[:-1], skip_special_tokens=False) in texts
        decoded = sorted(decoder.decode(doc[:-1], skip_special_tokens=False) for doc in documents)
        assert decoded == sorted(texts)
        folder = run.layout.tokenized(name)
        # each shard's .metadata, and the merger's total for the dataset (`<dataset>.ds.metadata`)
        shards = [m for m in folder.glob("*.ds.metadata") if m.name != f"{name}.ds.metadata"]
        metadata = sum(int(m.read_text().splitlines()[1]) for m in shards)
        assert int((folder / f"{name}.ds.metadata").read_text().splitlines()[1]) == metadata
        # the manifest's tokens are the tokenizer's own count, and epochs follow from weight x budget
        entry = json.loads((run.layout.stage_dir / "manifest.json").read_text())["datasets"][name]
        assert (entry["tokens_out"], entry["tokens_counted"]) == (metadata, "exact (tokenized)")
        budget = json.loads((run.layout.stage_dir / "manifest.json").read_text())["token_budget"]
        assert entry["epochs"] == pytest.approx(entry["weight"] * budget / metadata, abs=1e-4)
        assert metadata == sum(len(doc) for doc in documents)

    manifest = json.loads((run.layout.stage_dir / "manifest.json").read_text())
    assert manifest["tokens"]["method"] == "tokenized" and manifest["tokens"]["label"].startswith("exact")
    page = (run.layout.stage_dir / "report.html").read_text()
    assert "exact token counts" in page and "ESTIMATE" not in page  # the titles of the mixture plots

    again = run_stage(tokenize_config(tmp_path, tokenizer), tmp_path / "again")
    assert again.exit_code == 0
    for name in ("en-web", "vi-web", "code"):
        first = {p.name: p.read_bytes() for p in run.layout.tokenized(name).iterdir()}
        second = {p.name: p.read_bytes() for p in again.layout.tokenized(name).iterdir()}
        assert first == second  # the stage's seed fixes the shuffle: identical bytes
