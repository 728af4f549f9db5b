"""Every stage-1 language's production chain removes text in another language and repeated-line junk made
of that language's own real text, with the reason of the filter that should catch it."""

from __future__ import annotations

import pytest
from test_fineweb2_chain import STAGE1, _multilingual_texts, decide, production_chain

from tests.conftest import sample_texts

LANGUAGES = sorted(STAGE1.items())


def _other_language_texts(code: str) -> list[str]:
    """Real documents of two other languages (one of another script, one of the same where there is one)
    and English."""
    others = [c for _, c in LANGUAGES if c != code]
    same_script = [c for c in others if c.split("_")[1] == code.split("_")[1]][:1]
    other_script = [c for c in others if c.split("_")[1] != code.split("_")[1]][:1]
    texts = [t for c in same_script + other_script for t in _multilingual_texts(c)[:5]]
    return texts + sample_texts("en-web")[:5]


@pytest.mark.parametrize(("label", "code"), LANGUAGES)
def test_text_in_another_language_is_removed(label: str, code: str) -> None:
    chain = production_chain(label)
    texts = _other_language_texts(code)
    decisions = [decide(chain, text) for text in texts]
    kept = [text[:60] for text, d in zip(texts, decisions, strict=True) if d is True]
    assert not kept, f"{code}: documents in another language kept: {kept}"
    assert {d[1] for d in decisions if d is not True} <= {"wrong_language", "low_language_score"}


def _repeated_line_junk(label: str, code: str) -> str:
    """The longest real line of the language (under 300 characters) that language ID takes for it, written
    40 times: only repetition is wrong with it."""
    language_id = production_chain(label)[0]
    lines = {line.strip() for text in _multilingual_texts(code) for line in text.splitlines()}
    line = next(
        x for x in sorted(lines, key=len, reverse=True) if len(x) < 300 and decide([language_id], x) is True
    )
    return "\n".join([line] * 40)


@pytest.mark.parametrize(("label", "code"), LANGUAGES)
def test_repeated_line_junk_is_removed_by_the_repetition_filter(label: str, code: str) -> None:
    decision = decide(production_chain(label), _repeated_line_junk(label, code))
    assert decision is not True, f"{code}: a line repeated 40 times was kept"
    assert decision[1] in {"dup_line_frac", "dup_line_char_frac"} or decision[1].startswith(
        ("top_", "duplicated_")
    ), f"{code}: removed for {decision[1]!r}, not by the repetition filter"
