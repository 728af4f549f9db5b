"""NgramIndex gives datatrove's Gopher n-gram measures: on the sample's words and on literal edge cases."""

from __future__ import annotations

import random

import pytest
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_top_duplicate,
    get_n_grams,
)
from sample_texts import sample_texts

from smolprep.text.repetition import SMALL_DOC_WORDS, NgramIndex
from smolprep.text.words import word_tokenizer

TOP_NS = (2, 3, 4)
DUP_NS = (5, 6, 7, 8, 9, 10)


def datatrove_measures(words: list[str]) -> list[int]:
    top = []
    for n in TOP_NS:
        grams = get_n_grams(words, n)
        top.append(find_top_duplicate(grams) if grams else 0)
    return top + [find_all_duplicate(words, n) for n in DUP_NS]


def our_measures(words: list[str]) -> list[int]:
    index = NgramIndex(words)
    return [index.top_ngram_chars(n) for n in TOP_NS] + [index.duplicate_ngram_chars(n) for n in DUP_NS]


def padded(words: list[str]) -> list[str]:
    """Long enough for the array path (short documents use datatrove's own functions)."""
    filler = [f"w{i}" for i in range(SMALL_DOC_WORDS)]
    return filler + words


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["one"],
        ["a", "b"] * 50,
        ["x"] * 200,
        # "".join makes these one 5-gram: ab c x a bc -> "abcxa" ... datatrove counts joined strings
        ["ab", "c", "x", "y", "z", "a", "bc", "x", "y", "z"] * 10,
        # " ".join: Vietnamese words hold spaces, so two different word sequences can be one 2-gram
        ["thành phố", "lớn", "thành", "phố lớn"] * 20,
        ["", "", "a", ""] * 30,
        ["a", " ", "a ", " a"] * 30,
    ],
    ids=["empty", "one", "abab", "same", "joined-quirk", "space-quirk", "empty-words", "spaces"],
)
def test_literal_cases(words: list[str]) -> None:
    assert our_measures(words) == datatrove_measures(words)
    assert our_measures(padded(words)) == datatrove_measures(padded(words))


def test_ties_go_to_the_first_seen_gram() -> None:
    words = padded(["long words here", "x", "a", "b"] * 3 + ["short", "y", "short", "y"])
    assert our_measures(words) == datatrove_measures(words)


def test_random_documents_from_small_alphabets() -> None:
    """Random words from alphabets made to create joined-string coincidences and repeats."""
    rng = random.Random(7)
    alphabets = [["a", "b", "ab", "ba", "c", "", " a", "a b"], ["x", "y"], [str(i) for i in range(40)]]
    for _ in range(400):
        alphabet = rng.choice(alphabets)
        words = [
            rng.choice(alphabet)
            for _ in range(rng.choice([rng.randint(0, 70), rng.randint(SMALL_DOC_WORDS, 500)]))
        ]
        assert our_measures(words) == datatrove_measures(words), words


@pytest.mark.parametrize(("dataset", "language"), [("en-web", "en"), ("vi-web", "vi")])
def test_every_sample_document(dataset: str, language: str) -> None:
    tokenizer = word_tokenizer(language)
    for text in sample_texts(dataset):
        words = tokenizer.word_tokenize(text)
        assert our_measures(words) == datatrove_measures(words)
