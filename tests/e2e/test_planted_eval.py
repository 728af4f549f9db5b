"""A held-out-style evaluation: a config with only `name` and `datasets`, three local JSONL datasets built
from documents the sample run kept (so they are clean), with planted exact and near duplicates, spam,
repetition junk and English documents inside the Vietnamese dataset."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from tests.conftest import read_jsonl_folder, run_held_out_stage, write_jsonl

SPAM_EN = ["Click here to claim your prize.", "Buy now and save big!", "Subscribe now for more deals."]
SPAM_VI = ["Đăng ký ngay để nhận quà.", "Mua ngay kẻo lỡ!", "Cẩn thận lừa đảo, nhấn vào đây."]


@dataclass
class Planted:
    records: list[dict] = field(default_factory=list)
    clean: set[str] = field(default_factory=set)
    spam: set[str] = field(default_factory=set)
    junk: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)
    groups: list[set[str]] = field(default_factory=list)

    def add(self, kind: str, doc_id: str, text: str) -> str:
        self.records.append({"id": doc_id, "text": text})
        if kind != "groups":  # group members are recorded in `groups` by the caller
            getattr(self, kind).add(doc_id)
        return doc_id


def _near_copy(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, len(words) // 60)):  # change about 1.5 % of the words
        i = rng.randrange(len(words))
        words[i] = words[i] + "s"
    return " ".join(words)


def _insert(text: str, sentence: str) -> str:
    paragraphs = text.split("\n\n")
    middle = len(paragraphs) // 2
    return "\n\n".join([*paragraphs[:middle], sentence, *paragraphs[middle:]])


def _junk(text: str) -> str:
    line = text.strip().splitlines()[0]
    return "\n".join([line] * 40 + text.splitlines()[:3])


def _plant(base: list[dict], spam: list[str], rng: random.Random, prefix: str) -> Planted:
    planted = Planted()
    docs = [d["text"] for d in base]
    n = len(docs)
    clean, dup_src, spam_src, junk_src = (
        docs[: n // 2],
        docs[: n // 8],
        docs[n // 2 : n // 2 + n // 6],
        docs[-5:],
    )
    for i, text in enumerate(clean):
        planted.add("clean", f"{prefix}-clean-{i}", text)
    for i, text in enumerate(dup_src):
        group = {f"{prefix}-clean-{i}"}
        group.add(planted.add("groups", f"{prefix}-exact-{i}", text))
        group.add(planted.add("groups", f"{prefix}-near-{i}", _near_copy(text, rng)))
        planted.groups.append(group)
    for i, text in enumerate(spam_src):
        planted.add("spam", f"{prefix}-spam-{i}", _insert(text, spam[i % len(spam)]))
    for i, text in enumerate(junk_src):
        planted.add("junk", f"{prefix}-junk-{i}", _junk(text))
    return planted


@pytest.fixture(scope="module")
def evaluation(sample_run, tmp_path_factory):
    rng = random.Random(7)
    base = tmp_path_factory.mktemp("planted")
    en = read_jsonl_folder(sample_run.layout.data("en-web"))
    vi = read_jsonl_folder(sample_run.layout.data("vi-web"))
    code = read_jsonl_folder(sample_run.layout.data("code"))
    en_planted = _plant(en[:-8], SPAM_EN, rng, "en")
    vi_planted = _plant(vi, SPAM_VI, rng, "vi")
    for i, record in enumerate(en[-8:]):  # English documents inside the Vietnamese dataset
        vi_planted.add("foreign", f"vi-foreign-{i}", record["text"])
    rng.shuffle(en_planted.records)
    rng.shuffle(vi_planted.records)
    write_jsonl(base / "data" / "en" / "part-0.jsonl", en_planted.records)
    write_jsonl(base / "data" / "vi" / "part-0.jsonl.gz", vi_planted.records)
    write_jsonl(base / "data" / "code" / "part-0.jsonl", [{"id": r["id"], "text": r["text"]} for r in code])
    _, run = run_held_out_stage(base, "eval.yaml")
    kept = {
        spec.name: {r["id"]: r for r in read_jsonl_folder(run.layout.data(spec.name))}
        for spec in run.config.datasets
    }
    return run, {"en": en_planted, "vi": vi_planted}, kept, {r["id"] for r in code}


def _fraction(ids: set[str], kept: dict) -> float:
    return len(ids & set(kept)) / len(ids)


def _clean_kept(planted: Planted, kept: dict) -> float:
    """Fraction of the clean documents kept; one whose planted copy was kept in its place (MinHash keeps one
    document of a group, whichever the shuffled order puts first) counts as kept."""
    group_of = {doc_id: group for group in planted.groups for doc_id in group}
    return sum(bool(group_of.get(i, {i}) & set(kept)) for i in planted.clean) / len(planted.clean)


def test_clean_documents_are_kept(evaluation):
    _, planted, kept, _ = evaluation
    assert _clean_kept(planted["en"], kept["en"]) >= 0.8
    assert _clean_kept(planted["vi"], kept["vi"]) >= 0.6


def test_duplicate_groups_leave_exactly_one(evaluation):
    _, planted, kept, _ = evaluation
    for name in ("en", "vi"):
        groups = planted[name].groups
        assert groups
        assert all(len(group & set(kept[name])) == 1 for group in groups), name


def test_spam_junk_and_wrong_language_are_removed(evaluation):
    _, planted, kept, _ = evaluation
    for name in ("en", "vi"):
        assert 1 - _fraction(planted[name].spam, kept[name]) >= 0.95, name
        assert _fraction(planted[name].junk, kept[name]) == 0, name
    assert 1 - _fraction(planted["vi"].foreign, kept["vi"]) >= 0.9


def test_code_is_kept(evaluation):
    _, _, kept, code_ids = evaluation
    assert _fraction(code_ids, kept["code"]) >= 0.9


def test_records_carry_id_source_and_weight(evaluation):
    run, _, kept, _ = evaluation
    for spec in run.config.datasets:
        assert spec.weight == pytest.approx(1 / 3)
        for record in kept[spec.name].values():
            assert record["id"]
            assert record["metadata"]["source"] == spec.origin
            assert record["metadata"]["weight"] == spec.weight


def test_relaunch_rewrites_no_output(evaluation, capsys):
    run, _, _, _ = evaluation
    data = run.layout.stage_dir / "data"
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    code, out = run.relaunch(capsys)
    assert code == 0 and "Everything is complete" in out
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before
