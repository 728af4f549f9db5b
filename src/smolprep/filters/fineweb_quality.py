"""FineWeb-2's FineWeb quality filter, per document language, with the words the Gopher filters computed.

FineWeb-2 runs datatrove's ``FineWebQualityFilter`` between the Gopher repetition and quality filters, with
each language's ``line_punct_thr`` and ``new_line_ratio`` (``smolprep.filters.params``). Its last rule
divides the number of newlines by the number of words, and datatrove tokenizes the whole document again for
it: for Vietnamese (pyvi) that costs as much as both Gopher filters together. ``FastFineWebQualityFilter``
takes the words from ``smolprep.text.words.document_words``, the list the Gopher filters of the same
document already computed, and is otherwise datatrove's rule for rule, with the same reasons
(``line_punct_ratio``, ``short_line_ratio``, ``char_dup_ratio``, ``list_ratio``).

``LanguageAwareFineWebQualityFilter`` picks the parameters of each document's language like the Gopher
wrappers do; a language without FineWeb-2 values (English, math datasets) passes through.
"""

from __future__ import annotations

from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter

from smolprep.filters.fast_gopher import find_duplicates
from smolprep.filters.gopher import LanguageAwareGopherFilter
from smolprep.filters.params import fineweb_quality_params
from smolprep.text.words import document_words


class FastFineWebQualityFilter(FineWebQualityFilter):
    """``FineWebQualityFilter`` (same arguments and reasons) with the document's shared words."""

    name = "🍷 FineWeb Quality (fast)"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return False, "empty"
        ratio = sum(1 for line in lines if line.endswith(self.stop_chars)) / len(lines)
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return False, "line_punct_ratio"

        ratio = sum(1 for line in lines if len(line) <= self.short_line_length) / len(lines)
        if ratio > self.short_line_threshold:
            return False, "short_line_ratio"

        if find_duplicates(lines)[1] / len(text.replace("\n", "")) > self.char_duplicates_ratio:
            return False, "char_dup_ratio"

        if text.count("\n") / len(document_words(text, self.language)) > self.new_line_ratio:
            return False, "list_ratio"

        return True


class LanguageAwareFineWebQualityFilter(LanguageAwareGopherFilter):
    """datatrove's ``FineWebQualityFilter`` decisions with the thresholds of each document's language;
    documents of a language without FineWeb-2 values pass.

    Args:
        default_language: language of documents without ``metadata["language"]``.
        kind: dataset kind, ``web`` or ``math`` (see ``smolprep.filters.params``).
        exclusion_writer: optional writer for dropped documents.
    """

    name = "🍷 FineWeb Quality (per language)"

    def _params(self, language: str) -> Any:
        return fineweb_quality_params(language, self.kind)

    def _new_filter(self, params: Any, tokenizer_language: str) -> BaseFilter:
        return FastFineWebQualityFilter(**params.as_kwargs(), language=tokenizer_language)
