"""The languages a dataset can name, and the two codes each one has.

Two tools name languages differently. Language ID (fastText lid.176) gives ISO 639-1 style labels (``fr``,
``zh``); FineWeb-2's filter values (``configs/<code>.yml``) and datatrove's word-tokenizer table use
ISO 639-3 plus script (``fra_Latn``, ``cmn_Hani``). The script matters for the word tokenizer: datatrove
gives the bare ``zh`` spaCy's multi-language ``xx`` tokenizer (a clause is one word) and the bare ``hi`` a
Stanza tokenizer for Kurmanji, but ``cmn_Hani`` jieba and ``hin_Deva`` the Indic NLP tokenizer.

A dataset's ``language`` accepts either code; smolprep keeps the lid.176 label as its one internal form
(documents are tagged with it) and turns it into the FineWeb-2 code wherever a word tokenizer or a
FineWeb-2 value is chosen. Each label maps to the FineWeb-2 code of its main script.
"""

from __future__ import annotations

# lid.176 label -> FineWeb-2 code (ISO 639-3 + ISO 15924 script)
FINEWEB2_CODES: dict[str, str] = {
    "en": "eng_Latn",
    "vi": "vie_Latn",
    "fr": "fra_Latn",
    "es": "spa_Latn",
    "de": "deu_Latn",
    "it": "ita_Latn",
    "pt": "por_Latn",
    "zh": "cmn_Hani",
    "ru": "rus_Cyrl",
    "fa": "fas_Arab",
    "ja": "jpn_Jpan",
    "ko": "kor_Hang",
    "hi": "hin_Deva",
    "th": "tha_Thai",
    "el": "ell_Grek",
}
_LID_LABELS = {code: label for label, code in FINEWEB2_CODES.items()}


class UnknownLanguageError(ValueError):
    """A language code smolprep has no filter settings for."""


def known_codes() -> list[str]:
    """Every accepted code, lid.176 labels first: ``en, vi, ..., eng_Latn, vie_Latn, ...``."""
    return [*FINEWEB2_CODES, *FINEWEB2_CODES.values()]


def lid_label(language: str) -> str:
    """The lid.176 label of ``language`` (a lid.176 label or a FineWeb-2 code): ``cmn_Hani`` -> ``zh``.

    Raises:
        UnknownLanguageError: neither kind of code we know.
    """
    if language in FINEWEB2_CODES:
        return language
    label = _LID_LABELS.get(language)
    if label is None:
        raise UnknownLanguageError(f"unknown language {language!r}; known: {', '.join(known_codes())}")
    return label


def fineweb2_code(language: str) -> str | None:
    """The FineWeb-2 code of ``language`` (either kind of code), or None for a language not in the table."""
    if language in _LID_LABELS:
        return language
    return FINEWEB2_CODES.get(language)
