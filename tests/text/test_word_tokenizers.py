"""smolprep's word tokenizers give datatrove's words: word for word on every sample document and on edge cases.

datatrove's ``load_word_tokenizer("en")`` is a blank spaCy English pipeline and ``"vi"`` is spaCy's Vietnamese
tokenizer with pyvi; ours (``smolprep.text.words.word_tokenizer``) must return the same lists. The Gopher
filters tokenize raw text; MinHash tokenizes ``simplify_text(text)`` (lower case, no punctuation, no
diacritics), so both are checked.
"""

from __future__ import annotations

import random
import string

import dill
import pytest
from datatrove.utils.text import simplify_text
from datatrove.utils.word_tokenizers import load_word_tokenizer
from sample_texts import sample_texts

from smolprep.text.spacy_words import SpacyChunkWords, read_snapshot, tokenizer_rules
from smolprep.text.vi_words import PyviWords, syllables
from smolprep.text.words import document_words, word_tokenizer

EN_CASES = [
    "",
    "   \n\t ",
    "Hello, world! Don't panic.",
    "e.g. U.S. Ph.D. a.m. 5km 10$ $10 £5 50% (see: http://example.org/a?b=c&d) mailto:x@y.org",
    "cannot gonna Im I'm y'all o'clock ’s 's",
    ":) :-) (:) ;-P <3 ^_^ ...",
    "dyn-o-mite-dave don't-stop well—known 3-4 3*4 3^4 a/b key=value path/to/file.txt",
    "“Quoted” ‘single’ «guillemets» — dashes – …ellipsis… !!!???",
    "x\u00a0y\u2009z\u200bw",
    "Ünïcödé naïve café résumé Straße İstanbul",
    "C++ C# .NET node.js 1.2.3 v2.0-beta 192.168.0.1 --flag -x --with=value",
    # a special-case match across one space (")" ":" is "):") hides the emoticon it overlaps
    ") :)8",
    "( =)v",
    "' ''b",
    "Note (see 1) :)8 and ( =)v, or ' ''b; but ):)8 and (=)v keep theirs",
]

VI_CASES = [
    "",
    "   \n ",
    "Xin chào các bạn, tôi là người Việt Nam.",
    "Hà Nội là thủ đô của Việt Nam.\n\nThành phố Hồ Chí Minh",
    "ThS. Nguyễn Văn A, Tp. HCM, Mr. B, Dr. C, ABC. 1.000.000 đồng, 3,5 kg, 10_000",
    "==> -> ... >> email: a.b@c.d.vn web: https://vi.wikipedia.org/wiki/Hà_Nội",
    "Công nghệ thông tin\tvà   truyền thông",
    "HỌC SINH học sinh Học Sinh họC sInH",
    "2024 năm 2024 Năm",
]


@pytest.fixture(scope="module")
def english() -> tuple[object, object]:
    return load_word_tokenizer("en"), word_tokenizer("en")


@pytest.fixture(scope="module")
def vietnamese() -> tuple[object, object]:
    return load_word_tokenizer("vi"), word_tokenizer("vi")


def _disagreements(reference, ours, texts) -> list[int]:
    return [i for i, text in enumerate(texts) if reference.word_tokenize(text) != ours.word_tokenize(text)]


def test_factory_picks_the_fast_tokenizers() -> None:
    assert isinstance(word_tokenizer("en"), SpacyChunkWords)
    assert isinstance(word_tokenizer("vi"), PyviWords)
    assert isinstance(word_tokenizer("fr"), SpacyChunkWords)


@pytest.mark.parametrize("text", EN_CASES)
def test_english_edge_cases(english, text: str) -> None:
    reference, ours = english
    assert ours.word_tokenize(text) == reference.word_tokenize(text)


@pytest.mark.parametrize("text", VI_CASES)
def test_vietnamese_edge_cases(vietnamese, text: str) -> None:
    reference, ours = vietnamese
    assert ours.word_tokenize(text) == reference.word_tokenize(text)


@pytest.mark.parametrize("dataset", ["en-web", "vi-web", "code"])
def test_english_words_on_every_sample_document(english, dataset: str) -> None:
    """Raw text (the Gopher filters run English rules on every document of an English dataset, and on
    the English pages of the Vietnamese one) and the MinHash form (code datasets use English words)."""
    reference, ours = english
    texts = sample_texts(dataset)
    assert _disagreements(reference, ours, texts) == []
    assert _disagreements(reference, ours, [simplify_text(t) for t in texts]) == []


@pytest.mark.parametrize("dataset", ["vi-web", "en-web"])
def test_vietnamese_words_on_every_sample_document(vietnamese, dataset: str) -> None:
    reference, ours = vietnamese
    texts = sample_texts(dataset)
    if dataset == "en-web":
        texts = texts[::4]  # English text through the Vietnamese tokenizer: a quarter is plenty
    assert _disagreements(reference, ours, texts) == []
    assert _disagreements(reference, ours, [simplify_text(t) for t in texts]) == []


@pytest.mark.parametrize(("language", "text"), [("en", "foo IS_ALPHA bar"), ("vi", "IS_ALPHA Hà Nội")])
def test_text_that_trips_spacy_goes_to_datatrove(language: str, text: str) -> None:
    """spaCy can raise on ``IS_ALPHA`` (depending on what it saw before in the process) and datatrove then
    drops it, so datatrove's own words for such a text depend on history. We hand these texts to datatrove's
    tokenizer: the words are datatrove's, give or take that token."""
    stock = load_word_tokenizer(language)
    words = word_tokenizer(language).word_tokenize(text)  # datatrove's answer at this point of the process
    assert [w for w in words if w != "IS_ALPHA"] == stock.word_tokenize(text.replace("IS_ALPHA", ""))


def test_pyvi_labels_are_crfsuites(vietnamese) -> None:
    """The CRF replay gives pyvi's own labels (python-crfsuite) on every sample syllable sequence."""
    from pyvi import ViTokenizer

    ours = word_tokenizer("vi")
    model = ours.model
    for text in sample_texts("vi-web")[::3]:
        words, _ = syllables(text)
        if not words:
            continue
        expected = ViTokenizer.ViTokenizer.model.predict(
            [ViTokenizer.ViTokenizer.sent2features(words, False)]
        )[0]
        labels = model.viterbi(*model.state_scores(model.ids(words)))
        assert [model_label == model.i_label for model_label in labels] == [x == "I_W" for x in expected]


def test_syllables_are_spacys() -> None:
    """The one-pass syllable pattern finds the same syllables and whitespace as spaCy's pyvi code."""
    import spacy
    from spacy.lang.vi import VietnameseTokenizer

    splitter = VietnameseTokenizer(spacy.blank("en").vocab, use_pyvi=False)

    def reference(text: str) -> tuple[list[str], list[str]]:
        segs = splitter.pyvi_sylabelize_with_ws(text)
        words, spaces = [], []
        for i, token in enumerate(segs):
            if not token.isspace():
                words.append(token)
                spaces.append("" if i == 0 or not segs[i - 1].isspace() else segs[i - 1])
        return words, spaces

    rng = random.Random(0)
    pieces = [
        *"aAĐđ.,_-+@:/=> \n\t1209xyzTMDrsph",
        "ThS.",
        "Mr.",
        "...",
        "==>",
        "->",
        ">>",
        "http://",
        "a@b.c",
    ]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    texts += list(sample_texts("vi-web")[::5]) + VI_CASES
    assert [t for t in texts if syllables(t) != reference(t)] == []


def test_ascii_letter_chunks_are_single_words_in_english() -> None:
    """The English fast path (a chunk of ASCII letters that is not a special case is one word) is what
    spaCy's rules give."""
    ours = SpacyChunkWords("en")
    ours.ascii_letters_are_words = False
    rules = ours.rules
    assert rules is not None
    rng = random.Random(1)
    chunks = [
        "".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 12))) for _ in range(3000)
    ]
    chunks += [w for t in sample_texts("en-web") for w in t.split() if w.isascii() and w.isalpha()]
    for chunk in chunks:
        if chunk not in rules.specials:
            assert rules.tokenize(chunk) == [chunk], chunk


def test_stored_english_rules_match_the_installed_spacy() -> None:
    """smolprep/text/spacy_rules/en.json is what spaCy gives (refresh: python -m smolprep.text.spacy_words en)."""
    import spacy

    stored = read_snapshot("en")
    assert stored is not None, (
        "no stored rules for this spaCy version: run python -m smolprep.text.spacy_words en"
    )
    live = tokenizer_rules(spacy.blank("en").tokenizer)
    assert {k: stored[k] for k in live} == live


def test_document_words_are_shared_and_correct() -> None:
    text = "The same text, tokenized once for both Gopher filters."
    first = document_words(text, "en")
    assert document_words(text, "en") is first
    assert first == load_word_tokenizer("en").word_tokenize(text)
    assert document_words(text, "vi") == load_word_tokenizer("vi").word_tokenize(text)


def test_tokenizers_pickle_small_and_work_after() -> None:
    for language, text in [("en", EN_CASES[2]), ("vi", VI_CASES[2])]:
        tokenizer = word_tokenizer(language)
        expected = tokenizer.word_tokenize(text)
        payload = dill.dumps(tokenizer)
        assert len(payload) < 20_000
        assert dill.loads(payload).word_tokenize(text) == expected


def test_suffix_search_shortcut_is_the_regex() -> None:
    """The tail-only suffix search gives ``Tokenizer.find_suffix``'s length on sample chunks and random ones."""
    import re

    from smolprep.text.spacy_words import _SuffixLength

    spec = read_snapshot("en")["suffix"]
    full = re.compile(*spec)
    fast = _SuffixLength(spec)
    rng = random.Random(3)
    pieces = [*"aZ1.'’s,;:!?)(]\"°Fkm%$+-…—", "km", "mph", "..", "'s", "°F.", "\n"]
    chunks = {w for t in sample_texts("en-web")[::3] for w in t.split()}
    chunks |= {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(20000)}
    for chunk in chunks:
        match = full.search(chunk)
        assert fast(chunk) == (match.end() - match.start() if match else 0), chunk
