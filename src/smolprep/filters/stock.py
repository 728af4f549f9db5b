"""The reference: the same filter steps built on datatrove's own Gopher classes.

This is what smolprep ran before its filters were made faster, and what "stock datatrove with per-language
settings" means in ``docs/performance.md``: our ``LanguageIdFilter`` (lid.176; keep-if-best-label decisions,
each language's minimum score), datatrove's ``GopherRepetitionFilter``, ``FineWebQualityFilter`` and
``GopherQualityFilter`` built per document language with the parameters of ``smolprep.filters.params`` and
``language=`` that language's FineWeb-2 code (datatrove's word tokenizer for it), and our ``SpamFilter``. The tests and ``bench/`` compare smolprep's steps with these, document by
document; nothing in the production pipelines uses this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter

from smolprep.filters.code import CodeSanityFilter
from smolprep.filters.fineweb_quality import LanguageAwareFineWebQualityFilter
from smolprep.filters.gopher import LanguageAwareGopherQualityFilter, LanguageAwareGopherRepetitionFilter
from smolprep.filters.language import LanguageIdFilter
from smolprep.filters.params import language_score
from smolprep.filters.spam import SpamFilter


class StockGopherRepetitionFilter(LanguageAwareGopherRepetitionFilter):
    """Per-language wrapper around datatrove's own ``GopherRepetitionFilter``."""

    name = "👯 Gopher Repetition (datatrove, per language)"

    def _new_filter(self, params: Any, tokenizer_language: str) -> BaseFilter:
        return GopherRepetitionFilter(**params.as_kwargs(), language=tokenizer_language)


class StockFineWebQualityFilter(LanguageAwareFineWebQualityFilter):
    """Per-language wrapper around datatrove's own ``FineWebQualityFilter``."""

    name = "🍷 FineWeb Quality (datatrove, per language)"

    def _new_filter(self, params: Any, tokenizer_language: str) -> BaseFilter:
        return FineWebQualityFilter(**params.as_kwargs(), language=tokenizer_language)


class StockGopherQualityFilter(LanguageAwareGopherQualityFilter):
    """Per-language wrapper around datatrove's own ``GopherQualityFilter``."""

    name = "🥇 Gopher Quality (datatrove, per language)"

    def _new_filter(self, params: Any, tokenizer_language: str) -> BaseFilter:
        return GopherQualityFilter(**params.as_kwargs(), language=tokenizer_language)


def stock_prose_filters(
    kind: str, languages: Sequence[str], spam_phrases: Sequence[str], lid_model: str | None = None
) -> list[PipelineStep]:
    """The reference filters of a dataset of ``kind`` in ``languages`` (mirrors ``prose_filters``)."""
    if kind == "code":
        return [CodeSanityFilter()]
    languages = list(languages)
    steps: list[PipelineStep] = [
        LanguageIdFilter(
            languages, model_path=lid_model, thresholds={x: language_score(x) for x in languages}
        ),
        StockGopherRepetitionFilter(default_language=languages[0], kind=kind),
        StockFineWebQualityFilter(default_language=languages[0], kind=kind),
        StockGopherQualityFilter(default_language=languages[0], kind=kind),
    ]
    if kind == "web":
        steps.append(SpamFilter(spam_phrases))
    return steps
