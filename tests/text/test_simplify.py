"""smolprep's simplify_text is datatrove's (MinHash normalisation), on the sample and on edge cases."""

from __future__ import annotations

import unicodedata

import pytest
from datatrove.utils.text import TextNormConfig
from datatrove.utils.text import simplify_text as datatrove_simplify
from sample_texts import sample_texts

from smolprep.text.simplify import simplify_text

CASES = [
    "",
    "   ",
    "Plain ASCII, with Numbers 1,234.5 and MONDAY in March!",
    "Tiếng Việt có dấu: Hà Nội, Đà Nẵng, người, được.",
    unicodedata.normalize("NFD", "Tiếng Việt viết bằng dấu tổ hợp (NFD)"),
    "Ünïcödé naïve café résumé Straße İstanbul ǅ",
    "Combining marks alone: \u0301\u0300 a\u0323\u0302 \u20dd \u0489",
    "Digits ٣٤٥ ১২৩ and separators 1.000,5 ٫",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp",
]


@pytest.mark.parametrize("text", CASES)
def test_edge_cases(text: str) -> None:
    assert simplify_text(text) == datatrove_simplify(text)


@pytest.mark.parametrize("dataset", ["en-web", "vi-web", "code"])
def test_every_sample_document(dataset: str) -> None:
    for text in sample_texts(dataset):
        assert simplify_text(text) == datatrove_simplify(text)


@pytest.mark.parametrize(
    "config",
    [
        TextNormConfig(norm_weekdays=True, norm_monthnames=True),
        TextNormConfig(lowercase=False, remove_punctuation=False),
        TextNormConfig(norm_unicode_diacritics=False, norm_numbers=False),
    ],
)
def test_other_settings(config: TextNormConfig) -> None:
    for text in CASES + list(sample_texts("vi-web")[:20]):
        assert simplify_text(text, config) == datatrove_simplify(text, config)
