"""Every filter survives dill (what SlurmPipelineExecutor does) after use, stays small, and still works."""

from __future__ import annotations

from collections.abc import Callable

import dill
import pytest
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from filter_samples import ENGLISH_TEXT, FRENCH_TEXT, VIETNAMESE_TEXT, make_doc

from smolprep.filters import (
    CodeSanityFilter,
    LanguageAwareGopherQualityFilter,
    LanguageAwareGopherRepetitionFilter,
    LanguageIdFilter,
    SpamFilter,
)

REPETITIVE = "\n".join(["Great product, fast shipping!"] * 4 + ENGLISH_TEXT.split(". ")[:6])

CASES: list[tuple[str, Callable[[], BaseFilter], Document, Document]] = [
    ("language", lambda: LanguageIdFilter(["en", "vi"]), make_doc(VIETNAMESE_TEXT), make_doc(FRENCH_TEXT)),
    (
        "gopher-quality",
        LanguageAwareGopherQualityFilter,
        make_doc(VIETNAMESE_TEXT, language="vi"),
        make_doc("Too short.", language="en"),
    ),
    (
        "gopher-repetition",
        LanguageAwareGopherRepetitionFilter,
        make_doc(ENGLISH_TEXT, language="en"),
        make_doc(REPETITIVE, language="en"),
    ),
    (
        "spam",
        lambda: SpamFilter(["click here", "đăng ký ngay"]),
        make_doc(ENGLISH_TEXT),
        make_doc("Đăng ký ngay!"),
    ),
    ("code", CodeSanityFilter, make_doc("def f(x):\n    return x + 1\n"), make_doc("")),
]


def _fresh(doc: Document) -> Document:
    return Document(text=doc.text, id=doc.id, metadata=dict(doc.metadata))


@pytest.mark.parametrize(("name", "factory", "good", "bad"), CASES, ids=[case[0] for case in CASES])
def test_filter_survives_dill_after_use(
    name: str, factory: Callable[[], BaseFilter], good: Document, bad: Document
) -> None:
    original = factory()
    before = (original.filter(_fresh(good)), original.filter(_fresh(bad)))  # builds models, caches
    assert before[0] is True and before[1] != True  # noqa: E712

    payload = dill.dumps(original)
    assert len(payload) < 100_000, f"{name}: pickled step is {len(payload)} bytes; a model leaked into it"
    restored = dill.loads(payload)
    assert (restored.filter(_fresh(good)), restored.filter(_fresh(bad))) == before
