"""LanguageIdFilter: best lid.176 label must be wanted and above its threshold."""

from __future__ import annotations

import pytest
from filter_samples import ENGLISH_TEXT, FRENCH_TEXT, VIETNAMESE_TEXT, make_doc, run_step

from smolprep.filters import LanguageIdFilter, LidModelNotFoundError, default_lid_model_path


@pytest.fixture(scope="module")
def english_only() -> LanguageIdFilter:
    return LanguageIdFilter(["en"])


def test_english_document_is_kept_and_tagged(english_only: LanguageIdFilter) -> None:
    doc = make_doc(ENGLISH_TEXT)
    assert english_only.filter(doc) is True
    assert doc.metadata["language"] == "en"
    assert doc.metadata["language_score"] > 0.9


def test_french_document_in_english_dataset_is_wrong_language(english_only: LanguageIdFilter) -> None:
    doc = make_doc(FRENCH_TEXT)
    assert english_only.filter(doc) == (False, "wrong_language")
    assert doc.metadata["language"] == "fr"


def test_english_paragraph_in_vietnamese_only_dataset_is_dropped() -> None:
    vietnamese_only = LanguageIdFilter(["vi"])
    english = make_doc(ENGLISH_TEXT.split("\n\n")[0], "en-1")
    vietnamese = make_doc(VIETNAMESE_TEXT, "vi-1")
    kept, stats = run_step(vietnamese_only, [english, vietnamese])
    assert [doc.id for doc in kept] == ["vi-1"]
    assert stats["dropped_wrong_language"] == 1
    assert english.metadata["language"] == "en"


def test_bilingual_filter_tags_each_document_with_its_language() -> None:
    bilingual = LanguageIdFilter(["en", "vi"])
    docs = [make_doc(ENGLISH_TEXT, "en-1"), make_doc(VIETNAMESE_TEXT, "vi-1"), make_doc(FRENCH_TEXT, "fr-1")]
    kept, stats = run_step(bilingual, docs)
    assert {doc.id: doc.metadata["language"] for doc in kept} == {"en-1": "en", "vi-1": "vi"}
    assert stats["forwarded"] == 2
    assert stats["dropped_wrong_language"] == 1


def test_wanted_language_below_threshold_is_low_language_score() -> None:
    # lid.176 labels text without words "en" with a score of about 0.12
    doc = make_doc("12345 !!! 678")
    assert LanguageIdFilter(["en"]).filter(doc) == (False, "low_language_score")
    assert doc.metadata["language"] == "en"
    assert doc.metadata["language_score"] < 0.65


def test_per_language_threshold_applies_only_to_its_language() -> None:
    strict_vi = LanguageIdFilter(["en", "vi"], thresholds={"vi": 1.0})
    assert strict_vi.thresholds == {"en": 0.65, "vi": 1.0}
    assert strict_vi.filter(make_doc(VIETNAMESE_TEXT)) == (False, "low_language_score")
    assert strict_vi.filter(make_doc(ENGLISH_TEXT)) is True


def test_explicit_model_path_is_used() -> None:
    explicit = LanguageIdFilter(["vi"], model_path=default_lid_model_path())
    assert explicit.filter(make_doc(VIETNAMESE_TEXT)) is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"languages": []}, "at least one language"),
        ({"languages": ["en", "xx"]}, r"\['xx'\] are not lid.176 labels"),
        ({"languages": ["en"], "thresholds": {"vi": 0.8}}, r"thresholds given for \['vi'\]"),
        (
            {"languages": ["en"], "thresholds": {"en": 1.5}},
            r"thresholds\['en'\] must be a number between 0 and 1",
        ),
        (
            {"languages": ["en"], "default_threshold": -0.1},
            "default_threshold must be a number between 0 and 1",
        ),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LanguageIdFilter(**kwargs)


def test_missing_model_file_is_refused_at_build_time(tmp_path) -> None:
    with pytest.raises(LidModelNotFoundError, match="is not a file"):
        LanguageIdFilter(["en"], model_path=str(tmp_path / "nope.ftz"))
