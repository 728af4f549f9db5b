"""Gopher repetition and quality filters that use each document's own language.

datatrove's Gopher filters take one parameter set and one word tokenizer for a whole pipeline; stock
``GopherQualityFilter()`` uses English stop words and drops nearly every Vietnamese document. These wrappers
read ``doc.metadata["language"]`` (set by ``LanguageIdFilter``; ``default_language`` when absent), pick that
language's parameters from ``smolprep.filters.params`` and delegate to a filter built for that language,
with ``language=`` its FineWeb-2 code (``vie_Latn``, ``cmn_Hani``, ...), so that datatrove splits its words
with the tokenizer it assigns to that code (pyvi for Vietnamese, jieba for Chinese, ...).

The delegates are ``FastGopherRepetitionFilter`` / ``FastGopherQualityFilter`` (``fast_gopher.py``):
subclasses of datatrove's filters with the same decisions and reason labels (``dup_line_frac``,
``top_2_gram``, ``duplicated_5_n_grams``, ... for repetition; ``gopher_short_doc``,
``gopher_enough_stop_words``, ... for quality), computed several times faster, with the words of a
document computed once for both (and for the FineWeb quality filter that runs between them,
``fineweb_quality.py``). ``smolprep.filters.stock`` has the same wrappers around datatrove's own classes
(the reference the tests and the benchmark compare with).

Per-language filters are built on first use and cached; they are dropped when the step is pickled.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.word_tokenizers import load_tokenizer_assignments

from smolprep.filters.fast_gopher import FastGopherQualityFilter, FastGopherRepetitionFilter
from smolprep.filters.languages import fineweb2_code
from smolprep.filters.params import normalize_language, quality_params, repetition_params


def tokenizer_language(language: str) -> str:
    """The code to give datatrove's ``language=`` for ``language``: its FineWeb-2 code when it has one
    (``zh`` -> ``cmn_Hani``), else the code as given."""
    return fineweb2_code(language) or language


def has_word_tokenizer(language: str) -> bool:
    """Whether datatrove assigns a word tokenizer to ``language``."""
    return tokenizer_language(language) in load_tokenizer_assignments()


class LanguageAwareGopherFilter(BaseFilter):
    """Shared machinery: choose the language, build and cache one datatrove filter per language."""

    def __init__(
        self, default_language: str = "en", kind: str = "web", exclusion_writer: DiskWriter | None = None
    ):
        super().__init__(exclusion_writer)
        self.default_language = normalize_language(default_language)
        self.kind = kind
        self._params(self.default_language)  # validates kind now, not inside a Slurm task
        if not has_word_tokenizer(self.default_language):
            raise ValueError(
                f"{type(self).__name__}: datatrove has no word tokenizer for default_language "
                f"{default_language!r}. Use a code from datatrove's tokenizer_assignment.csv, "
                "e.g. 'en' or 'vi'."
            )
        self._delegates: dict[str, BaseFilter | None] = {}

    @abstractmethod
    def _params(self, language: str) -> Any:
        """The parameter set for ``language`` and ``self.kind``."""

    @abstractmethod
    def _new_filter(self, params: Any, tokenizer_language: str) -> BaseFilter:
        """A datatrove filter with ``params`` that splits words like ``tokenizer_language``."""

    def _build_delegate(self, language: str) -> BaseFilter | None:
        params = self._params(language)
        if params is None:
            return None  # this filter does not run for the language
        # A language datatrove cannot split into words (lid.176's 'bh', 'tl') keeps its own thresholds but
        # borrows the default language's tokenizer.
        words_of = language if has_word_tokenizer(language) else self.default_language
        return self._new_filter(params, tokenizer_language(words_of))

    def delegate_for(self, language: str) -> BaseFilter | None:
        """The datatrove filter used for documents in ``language`` (built once, then cached); None when
        the filter does not run for that language."""
        language = normalize_language(language)
        if language not in self._delegates:
            self._delegates[language] = self._build_delegate(language)
        return self._delegates[language]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        delegate = self.delegate_for(doc.metadata.get("language") or self.default_language)
        return True if delegate is None else delegate.filter(doc)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_delegates"] = {}
        return state


class LanguageAwareGopherRepetitionFilter(LanguageAwareGopherFilter):
    """datatrove's ``GopherRepetitionFilter`` decisions with the thresholds of each document's language.

    Args:
        default_language: language of documents without ``metadata["language"]``.
        kind: dataset kind, ``web`` or ``math`` (see ``smolprep.filters.params``).
        exclusion_writer: optional writer for dropped documents.
    """

    name = "👯 Gopher Repetition (per language)"

    def _params(self, language: str) -> Any:
        return repetition_params(language, self.kind)

    def _new_filter(self, params: Any, tokenizer_language: str) -> BaseFilter:
        return FastGopherRepetitionFilter(**params.as_kwargs(), language=tokenizer_language)


class LanguageAwareGopherQualityFilter(LanguageAwareGopherFilter):
    """datatrove's ``GopherQualityFilter`` decisions with the thresholds and stop words of each document's
    language.

    Args:
        default_language: language of documents without ``metadata["language"]``.
        kind: dataset kind, ``web`` or ``math`` (see ``smolprep.filters.params``).
        exclusion_writer: optional writer for dropped documents.
    """

    name = "🥇 Gopher Quality (per language)"

    def _params(self, language: str) -> Any:
        return quality_params(language, self.kind)

    def _new_filter(self, params: Any, tokenizer_language: str) -> BaseFilter:
        return FastGopherQualityFilter(**params.as_kwargs(), language=tokenizer_language)
