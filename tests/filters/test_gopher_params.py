"""The per-language, per-kind Gopher parameter registry."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS, GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter

from smolprep.filters import QualityParams, RepetitionParams, quality_params, repetition_params


def _datatrove_defaults(cls: type) -> dict:
    skip = {"self", "exclusion_writer", "language"}
    return {
        name: p.default for name, p in inspect.signature(cls.__init__).parameters.items() if name not in skip
    }


def test_english_repetition_is_datatrove_default() -> None:
    assert repetition_params("en").as_kwargs() == _datatrove_defaults(GopherRepetitionFilter)


def test_english_quality_is_datatrove_default() -> None:
    expected = _datatrove_defaults(GopherQualityFilter) | {"stop_words": list(STOP_WORDS)}
    assert quality_params("en").as_kwargs() == expected


def test_vietnamese_repetition_is_fineweb2() -> None:
    params = repetition_params("vi")
    assert params.dup_line_frac == 0.293
    assert params.top_n_grams == ((2, 0.223), (3, 0.197), (4, 0.171))
    assert params.dup_n_grams == ((5, 0.178), (6, 0.163), (7, 0.15), (8, 0.136), (9, 0.124), (10, 0.111))
    # not given by FineWeb-2's file: fineweb-2-pipeline.py turns them off (0)
    assert (params.dup_para_frac, params.dup_line_char_frac, params.dup_para_char_frac) == (0, 0, 0)


def test_vietnamese_quality_is_fineweb2() -> None:
    params = quality_params("vi")
    assert (params.min_avg_word_length, params.max_avg_word_length) == (3, 11)
    assert params.max_non_alpha_words_ratio == 0.803
    assert params.min_stop_words == 2
    assert params.stop_words == (
        "là", "và", "của", "một", "được", "trong", "năm", "các", "có", "loài", "này", "đã", "người",
    )  # fmt: skip


def test_glotlid_codes_are_aliases() -> None:
    assert quality_params("vie_Latn") == quality_params("vi")
    assert repetition_params("eng_Latn") == repetition_params("en")


def test_languages_outside_the_table_have_no_stop_word_rule() -> None:
    params = quality_params("nl")  # a lid.176 label without FineWeb-2 values in smolprep
    assert params.min_stop_words is None
    assert dataclasses.replace(params, min_stop_words=2, stop_words=tuple(STOP_WORDS)) == quality_params("en")
    assert repetition_params("nl") == RepetitionParams()


@pytest.mark.parametrize("language", ["en", "vi", "fr"])
def test_math_quality_keeps_formulas_but_not_short_documents(language: str) -> None:
    web, math = quality_params(language, "web"), quality_params(language, "math")
    assert math.max_non_alpha_words_ratio is None
    assert math.max_symbol_word_ratio is None
    assert (math.min_avg_word_length, math.max_avg_word_length) == (2, 20)
    assert (math.min_doc_words, math.max_doc_words) == (web.min_doc_words, web.max_doc_words)
    assert (math.min_stop_words, math.stop_words) == (web.min_stop_words, web.stop_words)
    assert repetition_params(language, "math") == repetition_params(language, "web")


def test_code_kind_is_refused_with_the_alternative() -> None:
    with pytest.raises(ValueError, match="CodeSanityFilter"):
        quality_params("en", "code")


def test_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="expected one of web, math"):
        repetition_params("en", "prose")


def test_stop_word_rule_without_stop_words_is_refused() -> None:
    with pytest.raises(ValueError, match="min_stop_words=2 needs a non-empty stop_words"):
        QualityParams(min_stop_words=2, stop_words=None)
