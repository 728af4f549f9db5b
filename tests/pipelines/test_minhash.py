"""smolprep's MinHash signature step writes datatrove's signatures bit for bit, so buckets/cluster agree."""

from __future__ import annotations

from pathlib import Path

import dill
import pytest
from datatrove.data import Document
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupSignature,
)
from datatrove.utils.hashing import HashConfig

from smolprep.pipelines.minhash import FastMinhashDedupSignature
from tests.conftest import sample_texts

CONFIG = MinhashConfig(n_grams=5, num_buckets=20, hashes_per_bucket=8)  # the stage default


def _signatures(step: MinhashDedupSignature, texts: list[str]) -> list:
    out = []
    for text in texts:
        shingles = step.get_shingles(text)
        out.append((shingles.shape, step.get_signature(shingles) if shingles.size else None))
    return out


@pytest.mark.parametrize(("dataset", "language"), [("en-web", "en"), ("vi-web", "vi"), ("code", "en")])
def test_same_signatures_on_every_sample_document(tmp_path: Path, dataset: str, language: str) -> None:
    texts = sample_texts(dataset)
    stock = MinhashDedupSignature(str(tmp_path / "a"), config=CONFIG, language=language)
    ours = FastMinhashDedupSignature(str(tmp_path / "b"), config=CONFIG, language=language)
    assert _signatures(ours, texts) == _signatures(stock, texts)


@pytest.mark.parametrize(
    "config",
    [
        MinhashConfig(hash_config=HashConfig(precision=32)),
        MinhashConfig(hash_config=HashConfig(hash_fc="sha1")),
    ],
    ids=["32-bit", "sha1"],
)
def test_same_signatures_with_other_hash_settings(tmp_path: Path, config: MinhashConfig) -> None:
    texts = sample_texts("en-web")[::5] + sample_texts("vi-web")[::10]
    stock = MinhashDedupSignature(str(tmp_path / "a"), config=config, language="en")
    ours = FastMinhashDedupSignature(str(tmp_path / "b"), config=config, language="en")
    assert _signatures(ours, texts) == _signatures(stock, texts)


@pytest.mark.parametrize(
    "text",
    ["", "one two three", "one two three four five", "Ð đ ü " * 3, "1 2 3 4 5 6 7 8 9 10 11 12"],
)
def test_short_and_odd_texts(tmp_path: Path, text: str) -> None:
    stock = MinhashDedupSignature(str(tmp_path / "a"), config=CONFIG, language="en")
    ours = FastMinhashDedupSignature(str(tmp_path / "b"), config=CONFIG, language="en")
    assert _signatures(ours, [text]) == _signatures(stock, [text])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_signature_files_and_duplicate_clusters_are_identical(tmp_path: Path) -> None:
    """Run both steps for real (two ranks), then datatrove's buckets and cluster on each output."""
    texts = sample_texts("en-web") + sample_texts("vi-web")[:200]
    texts += texts[:40]  # exact duplicates, so there are clusters to find
    remove = {}
    for name, cls in (("stock", MinhashDedupSignature), ("ours", FastMinhashDedupSignature)):
        base = tmp_path / name
        for rank in range(2):
            docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts) if i % 2 == rank]
            cls(str(base / "sigs"), config=CONFIG, language="en").run(iter(docs), rank=rank, world_size=2)
        for bucket in range(CONFIG.num_buckets):
            step = MinhashDedupBuckets(str(base / "sigs"), str(base / "buckets"), config=CONFIG)
            step.run(rank=bucket, world_size=CONFIG.num_buckets)
        MinhashDedupCluster(str(base / "buckets"), str(base / "remove"), config=CONFIG).run()
        remove[name] = _files(base / "remove")
    assert _files(tmp_path / "ours" / "sigs") == _files(tmp_path / "stock" / "sigs")
    assert remove["ours"] == remove["stock"]
    assert sum(map(len, remove["ours"].values())) > 0  # the duplicates were found


def test_same_attributes_as_datatrove_step(tmp_path: Path) -> None:
    """FastMinhashDedupSignature.__init__ copies datatrove's (without building the unused tokenizer)."""
    config = MinhashConfig(num_buckets=4, hashes_per_bucket=3, n_grams=3)
    stock = vars(MinhashDedupSignature(str(tmp_path), config=config, language="vi", skip_existing_sigs=True))
    ours = vars(
        FastMinhashDedupSignature(str(tmp_path), config=config, language="vi", skip_existing_sigs=True)
    )
    assert set(stock) - set(ours) == {"word_tokenizer"}  # a property of ours
    assert set(ours) == set(stock) - {"word_tokenizer"}
    for key in ("config", "num_hashes", "_parameters", "language", "skip_existing_sigs", "_hash_func"):
        assert ours[key] == stock[key], key
    assert ours["output_folder"].path == stock["output_folder"].path


def test_step_pickles_small_after_use(tmp_path: Path) -> None:
    step = FastMinhashDedupSignature(str(tmp_path / "s"), config=CONFIG, language="vi")
    text = sample_texts("vi-web")[0]
    before = step.get_signature(step.get_shingles(text))
    payload = dill.dumps(step)
    assert len(payload) < 100_000
    restored = dill.loads(payload)
    assert restored.get_signature(restored.get_shingles(text)) == before


@pytest.mark.parametrize(("iso", "code"), [("zh", "cmn_Hani"), ("hi", "hin_Deva"), ("vi", "vie_Latn")])
def test_signatures_split_words_with_the_fineweb2_code(tmp_path, iso, code):
    from smolprep.config.stage import parse_stage_config
    from smolprep.local_run import word_languages
    from smolprep.pipelines.build import FilterResources, build_step
    from smolprep.plan import plan_stage
    from smolprep.state.layout import RunLayout

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jsonl").write_text('{"text": "x"}\n')
    raw = {"name": "s", "datasets": [{"name": "d", "path": "d", "language": iso}]}
    stage = parse_stage_config(raw, tmp_path / "s.yaml")
    resources = FilterResources.load(stage)
    steps = build_step(stage, stage.datasets[0], "minhash-signatures", RunLayout(tmp_path, "s"), resources)
    assert steps[-1].language == code  # never a bare ISO code: zh -> spaCy 'xx', hi -> Kurmanji Stanza
    assert word_languages(stage, plan_stage(stage)) == [code]
