"""SpamFilter: whole-word, case- and Unicode-insensitive phrase matching in one pass."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
from filter_samples import ENGLISH_TEXT, SPAM_LIST_DIR, VIETNAMESE_TEXT, make_doc, run_step

from smolprep.filters import PhraseListError, SpamFilter, load_phrase_lists

SEEDS = ["subscribe now", "buy now", "click here", "đăng ký ngay", "mua ngay", "lừa đảo"]


@pytest.fixture(scope="module")
def seeds() -> SpamFilter:
    return SpamFilter(SEEDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("For the full report, click here.", ["click here"]),
        ("(click here)", ["click here"]),
        ("Click here", ["click here"]),
        ("CLICK HERE TO WIN", ["click here"]),
        ("Please click\nhere to continue", ["click here"]),
        ("Đăng Ký Ngay hôm nay!", ["đăng ký ngay"]),
        ("Cảnh giác với chiêu lừa đảo qua mạng.", ["lừa đảo"]),
        ("Buy now, subscribe now, buy now again.", ["buy now", "subscribe now"]),
    ],
)
def test_phrase_at_word_boundaries_is_spam(seeds: SpamFilter, text: str, expected: list[str]) -> None:
    doc = make_doc(text)
    assert seeds.filter(doc) == (False, "spam")
    assert doc.metadata["spam_phrases"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "The rules apply to anything you click hereafter.",
        "Everyone wants to buy nowadays.",
        "Autosubscribe nowhere.",
        "Bấm đăng ký ngayđi",  # 'đ' is a letter: no boundary
        "Xmua ngay",
    ],
)
def test_phrase_inside_a_longer_word_does_not_hit(seeds: SpamFilter, text: str) -> None:
    doc = make_doc(text)
    assert seeds.filter(doc) is True
    assert "spam_phrases" not in doc.metadata


def test_decomposed_vietnamese_text_is_matched(seeds: SpamFilter) -> None:
    text = unicodedata.normalize("NFD", "Nhanh tay đăng ký ngay để nhận quà")
    assert "đăng ký ngay" not in text  # the raw text really is decomposed
    assert seeds.filter(make_doc(text)) == (False, "spam")


def test_decomposed_phrase_matches_composed_text() -> None:
    step = SpamFilter([unicodedata.normalize("NFD", "mua ngay")])
    assert step.filter(make_doc("Hãy mua ngay!")) == (False, "spam")


def test_clean_prose_is_kept_and_not_annotated(seeds: SpamFilter) -> None:
    for text in (ENGLISH_TEXT, VIETNAMESE_TEXT):
        doc = make_doc(text)
        assert seeds.filter(doc) is True
        assert "spam_phrases" not in doc.metadata


def test_min_hits_counts_distinct_phrases() -> None:
    step = SpamFilter(SEEDS, min_hits=2)
    assert step.filter(make_doc("buy now! buy now! buy now!")) is True
    assert step.filter(make_doc("buy now or click here")) == (False, "spam")


def test_stats_count_dropped_spam() -> None:
    kept, stats = run_step(
        SpamFilter(SEEDS), [make_doc("Mua ngay kẻo lỡ!", "spam"), make_doc(ENGLISH_TEXT, "ok")]
    )
    assert [doc.id for doc in kept] == ["ok"]
    assert stats["dropped_spam"] == 1


class _CountingAutomaton:
    def __init__(self, automaton: Any) -> None:
        self.automaton = automaton
        self.scans = 0

    def iter(self, text: str) -> Any:
        self.scans += 1
        return self.automaton.iter(text)


def test_two_hundred_phrases_use_one_automaton_and_one_scan() -> None:
    phrases = [f"promo code {i:03d}" for i in range(200)]
    step = SpamFilter(phrases)
    automaton = step.automaton
    assert len(automaton) == 200
    assert step.automaton is automaton
    counter = _CountingAutomaton(automaton)
    step._automaton = counter
    assert step.filter(make_doc("Use promo code 137 at checkout.")) == (False, "spam")
    assert step.filter(make_doc("Use promo code 1370 at checkout.")) is True
    assert counter.scans == 2


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        SpamFilter("buy now")
    with pytest.raises(ValueError, match="min_hits must be an integer >= 1"):
        SpamFilter(SEEDS, min_hits=0)
    with pytest.raises(ValueError, match="no phrases given"):
        SpamFilter([])
    with pytest.raises(ValueError, match=r"phrases\[1\] is invalid"):
        SpamFilter(["buy now", "!!"])


def test_load_phrase_lists_skips_comments_and_blanks_and_deduplicates(tmp_path: Path) -> None:
    first = tmp_path / "a.txt"
    first.write_text("# header\n\nbuy now\n  click here  \n", encoding="utf-8")
    second = tmp_path / "b.txt"
    second.write_text("Buy Now\nmua ngay\n", encoding="utf-8")
    assert load_phrase_lists([first, second]) == ["buy now", "click here", "mua ngay"]


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        ("# spam\nbuy now\n\n!!!\n", 4, "no letter or digit"),
        ("buy now\nab\n", 2, "shorter than 3 characters"),
    ],
)
def test_load_phrase_lists_error_names_file_and_line(
    tmp_path: Path, content: str, line: int, problem: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PhraseListError) as err:
        load_phrase_lists([path])
    assert f"{path}:{line}:" in str(err.value)
    assert problem in str(err.value)


def test_load_phrase_lists_refuses_missing_or_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(PhraseListError, match=r"missing\.txt: phrase list not found"):
        load_phrase_lists([tmp_path / "missing.txt"])
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"mua ngay\ncaf\xe9\n")
    with pytest.raises(PhraseListError, match=r"latin1\.txt: not valid UTF-8"):
        load_phrase_lists([latin1])


def test_shipped_lists_are_big_enough_and_contain_the_seeds() -> None:
    paths = sorted(SPAM_LIST_DIR.glob("*.txt"))
    assert [p.name for p in paths] == ["en.txt", "vi.txt"]
    phrases = load_phrase_lists(paths)
    assert len(phrases) >= 50
    assert set(SEEDS) <= set(phrases)
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), path
        assert text.startswith("# "), f"{path} must start with a header comment"
        assert len(load_phrase_lists([path])) >= 20, path


def test_shipped_lists_do_not_hit_clean_prose() -> None:
    step = SpamFilter(load_phrase_lists(sorted(SPAM_LIST_DIR.glob("*.txt"))))
    for text in (ENGLISH_TEXT, VIETNAMESE_TEXT):
        assert step.filter(make_doc(text)) is True
