"""The English word tokenizer against spaCy itself on generated text: the same words, token for token.

datatrove's Gopher filters tokenize English with ``spacy.blank("en")`` (``SpaCyTokenizer``), and smolprep
replays that tokenizer without spaCy (``smolprep.text.spacy_words``). The hard part of spaCy's algorithm is its
special-case matcher, which sees the tokens of the whole text: a special case can match across a single
space (``) :`` matches ``):``), and such a match hides overlapping ones. The texts here are seeded random mixes
of what triggers it: punctuation runs, emoticons, quotes, brackets, letters and digits, every special case of
the stored rules, glued together or separated by one or more spaces, tabs and newlines.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import spacy
from datatrove.data import Document
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.utils.word_tokenizers import load_word_tokenizer, strip_strings

from smolprep.filters import quality_params
from smolprep.filters.fast_gopher import FastGopherQualityFilter
from smolprep.text.spacy_words import SpacyChunkWords, _SpacyRules, read_snapshot, tokenizer_rules

PUNCTUATION = list(".,;:!?'\"()[]{}<>-_*/\\|=+^~`#@$%&°…—–‘’“”")
WORDS = ["a", "b", "s", "x", "o", "p", "D", "P", "8", "3", "0", "1", "it", "He", "and", "or", "ll", "re"]
WORDS += ["em", "cause", "Mr", "e.g", "i.e", "a.m", "vs", "v", "km", "10", "3.5", "cannot", "don't"]
SEPARATORS = ["", "", " ", " ", " ", " ", "  ", "\t", "\n", " \n", "\n\n", "\xa0", " \t "]
EMOTICONS = [":)", ":(", ":-)", ";)", "=)", "(:", "):", ":'(", "<3", "^_^", "o.O", ":P", "xD", "''", "--"]

# A special-case match across one space (")" ":" is "):") hides the emoticon it overlaps.
CROSSING = [
    (") :)8", [")", ":", ")", "8"]),
    ("( =)v", ["(", "=", ")", "v"]),
    ("' ''b", ["'", "'", "'", "b"]),
]


@pytest.fixture(scope="module")
def spacy_words():
    return load_word_tokenizer("en").word_tokenize  # spacy.blank("en"), as datatrove's Gopher filters use it


@pytest.fixture(scope="module")
def specials() -> list[str]:
    stored = read_snapshot("en")
    assert stored is not None, (
        "no stored rules for this spaCy version: run python -m smolprep.text.spacy_words en"
    )
    return sorted(stored["specials"])


def _piece(rng: random.Random, specials: list[str]) -> str:
    kind = rng.random()
    if kind < 0.3:
        return "".join(rng.choice(PUNCTUATION) for _ in range(rng.randint(1, 4)))
    if kind < 0.5:
        return rng.choice(EMOTICONS)
    if kind < 0.7:
        return rng.choice(specials)
    return rng.choice(WORDS)


def _random_text(rng: random.Random, specials: list[str]) -> str:
    parts = []
    for _ in range(rng.randint(1, 7)):
        parts += [_piece(rng, specials), rng.choice(SEPARATORS)]
    if rng.random() < 0.2:
        parts.insert(0, rng.choice(SEPARATORS))
    return "".join(parts[:-1] if rng.random() < 0.8 else parts)


def _generated(seed: int, specials: list[str]) -> list[str]:
    rng = random.Random(seed)
    texts = [_random_text(rng, specials) for _ in range(10_000)]
    symbols = [special for special in specials if not any(ch.isalpha() for ch in special)] + EMOTICONS
    for _ in range(4_000):  # emoticons and brackets one space apart, glued to something on either side
        pieces = [
            rng.choice(PUNCTUATION + WORDS + [""]) + rng.choice(symbols) for _ in range(rng.randint(2, 3))
        ]
        texts.append(" ".join(piece + rng.choice(PUNCTUATION + WORDS + ["", "", ""]) for piece in pieces))
    # every special case cut in two by a space, the halves glued to what may form another special case
    for special in specials:
        for cut in range(1, len(special)):
            before, after = rng.choice(symbols + WORDS + [""]), rng.choice(symbols + WORDS + [""])
            texts.append(f"{before}{special[:cut]} {special[cut:]}{after}")
    # every special case with one space on each side, next to something that may match
    for special in specials:
        texts.append(f"{_piece(rng, specials)} {special} {_piece(rng, specials)}")
        texts.append(f"{rng.choice(PUNCTUATION)}{rng.choice(PUNCTUATION)} {special}{rng.choice(PUNCTUATION)}")
    return [text for text in texts if "IS_ALPHA" not in text]


@pytest.fixture(scope="module")
def generated(spacy_words, specials) -> dict[str, list]:
    """The generated texts, the same texts as long documents (chunks then meet other neighbours), and
    spaCy's words for each."""
    texts = _generated(0, specials)
    documents = [" ".join(texts[i : i + 50]) for i in range(0, len(texts), 50)]
    texts += documents
    return {"texts": texts, "expected": [spacy_words(text) for text in texts]}


def _first_mismatch(generated: dict[str, list], words: Callable[[str], list[str]]) -> str | None:
    """None, or the number of texts whose words differ from spaCy's and the first of them."""
    pairs = zip(generated["texts"], generated["expected"], strict=True)
    mismatches = [(text, expected, got) for text, expected in pairs if (got := words(text)) != expected]
    if not mismatches:
        return None
    text, expected, got = mismatches[0]
    return f"{len(mismatches)} of {len(generated['texts'])} texts differ; first {text!r}: spaCy {expected}, ours {got}"


@pytest.mark.parametrize(("text", "expected"), CROSSING)
def test_a_match_across_a_space_hides_the_overlapping_emoticon(spacy_words, text, expected) -> None:
    assert spacy_words(text) == expected  # what spaCy does
    assert SpacyChunkWords("en").word_tokenize(text) == expected


def test_generated_text_gives_spacys_words(generated) -> None:
    mismatch = _first_mismatch(generated, SpacyChunkWords("en").word_tokenize)
    assert mismatch is None, mismatch


def test_generated_text_gives_spacys_words_with_a_warm_cache(generated) -> None:
    """Again through a tokenizer whose caches already hold every chunk (the per-chunk words are reused)."""
    ours = SpacyChunkWords("en")
    for text in generated["texts"]:
        ours.word_tokenize(text)
    mismatch = _first_mismatch(generated, ours.word_tokenize)
    assert mismatch is None, mismatch


def test_whole_text_replay_gives_spacys_words(generated) -> None:
    """The exact path alone (the matcher over the tokens of the whole text), which the tokenizer takes only
    for texts where a match could run across a space."""
    rules = SpacyChunkWords("en").rules
    assert rules is not None
    mismatch = _first_mismatch(generated, lambda text: rules.document_words(text, rules.raw_tokens))
    assert mismatch is None, mismatch


def test_special_cases_with_a_space_match_across_chunks(generated) -> None:
    """Rules with special cases of several tokens that hold whitespace (English has none): a match across a
    space can then change tokens, and every text is replayed whole, as spaCy sees it."""
    nlp = spacy.blank("en")
    nlp.tokenizer.add_special_case("o k", [{"ORTH": "o k"}])
    nlp.tokenizer.add_special_case(":) x", [{"ORTH": ":)"}, {"ORTH": " x"}])
    nlp.tokenizer.add_special_case("a  -", [{"ORTH": "a "}, {"ORTH": " -"}])

    def spacy_words(text: str) -> list[str]:
        with nlp.memory_zone():
            return strip_strings([token.text for token in nlp.tokenizer(text)])

    ours = SpacyChunkWords("en")
    ours._rules = _SpacyRules(tokenizer_rules(nlp.tokenizer), ascii_letters_are_words=True)
    assert ours._rules.rules_across_spaces
    rng = random.Random(3)
    texts = ["x o k y", "(o k)", "o k:)", "o  k", "o\nk", ") :) x", " o k o k", "a  -", "a -", "a  --"]
    texts += generated["texts"][::8]
    texts += [
        " ".join(rng.choice(["o", "k", ":)", "x", "a", "-", " ", "\n", ")", "("]) for _ in range(6))
        for _ in range(2000)
    ]
    mismatches = [text for text in texts if ours.word_tokenize(text) != spacy_words(text)]
    assert not mismatches, (
        f"{len(mismatches)} differ; first {mismatches[0]!r}: spaCy {spacy_words(mismatches[0])}"
    )


def test_gopher_quality_drops_what_datatrove_drops() -> None:
    """With spaCy's words, each ``) :)8`` is four words without a letter, which puts this document below the
    alpha-words threshold; the fast Gopher filter, which uses our words, must drop it too."""
    prose = (
        "The quick brown fox jumps over the lazy dog, and then it runs to the river with the other animals.\n"
    )
    text = prose * 15 + " ".join([") :)8"] * 12)
    params = quality_params("en", "web").as_kwargs()
    stock = GopherQualityFilter(**params, language="en").filter(Document(text=text, id="x"))
    assert stock == (False, "gopher_below_alpha_threshold")
    assert FastGopherQualityFilter(**params, language="en").filter(Document(text=text, id="x")) == stock
