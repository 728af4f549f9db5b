"""Gopher repetition and quality thresholds per language and dataset kind.

The field names are the keyword arguments of datatrove's ``GopherRepetitionFilter`` and
``GopherQualityFilter``; the defaults are datatrove's (Gopher paper, Table A1). ``None`` disables a rule.

Registry (``repetition_params(language, kind)`` / ``quality_params(language, kind)``):

- **English** (``en``): datatrove's defaults, including its English stop words (``min_stop_words=2``).
- **Vietnamese** (``vi``): FineWeb-2's ``configs/vie_Latn.yml`` (huggingface/fineweb-2): ``dup_line_frac``,
  ``top_n_grams``, ``dup_n_grams``, ``min/max_avg_word_length`` 3/11, ``max_non_alpha_words_ratio``
  0.803 and its 13 stop words, with ``min_stop_words=2`` as in ``fineweb-2-pipeline.py``. The file gives no
  ``dup_para_frac``/``dup_line_char_frac``/``dup_para_char_frac``: FineWeb-2's pipeline sets them to 0 (off)
  because it runs FineWebQualityFilter (``char_duplicates_ratio=0.1``) on trafilatura output instead. We do
  not run that filter, so we keep datatrove's defaults (0.3/0.2/0.2) for them. The file's
  ``line_punct_thr``/``new_line_ratio``/``language_score`` belong to other filters and are not used here.
- **Any other language**: datatrove's thresholds, but the stop-word rule is **off**
  (``min_stop_words=None``): datatrove's stop words are English ("the", "and", ...) and would drop every
  document of a language we have no list for. Add an entry to ``_QUALITY`` to give one.

Kinds: ``web`` as above. ``math``: repetition as ``web``; quality keeps document length (50-100,000
words), the bullet/ellipsis line rules and the stop words, but
  - no non-alpha-words ratio: in LaTeX/formula text half the "words" are ``x``, ``2$.``, ``(x+1)(x+2)$``
    (we measured 0.45-0.57 alpha words on ordinary worked solutions; the web rule needs 0.8);
  - no hash/ellipsis-to-word ratio: ``#`` and ``...`` are normal in code cells and sequences ``1, 2, ..., n``;
  - average word length 2-20 instead of the web range (3-10; 3-11 for vi): single-letter variables pull
    the mean down, LaTeX commands such as ``\\frac{n(n+1)(2n+1)}{6}$.`` push it up.
``code`` datasets run no Gopher filter at all (see ``CodeSanityFilter``); asking for it is an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS as DATATROVE_STOP_WORDS

KINDS = ("web", "math")

# Codes that other tools use for the languages we have parameters for (GlotLID/FineWeb-2, ISO 639-3).
_ALIASES = {"eng": "en", "eng_Latn": "en", "vie": "vi", "vie_Latn": "vi"}


@dataclass(frozen=True)
class RepetitionParams:
    """Keyword arguments of datatrove's ``GopherRepetitionFilter`` (its defaults)."""

    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``GopherRepetitionFilter``."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class QualityParams:
    """Keyword arguments of datatrove's ``GopherQualityFilter`` (its defaults, English stop words)."""

    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: int | None = 3
    max_avg_word_length: int | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] | None = tuple(DATATROVE_STOP_WORDS)

    def __post_init__(self) -> None:
        if self.min_stop_words and not self.stop_words:
            raise ValueError(
                f"QualityParams: min_stop_words={self.min_stop_words} needs a non-empty stop_words list; "
                "give stop_words or set min_stop_words=None to disable the stop-word rule."
            )

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``GopherQualityFilter``."""
        kwargs = dataclasses.asdict(self)
        kwargs["stop_words"] = list(self.stop_words) if self.stop_words is not None else None
        return kwargs


# FineWeb-2 configs/vie_Latn.yml, in its order
VIETNAMESE_STOP_WORDS = (
    "là", "và", "của", "một", "được", "trong", "năm", "các", "có", "loài", "này", "đã", "người",
)  # fmt: skip

_REPETITION: dict[str, RepetitionParams] = {
    "en": RepetitionParams(),
    "vi": RepetitionParams(
        dup_line_frac=0.293,
        top_n_grams=((2, 0.223), (3, 0.197), (4, 0.171)),
        dup_n_grams=((5, 0.178), (6, 0.163), (7, 0.15), (8, 0.136), (9, 0.124), (10, 0.111)),
    ),
}
_OTHER_REPETITION = RepetitionParams()

_QUALITY: dict[str, QualityParams] = {
    "en": QualityParams(),
    "vi": QualityParams(
        min_avg_word_length=3,
        max_avg_word_length=11,
        max_non_alpha_words_ratio=0.803,
        min_stop_words=2,
        stop_words=VIETNAMESE_STOP_WORDS,
    ),
}
_OTHER_QUALITY = QualityParams(min_stop_words=None, stop_words=None)


def normalize_language(language: str) -> str:
    """``vie_Latn``/``vie`` -> ``vi``, ``eng_Latn``/``eng`` -> ``en``; other codes unchanged."""
    return _ALIASES.get(language, language)


def _check_kind(kind: str) -> None:
    if kind == "code":
        raise ValueError(
            "kind='code' has no Gopher parameters: code datasets skip the Gopher filters "
            "(they would delete source files). Use CodeSanityFilter for them."
        )
    if kind not in KINDS:
        raise ValueError(f"Unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}.")


def repetition_params(language: str, kind: str = "web") -> RepetitionParams:
    """Gopher repetition thresholds for ``language`` (lid.176 code) and dataset ``kind``."""
    _check_kind(kind)
    return _REPETITION.get(normalize_language(language), _OTHER_REPETITION)


def quality_params(language: str, kind: str = "web") -> QualityParams:
    """Gopher quality thresholds for ``language`` (lid.176 code) and dataset ``kind``."""
    _check_kind(kind)
    params = _QUALITY.get(normalize_language(language), _OTHER_QUALITY)
    if kind == "math":
        params = dataclasses.replace(
            params,
            max_non_alpha_words_ratio=None,
            max_symbol_word_ratio=None,
            min_avg_word_length=2,
            max_avg_word_length=20,
        )
    return params
