"""FineWeb-2's filter chain for every language: the codes a dataset may name, the values we ship, and the
production filters deciding like stock datatrove configured with those values, document by document."""

from __future__ import annotations

import gzip
import json
import re
from importlib import resources
from pathlib import Path

import pytest
from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.fineweb_quality_filter import FineWebQualityFilter
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
from filter_samples import ENGLISH_TEXT
from fineweb2_texts import PROSE

import smolprep.text.words as words_module
from smolprep.config.schema import BadValue
from smolprep.config.stage import DatasetSpec, as_languages, load_stage_config
from smolprep.filters import (
    LanguageAwareFineWebQualityFilter,
    LanguageAwareGopherQualityFilter,
    LanguageAwareGopherRepetitionFilter,
    LanguageIdFilter,
    SpamFilter,
    fineweb_quality_params,
    load_phrase_lists,
    quality_params,
)
from smolprep.paths import default_spam_lists
from smolprep.pipelines.build import FilterResources, prose_filters
from tests.conftest import sample_texts

VALUES = json.loads(
    resources.files("smolprep.filters").joinpath("fineweb2_thresholds.json").read_text("utf-8")
)
PHRASES = tuple(load_phrase_lists(default_spam_lists()))
# the FineWeb-2 languages of SmolLM3's stage 1, by lid.176 label
STAGE1 = {
    "vi": "vie_Latn", "fr": "fra_Latn", "es": "spa_Latn", "de": "deu_Latn", "it": "ita_Latn", "pt": "por_Latn",
    "zh": "cmn_Hani", "ru": "rus_Cyrl", "fa": "fas_Arab", "ja": "jpn_Jpan", "ko": "kor_Hang", "hi": "hin_Deva",
    "th": "tha_Thai", "el": "ell_Grek",
}  # fmt: skip


def stock_chain(label: str) -> list[PipelineStep]:
    """fineweb-2-pipeline.py's filters built from datatrove's classes and the values file (English:
    datatrove's Gopher defaults), after our lid.176 filter and before our spam filter."""
    if label == "en":
        return [
            LanguageIdFilter(["en"]),
            GopherRepetitionFilter(language="eng_Latn"),
            GopherQualityFilter(language="eng_Latn"),
            SpamFilter(PHRASES),
        ]
    code = STAGE1[label]
    cfg = VALUES[code]
    return [
        LanguageIdFilter([label], thresholds={label: cfg["language_score"]}),
        GopherRepetitionFilter(
            language=code,
            dup_para_frac=0,
            dup_line_char_frac=0,
            dup_para_char_frac=0,
            dup_line_frac=cfg["dup_line_frac"],
            top_n_grams=cfg["top_n_grams"],
            dup_n_grams=cfg["dup_n_grams"],
        ),
        FineWebQualityFilter(
            language=code,
            short_line_thr=999,
            char_duplicates_ratio=0.1,
            line_punct_thr=cfg["line_punct_thr"],
            new_line_ratio=cfg["new_line_ratio"],
        ),
        GopherQualityFilter(
            language=code,
            max_avg_word_length=cfg["max_avg_word_length"],
            min_avg_word_length=cfg["min_avg_word_length"],
            stop_words=cfg["stopwords"],
            max_non_alpha_words_ratio=cfg["max_non_alpha_words_ratio"],
            min_stop_words=2,
        ),
        SpamFilter(PHRASES),
    ]


def production_chain(language: str) -> list[PipelineStep]:
    spec = DatasetSpec(name="x", path="unused", kind="web", language=(language,))
    return prose_filters(spec, FilterResources(lid_model=None, spam_phrases=PHRASES))


def decide(steps: list[PipelineStep], text: str) -> bool | tuple[bool, str]:
    doc = Document(text=text, id="x", metadata={})
    for step in steps:
        result = step.filter(doc)
        if result is not True:
            return result
    return True


def test_values_file_names_its_source_and_licence() -> None:
    source = VALUES["_source"]
    assert "huggingface/fineweb-2" in source and "configs/<code>.yml" in source and "Apache-2.0" in source
    assert set(VALUES) - {"_source"} == set(STAGE1.values())


@pytest.mark.parametrize(("label", "code"), list(STAGE1.items()))
def test_both_codes_name_one_language(label: str, code: str) -> None:
    assert as_languages(code) == as_languages(label) == (label,)


def test_a_config_may_use_fineweb2_codes(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"text": "x"}\n')
    config = tmp_path / "stage.yaml"
    config.write_text(
        "name: s\ndatasets:\n"
        "  - {name: fw2, path: in, language: [fra_Latn, cmn_Hani, fr], weight: 0.5}\n"
        "  - {name: iso, path: in, language: hi, weight: 0.5}\n"
    )
    stage = load_stage_config(config)
    assert [d.language for d in stage.datasets] == [("fr", "zh"), ("hi",)]


@pytest.mark.parametrize("code", ["klingon", "zh_Hani", "nl"])
def test_an_unknown_code_is_refused_with_the_known_ones(code: str) -> None:
    with pytest.raises(BadValue) as raised:
        as_languages(["fr", code])
    assert f"unknown: {code}" in raised.value.fix
    assert "vi, " in raised.value.expected and "cmn_Hani" in raised.value.expected


@pytest.mark.parametrize(("label", "code"), list(STAGE1.items()))
def test_every_filter_splits_words_with_the_fineweb2_code(label: str, code: str) -> None:
    for cls in (
        LanguageAwareGopherRepetitionFilter,
        LanguageAwareFineWebQualityFilter,
        LanguageAwareGopherQualityFilter,
    ):
        delegate = cls(default_language="en").delegate_for(label)
        assert delegate is not None and delegate.language == code


def test_english_keeps_datatrove_defaults_without_fineweb_quality() -> None:
    assert fineweb_quality_params("en") is None
    assert LanguageAwareFineWebQualityFilter().delegate_for("en") is None
    listing = "\n".join(f"item {i}" for i in range(80))  # no punctuation, one word per line: FineWeb drops it
    assert FineWebQualityFilter().filter(Document(text=listing, id="x")) == (False, "line_punct_ratio")
    doc = Document(text=listing, id="x", metadata={"language": "en"})
    assert LanguageAwareFineWebQualityFilter().filter(doc) is True


def test_a_value_of_zero_turns_the_rule_off() -> None:
    assert quality_params("de").min_avg_word_length == 0  # deu_Latn.yml: 0, datatrove reads it as "off"
    step = LanguageAwareGopherRepetitionFilter(default_language="vi")
    repeated = "\n\n".join([PROSE["fr"]] * 2)  # every paragraph twice: over datatrove's default dup_para_frac
    assert GopherRepetitionFilter(language="fra_Latn").filter(Document(text=repeated, id="x")) == (
        False,
        "dup_para_frac",
    )
    assert step.delegate_for("fr").filter(Document(text=repeated, id="x")) == (False, "dup_line_frac")


@pytest.mark.parametrize(("dataset", "label"), [("vi-web", "vi"), ("en-web", "en")])
def test_production_chain_decides_like_stock_on_the_sample(dataset: str, label: str) -> None:
    texts = sample_texts(dataset)
    expected = [decide(stock_chain(label), t) for t in texts]
    ours = production_chain(label)
    assert [decide(ours, t) for t in texts] == expected
    assert 20 < sum(r is True for r in expected) < len(texts) - 20  # both outcomes
    assert len({r for r in expected if r is not True}) >= 5  # several rules decide


def _variants(text: str) -> list[str]:
    """The passage, then documents that exercise the other rules: one sentence per line, no terminal
    punctuation, a repeated line, the first sentence alone, and English text."""
    sentences = [s for s in re.split(r"(?<=[.!?。।])\s*", text.replace("\n", " ")) if s.strip()]
    lines = text.split("\n")
    return [
        text,
        "\n".join(sentences),
        "\n".join(line.rstrip(".。।") for line in lines),
        "\n".join([lines[0]] * 4 + lines),
        sentences[0],
        ENGLISH_TEXT,
    ]


@pytest.mark.parametrize("label", sorted(PROSE))
def test_production_chain_decides_like_stock_in_every_language(label: str) -> None:
    texts = _variants(PROSE[label])
    expected = [decide(stock_chain(label), t) for t in texts]
    assert [decide(production_chain(label), t) for t in texts] == expected
    assert expected[0] is True  # the prose is kept
    assert expected[3] is not True  # the repeated line is removed
    assert expected[5] == (False, "wrong_language")


def test_chinese_prose_keeps_its_words() -> None:
    """datatrove's tokenizer for the bare code 'zh' (spaCy 'xx') makes a clause one word: the Gopher filters
    would drop a normal passage. With cmn_Hani (jieba) it is kept."""
    zh_params = quality_params("zh").as_kwargs()
    assert (
        GopherQualityFilter(**zh_params, language="zh").filter(Document(text=PROSE["zh"], id="x")) is not True
    )
    doc = Document(text=PROSE["zh"], id="x", metadata={"language": "zh"})
    assert LanguageAwareGopherQualityFilter().filter(doc) is True
    assert LanguageAwareGopherRepetitionFilter().filter(doc) is True


def test_the_words_of_a_document_are_computed_once_for_the_three_filters(monkeypatch) -> None:
    calls: list[str] = []
    real = words_module.word_tokenizer

    class Counting:
        def __init__(self, language: str) -> None:
            self.inner = real(language)

        def word_tokenize(self, text: str) -> list[str]:
            calls.append(text)
            return self.inner.word_tokenize(text)

    monkeypatch.setattr(words_module, "word_tokenizer", Counting)
    steps = [
        LanguageAwareGopherRepetitionFilter(),
        LanguageAwareFineWebQualityFilter(),
        LanguageAwareGopherQualityFilter(),
    ]
    for text in (PROSE["fr"], PROSE["fr"].replace("ville", "bourgade")):
        doc = Document(text=text, id="x", metadata={"language": "fr"})
        assert [step.filter(doc) for step in steps] == [True, True, True]
    assert len(calls) == 2


def test_the_iso_and_fineweb2_codes_share_one_fast_tokenizer() -> None:
    """The launcher warms the tokenizers of the datasets' languages once for all local workers; the filters
    ask by FineWeb-2 code, so both codes must give the same (warmed) tokenizer."""
    assert words_module.word_tokenizer("vi") is words_module.word_tokenizer("vie_Latn")
    assert words_module.word_tokenizer("fr") is words_module.word_tokenizer("fra_Latn")


MULTILINGUAL = Path(__file__).resolve().parents[2] / "sample" / "multilingual"


def _multilingual_texts(code: str) -> list[str]:
    texts = []
    for file in sorted((MULTILINGUAL / code).glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    return texts


@pytest.mark.parametrize(("label", "code"), sorted(STAGE1.items()))
def test_production_chain_decides_like_stock_on_the_multilingual_sample(label: str, code: str) -> None:
    texts = _multilingual_texts(code)
    assert len(texts) >= 30
    expected = [decide(stock_chain(label), t) for t in texts]
    assert [decide(production_chain(label), t) for t in texts] == expected
