"""The fast Gopher filters decide exactly like datatrove's (same decision, same reason) on every sample document,
and the whole web filter step decides like the stock one on a mixed English + Vietnamese dataset."""

from __future__ import annotations

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
from filter_samples import ENGLISH_TEXT, VIETNAMESE_TEXT, make_doc

from smolprep.filters import LanguageIdFilter, load_phrase_lists, quality_params, repetition_params
from smolprep.filters.fast_gopher import FastGopherQualityFilter, FastGopherRepetitionFilter
from smolprep.filters.stock import stock_prose_filters
from smolprep.paths import default_spam_lists
from tests.conftest import sample_texts


@pytest.fixture(scope="module")
def sample_docs() -> list[tuple[str, str]]:
    """(text, language) of every web sample document; the language is lid.176's label when it is en or vi
    (what the filters see in an [en, vi] dataset), else the dataset's."""
    lid = LanguageIdFilter(["en", "vi"])
    docs = []
    for dataset, language in (("en-web", "en"), ("vi-web", "vi")):
        for text in sample_texts(dataset):
            label, _ = lid.predict(text)
            docs.append((text, label if label in ("en", "vi") else language))
    return docs


def _doc(text: str) -> Document:
    return Document(text=text, id="x", metadata={})


def _decisions(make_filter, docs) -> list:
    filters: dict[str, object] = {}
    out = []
    for text, language in docs:
        if language not in filters:
            filters[language] = make_filter(language)
        out.append(filters[language].filter(_doc(text)))
    return out


@pytest.mark.parametrize("kind", ["web", "math"])
def test_repetition_decisions_on_every_sample_document(sample_docs, kind: str) -> None:
    def stock(language):
        return GopherRepetitionFilter(**repetition_params(language, kind).as_kwargs(), language=language)

    def fast(language):
        return FastGopherRepetitionFilter(**repetition_params(language, kind).as_kwargs(), language=language)

    expected = _decisions(stock, sample_docs)
    assert _decisions(fast, sample_docs) == expected
    assert sum(r is True for r in expected) > 100  # the sample exercises both outcomes
    assert sum(r is not True for r in expected) > 50


@pytest.mark.parametrize("kind", ["web", "math"])
def test_quality_decisions_on_every_sample_document(sample_docs, kind: str) -> None:
    def stock(language):
        return GopherQualityFilter(**quality_params(language, kind).as_kwargs(), language=language)

    def fast(language):
        return FastGopherQualityFilter(**quality_params(language, kind).as_kwargs(), language=language)

    expected = _decisions(stock, sample_docs)
    assert _decisions(fast, sample_docs) == expected
    assert len({r for r in expected if r is not True}) >= 2  # several different reasons


# One small literal document per rule (and the kept cases), checked against datatrove.
RULE_DOCS = {
    "empty": "",
    "dup_para_frac": "\n\n".join(["Same paragraph here."] * 4 + ["Other one.", "Third one."]),
    "dup_line_frac": "\n".join(["buy", "sell"] * 5 + [f"line {i}" for i in range(6)]),
    "top_2_gram": " ".join(["data trove"] * 30 + ["unique words follow here"] * 1),
    # a 20-word sentence twice after 22 other words: many repeated 5-grams, no dominant 2/3/4-gram
    "duplicated_5_n_grams": " ".join(
        [f"filler{i}" for i in range(22)] + [f"word{i}" for i in range(20)] * 2 + ["end"]
    ),
    "short": "Too short.",
    "symbols": "# " * 60 + " ".join(["word"] * 60),
    "bullets": "\n".join(f"- item number {i} with the words" for i in range(60)),
    "ellipsis": "\n".join(f"and the line goes on {i}..." for i in range(60)),
    "alpha": " ".join(["1234", "5678", "(x)", "the", "and"] * 40),
    "english": ENGLISH_TEXT,
    "vietnamese": VIETNAMESE_TEXT,
}


@pytest.mark.parametrize("name", list(RULE_DOCS))
@pytest.mark.parametrize("language", ["en", "vi"])
def test_literal_documents(name: str, language: str) -> None:
    text = RULE_DOCS[name]
    for stock, fast, params in (
        (GopherRepetitionFilter, FastGopherRepetitionFilter, repetition_params(language)),
        (GopherQualityFilter, FastGopherQualityFilter, quality_params(language)),
    ):
        kwargs = params.as_kwargs()
        assert fast(**kwargs, language=language).filter(make_doc(text)) == stock(
            **kwargs, language=language
        ).filter(make_doc(text))


def test_literal_documents_hit_their_rules() -> None:
    """The literal documents above really exercise the rules (so the comparison means something)."""
    rep = FastGopherRepetitionFilter(language="en")
    quality = FastGopherQualityFilter(language="en")
    assert rep.filter(make_doc(RULE_DOCS["dup_para_frac"])) == (False, "dup_para_frac")
    assert rep.filter(make_doc(RULE_DOCS["top_2_gram"])) == (False, "top_2_gram")
    assert rep.filter(make_doc(RULE_DOCS["duplicated_5_n_grams"])) == (False, "duplicated_5_n_grams")
    assert quality.filter(make_doc(RULE_DOCS["short"])) == (False, "gopher_short_doc")
    assert quality.filter(make_doc(RULE_DOCS["bullets"])) == (False, "gopher_too_many_bullets")
    assert quality.filter(make_doc(RULE_DOCS["alpha"])) == (False, "gopher_below_alpha_threshold")
    assert quality.filter(make_doc(RULE_DOCS["english"])) is True


def test_web_filter_step_decides_like_stock_on_mixed_english_vietnamese() -> None:
    """The production filters of a web dataset with language [en, vi] against the stock ones (datatrove's
    Gopher classes per document language), document by document, decision and reason."""
    from smolprep.config.stage import DatasetSpec
    from smolprep.pipelines.build import FilterResources, prose_filters

    phrases = tuple(load_phrase_lists(default_spam_lists()))
    spec = DatasetSpec(name="mixed", path="unused", kind="web", language=("en", "vi"))
    ours = prose_filters(spec, FilterResources(lid_model=None, spam_phrases=phrases))
    stock = stock_prose_filters("web", ["en", "vi"], phrases)
    en, vi = sample_texts("en-web"), sample_texts("vi-web")
    texts = [t for pair in zip(en, vi, strict=False) for t in pair] + vi[len(en) :]

    def decide(steps, text):
        doc = _doc(text)
        for step in steps:
            result = step.filter(doc)
            if result is not True:
                return result
        return True

    expected = [decide(stock, t) for t in texts]
    assert [decide(ours, t) for t in texts] == expected
    assert len(texts) == 896
    assert 150 < sum(r is True for r in expected) < 600
    # Vietnamese has FineWeb-2's whole chain: its FineWeb quality rules decide part of the sample
    assert {(False, "line_punct_ratio"), (False, "list_ratio")} <= set(expected)
