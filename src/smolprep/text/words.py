"""Fast word tokenizers with datatrove's words, and the words of the current document shared between steps.

``word_tokenizer(language)`` returns an object with ``word_tokenize(text) -> list[str]`` that gives the same
words as ``datatrove.utils.word_tokenizers.load_word_tokenizer(language)``:

- ``vi``: ``PyviWords`` (pyvi's CRF replayed without spaCy and scikit-learn);
- languages whose datatrove tokenizer is spaCy's rule-based tokenizer (``en``, ``fr``, ``de``, ...):
  ``SpacyChunkWords`` (spaCy's algorithm replayed per distinct whitespace-separated chunk, cached);
- the codes that name the same tokenizer (``vi``, ``vie``, ``vie_Latn``) share one instance;
- any other language: datatrove's own tokenizer.

``document_words(text, language)`` tokenizes a document once for all the steps that need its words: the
Gopher repetition and quality filters run one after the other on the same ``Document``, so the last few
results are kept, keyed by the identity of the text object.

Everything here is per process and built on first use; pipeline steps keep only the language code, so a
pickled pipeline carries none of it.
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from datatrove.utils.word_tokenizers import load_tokenizer_assignments, load_word_tokenizer

from smolprep.text.spacy_words import SpacyChunkWords
from smolprep.text.vi_words import PyviWords

# spaCy languages whose blank pipeline has its own (not rule-based) tokenizer; datatrove configures some.
_SPACY_CUSTOM_TOKENIZERS = frozenset({"ja", "ko", "th", "vi", "zh"})


class WordSplitter(Protocol):
    def word_tokenize(self, text: str) -> list[str]: ...


@cache
def word_tokenizer(language: str) -> WordSplitter:
    """A tokenizer with the words of datatrove's ``load_word_tokenizer(language)`` (one per process)."""
    factory = load_tokenizer_assignments().get(language)
    if factory is None:
        return load_word_tokenizer(language)  # datatrove's own error for a language it has no tokenizer for
    # datatrove's factories are partial(tok_factory_wrapper, class name, spaCy language code); reading them
    # avoids building datatrove's tokenizer, whose dependency check alone costs about 0.25 s of CPU
    class_name, code = (*getattr(factory, "args", ()), None, None)[:2]
    if class_name == "SpaCyTokenizer" and isinstance(code, str):
        if code == "vi":
            return _pyvi_words()
        if code not in _SPACY_CUSTOM_TOKENIZERS:
            return _spacy_chunk_words(code)
    return load_word_tokenizer(language)


# one replay per spaCy language, whichever code names it ('vi' and 'vie_Latn' share one, warmed once)
@cache
def _pyvi_words() -> PyviWords:
    return PyviWords()


@cache
def _spacy_chunk_words(code: str) -> SpacyChunkWords:
    return SpacyChunkWords(code)


_RECENT_SIZE = 4
_recent: list[tuple[str, str, list[str]]] = []


def document_words(text: str, language: str) -> list[str]:
    """The words of ``text`` for ``language``, computed once while the document goes through the steps.

    The list is shared: do not modify it.
    """
    for recent_text, recent_language, words in _recent:
        if recent_text is text and recent_language == language:
            return words
    words = word_tokenizer(language).word_tokenize(text)
    _recent.insert(0, (text, language, words))
    del _recent[_RECENT_SIZE:]
    return words
