"""Filter thresholds per language and dataset kind: Gopher repetition, FineWeb quality, Gopher quality and
the language-ID score.

The field names are the keyword arguments of datatrove's ``GopherRepetitionFilter``, ``FineWebQualityFilter``
and ``GopherQualityFilter``; the defaults are datatrove's. ``None`` (and, as in datatrove, ``0``) disables a rule.

Registry (``repetition_params``, ``fineweb_quality_params``, ``quality_params``, ``language_score``; any code
of ``smolprep.filters.languages``, or another lid.176 label):

- **English** (``en``): datatrove's Gopher defaults, including its English stop words (``min_stop_words=2``);
  no FineWeb quality filter; language-ID score 0.65 (datatrove's default).
- **Every other language of** ``smolprep.filters.languages`` (``vi``, ``fr``, ``zh``, ...): FineWeb-2's chain,
  as ``fineweb-2-pipeline.py`` (huggingface/fineweb-2) builds it from ``configs/<code>.yml``; the values are
  our package file ``fineweb2_thresholds.json``, transcribed from those files (Apache-2.0):
  - Gopher repetition: ``dup_line_frac``, ``top_n_grams``, ``dup_n_grams`` from the file;
    ``dup_para_frac``, ``dup_line_char_frac``, ``dup_para_char_frac`` 0 (off; the FineWeb quality filter's
    ``char_duplicates_ratio`` takes their place);
  - FineWeb quality: ``line_punct_thr`` and ``new_line_ratio`` from the file, ``short_line_thr=999`` (off),
    ``char_duplicates_ratio=0.1``, the rest datatrove's defaults;
  - Gopher quality: ``min/max_avg_word_length``, ``max_non_alpha_words_ratio`` and the stop words from the
    file, ``min_stop_words=2``, the rest datatrove's defaults;
  - language ID: kept when lid.176's score is at least the file's ``language_score``. FineWeb-2 calibrated
    these on GlotLID scores; we apply them to lid.176's.
- **Any other lid.176 label** (a document of a language outside the table): datatrove's Gopher thresholds
  with the stop-word rule **off** (datatrove's stop words are English and would drop every document), no
  FineWeb quality filter, score 0.65.

Kinds: ``web`` as above. ``math``: repetition as ``web``; no FineWeb quality filter (formula and code lines
end without terminal punctuation and it would drop most of them); Gopher quality keeps document length
(50-100,000 words), the bullet/ellipsis line rules and the stop words, but
  - no non-alpha-words ratio: in LaTeX/formula text half the "words" are ``x``, ``2$.``, ``(x+1)(x+2)$``
    (we measured 0.45-0.57 alpha words on ordinary worked solutions; the web rule needs 0.8);
  - no hash/ellipsis-to-word ratio: ``#`` and ``...`` are normal in code cells and sequences ``1, 2, ..., n``;
  - average word length 2-20 instead of the web range: single-letter variables pull the mean down, LaTeX
    commands such as ``\\frac{n(n+1)(2n+1)}{6}$.`` push it up.
``code`` datasets run none of these filters (see ``CodeSanityFilter``); asking for them is an error.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS as DATATROVE_STOP_WORDS

from smolprep.filters.languages import FINEWEB2_CODES, fineweb2_code

KINDS = ("web", "math")
VALUES_FILE = "fineweb2_thresholds.json"
DEFAULT_LANGUAGE_SCORE = 0.65  # datatrove's LanguageFilter default

_ALIASES = {"eng": "en", "vie": "vi", **{code: label for label, code in FINEWEB2_CODES.items()}}


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
class FineWebQualityParams:
    """Keyword arguments of datatrove's ``FineWebQualityFilter`` (its defaults)."""

    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: tuple[str, ...] | None = None  # None: datatrove's TERMINAL_PUNCTUATION
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``FineWebQualityFilter``."""
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


@cache
def fineweb2_values() -> dict[str, dict[str, Any]]:
    """FineWeb-2's values per FineWeb-2 code, read from the package file ``fineweb2_thresholds.json``."""
    text = resources.files("smolprep.filters").joinpath(VALUES_FILE).read_text(encoding="utf-8")
    return {code: values for code, values in json.loads(text).items() if not code.startswith("_")}


def normalize_language(language: str) -> str:
    """``vie_Latn``/``vie`` -> ``vi``, ``cmn_Hani`` -> ``zh``, ...; other codes unchanged."""
    return _ALIASES.get(language, language)


def _values(language: str) -> dict[str, Any] | None:
    """FineWeb-2's values for ``language``, or None (English and languages outside the table)."""
    code = fineweb2_code(normalize_language(language))
    return fineweb2_values().get(code) if code else None


def _pairs(values: list[list[float]]) -> tuple[tuple[int, float], ...]:
    return tuple((int(n), float(frac)) for n, frac in values)


def _check_kind(kind: str) -> None:
    if kind == "code":
        raise ValueError(
            "kind='code' has no Gopher parameters: code datasets skip the Gopher filters "
            "(they would delete source files). Use CodeSanityFilter for them."
        )
    if kind not in KINDS:
        raise ValueError(f"Unknown dataset kind {kind!r}; expected one of {', '.join(KINDS)}.")


def repetition_params(language: str, kind: str = "web") -> RepetitionParams:
    """Gopher repetition thresholds for ``language`` and dataset ``kind``."""
    _check_kind(kind)
    values = _values(language)
    if values is None:
        return RepetitionParams()
    return RepetitionParams(
        dup_line_frac=values["dup_line_frac"],
        dup_para_frac=0,
        dup_line_char_frac=0,
        dup_para_char_frac=0,
        top_n_grams=_pairs(values["top_n_grams"]),
        dup_n_grams=_pairs(values["dup_n_grams"]),
    )


def fineweb_quality_params(language: str, kind: str = "web") -> FineWebQualityParams | None:
    """FineWeb quality thresholds for ``language`` and ``kind``; None: the filter does not run."""
    _check_kind(kind)
    values = _values(language)
    if values is None or kind == "math":
        return None
    return FineWebQualityParams(
        line_punct_thr=values["line_punct_thr"],
        short_line_thr=999,
        char_duplicates_ratio=0.1,
        new_line_ratio=values["new_line_ratio"],
    )


def quality_params(language: str, kind: str = "web") -> QualityParams:
    """Gopher quality thresholds for ``language`` and dataset ``kind``."""
    _check_kind(kind)
    values = _values(language)
    if values is not None:
        params = QualityParams(
            min_avg_word_length=values["min_avg_word_length"],
            max_avg_word_length=values["max_avg_word_length"],
            max_non_alpha_words_ratio=values["max_non_alpha_words_ratio"],
            min_stop_words=2,
            stop_words=tuple(values["stopwords"]),
        )
    elif normalize_language(language) == "en":
        params = QualityParams()
    else:
        params = QualityParams(min_stop_words=None, stop_words=None)
    if kind == "math":
        params = dataclasses.replace(
            params,
            max_non_alpha_words_ratio=None,
            max_symbol_word_ratio=None,
            min_avg_word_length=2,
            max_avg_word_length=20,
        )
    return params


def language_score(language: str) -> float:
    """The lowest lid.176 score at which a document in ``language`` is kept."""
    values = _values(language)
    return float(values["language_score"]) if values is not None else DEFAULT_LANGUAGE_SCORE
