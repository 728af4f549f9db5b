"""Token counts: a real tokenizer.json when the config names one (exact, or scaled from an even stride of
documents above a size limit), else an estimate labelled as such; the config key is checked at load."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer

from smolprep.config.errors import ConfigError
from smolprep.config.stage import parse_stage_config
from smolprep.report.tokens import ByteEstimate, TokenizerCounter, TokenizerError, make_counter, scan_output
from tests.conftest import write_jsonl

TEXTS = [
    "The Debian package manager installs software.",
    "Xin chào, đây là tài liệu Debian bằng tiếng Việt.",
    "def add(a, b):\n    return a + b\n",
]


def _direct(path, texts) -> int:
    tokenizer = Tokenizer.from_file(str(path))
    return sum(len(tokenizer.encode(t, add_special_tokens=False).ids) for t in texts)


def test_tokenizer_counts_like_the_tokenizers_library(tokenizer_path) -> None:
    counter = TokenizerCounter(tokenizer_path)
    assert counter.count(TEXTS) == _direct(tokenizer_path, TEXTS) > 20
    described = counter.describe()
    assert described["method"] == "tokenizer" and described["vocab_size"] == 65000
    assert len(described["sha256"]) == 64


def test_scan_counts_documents_bytes_and_tokens_of_the_final_files(tmp_path, tokenizer_path) -> None:
    texts = [f"{t} ({i})" for i in range(40) for t in TEXTS]
    write_jsonl(tmp_path / "00000.jsonl.gz", [{"id": str(i), "text": t} for i, t in enumerate(texts[:70])])
    write_jsonl(tmp_path / "00001.jsonl.gz", [{"id": str(i), "text": t} for i, t in enumerate(texts[70:])])
    write_jsonl(tmp_path / "_tmp" / "00002.jsonl.gz", [{"id": "x", "text": "a half-written file"}])
    scan = scan_output(tmp_path, TokenizerCounter(tokenizer_path))
    assert (scan.files, scan.docs) == (2, len(texts))
    assert scan.text_bytes == sum(len(t.encode()) for t in texts)
    assert scan.tokens == _direct(tokenizer_path, texts)
    assert scan.label == "exact"

    sampled = scan_output(tmp_path, TokenizerCounter(tokenizer_path), max_tokenized_bytes=2000)
    assert sampled.label.startswith("extrapolated from ") and sampled.tokenized_bytes < sampled.text_bytes
    assert sampled.tokens == pytest.approx(scan.tokens, rel=0.1)
    assert (sampled.docs, sampled.text_bytes) == (scan.docs, scan.text_bytes)

    estimate = scan_output(tmp_path, ByteEstimate())
    assert estimate.tokens == round(scan.text_bytes / 4) and estimate.label == "estimate"


def test_no_tokenizer_is_a_labelled_estimate() -> None:
    counter = make_counter(None)
    assert counter.method == "estimate"
    assert counter.describe()["label"].startswith("ESTIMATE")


def test_tokenizer_path_is_relative_to_the_config_file(tmp_path, tokenizer_path) -> None:
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_bytes(tokenizer_path.read_bytes())
    counter = make_counter("tok/tokenizer.json", str(tmp_path / "stage.yaml"))
    assert isinstance(counter, TokenizerCounter)
    with pytest.raises(TokenizerError, match="no file"):
        make_counter("missing.json", str(tmp_path / "stage.yaml"))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(TokenizerError, match="cannot load"):
        make_counter(str(tmp_path / "bad.json"))


def _stage(tmp_path, tokenizer: str) -> dict:
    (tmp_path / "data").mkdir(exist_ok=True)
    write_jsonl(tmp_path / "data" / "a.jsonl", [{"text": "x"}])
    return {"name": "s", "tokenizer": tokenizer, "datasets": [{"name": "a", "path": "data"}]}


def test_config_resolves_the_tokenizer_and_refuses_a_missing_one(tmp_path, tokenizer_path) -> None:
    (tmp_path / "tokenizer.json").write_bytes(tokenizer_path.read_bytes())
    stage = parse_stage_config(_stage(tmp_path, "tokenizer.json"), tmp_path / "stage.yaml")
    assert stage.tokenizer == str((tmp_path / "tokenizer.json").resolve())
    with pytest.raises(ConfigError) as err:
        parse_stage_config(_stage(tmp_path, "nope/tokenizer.json"), tmp_path / "stage.yaml")
    (issue,) = err.value.issues
    assert issue.key == "tokenizer" and "nothing is downloaded" in issue.fix
