"""Language-aware Gopher filters: datatrove's decisions with each document's language parameters."""

from __future__ import annotations

import pytest
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
from filter_samples import ENGLISH_TEXT, FRENCH_TEXT, VIETNAMESE_TEXT, make_doc, run_step

from smolprep.filters import LanguageAwareGopherQualityFilter, LanguageAwareGopherRepetitionFilter

# Worked solution with inline LaTeX: about half of its "words" have no letter.
MATH_TEXT = r"""Let $f(x) = x^2 + 3x + 2$. We want to find the roots of $f$. Factoring gives
$f(x) = (x+1)(x+2)$, so the roots are $x = -1$ and $x = -2$.

To check, substitute $x = -1$: $(-1)^2 + 3(-1) + 2 = 1 - 3 + 2 = 0$. Similarly for $x = -2$: $4 - 6 + 2 = 0$.

More generally, for $ax^2 + bx + c = 0$ with $a \neq 0$, the roots are
$$x = \frac{-b \pm \sqrt{b^2 - 4ac}}{2a}.$$
The discriminant $\Delta = b^2 - 4ac$ tells us how many real roots there are: two if $\Delta > 0$, one if
$\Delta = 0$ and none if $\Delta < 0$."""

# 17 lines, 5 of them repeats of a short "Xem thêm" ("see more") link: duplicate-line fraction 5/17 = 0.294,
# above FineWeb-2's Vietnamese 0.293 and below datatrove's default 0.3; few duplicate characters.
_MARKET_LINES = [
    "Chợ Bến Thành mở cửa từ sáng sớm đến tối muộn mỗi ngày.",
    "Người bán hàng ở đây nói chuyện rất nhanh và thân thiện.",
    "Khách du lịch thường mua cà phê, hạt điều và áo dài làm quà.",
    "Giá cả có thể mặc cả, nhất là ở các sạp quần áo.",
    "Buổi tối, khu chợ đêm bên ngoài bán nhiều món ăn đường phố.",
    "Bánh xèo, gỏi cuốn và chè là những món được nhiều người yêu thích.",
    "Từ chợ có thể đi bộ đến nhà thờ Đức Bà và bưu điện thành phố.",
    "Vào mùa mưa, nên mang theo áo mưa vì trời hay đổ mưa bất chợt.",
    "Xe buýt và xe ôm công nghệ đều dừng ngay trước cổng chính.",
    "Nhiều gia đình đã buôn bán ở chợ qua ba, bốn thế hệ.",
    "Khu chợ được xây dựng lại vào đầu thế kỷ hai mươi.",
]


def _with_see_more_links(lines: list[str]) -> str:
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i % 2 == 0:
            out.append("Xem thêm")
    return "\n".join(out)


VIETNAMESE_BORDERLINE_REPETITION = _with_see_more_links(_MARKET_LINES)

# A product page: the same review line four times out of ten lines.
REPETITIVE_TEXT = "\n".join(["Great product, fast shipping!"] * 4 + ENGLISH_TEXT.split(". ")[:6])


def test_stock_english_gopher_quality_drops_vietnamese_but_ours_keeps_it() -> None:
    assert len(VIETNAMESE_TEXT.split()) >= 80
    assert GopherQualityFilter().filter(make_doc(VIETNAMESE_TEXT)) == (False, "gopher_enough_stop_words")
    assert LanguageAwareGopherQualityFilter().filter(make_doc(VIETNAMESE_TEXT, language="vi")) is True


def test_default_language_applies_when_metadata_has_none() -> None:
    assert LanguageAwareGopherQualityFilter(default_language="vi").filter(make_doc(VIETNAMESE_TEXT)) is True
    assert LanguageAwareGopherQualityFilter(default_language="en").filter(make_doc(VIETNAMESE_TEXT)) == (
        False,
        "gopher_enough_stop_words",
    )


def test_english_prose_is_kept_with_english_parameters() -> None:
    assert LanguageAwareGopherQualityFilter().filter(make_doc(ENGLISH_TEXT, language="en")) is True


def test_other_language_is_not_dropped_for_lacking_english_stop_words() -> None:
    assert GopherQualityFilter(language="fr").filter(make_doc(FRENCH_TEXT)) == (
        False,
        "gopher_enough_stop_words",
    )
    assert LanguageAwareGopherQualityFilter().filter(make_doc(FRENCH_TEXT, language="fr")) is True


def test_short_document_has_datatrove_reason() -> None:
    doc = make_doc("Hà Nội là thủ đô của Việt Nam.", language="vi")
    assert LanguageAwareGopherQualityFilter().filter(doc) == (False, "gopher_short_doc")


def test_math_kind_keeps_formulas_that_web_kind_drops() -> None:
    assert LanguageAwareGopherQualityFilter(kind="web").filter(make_doc(MATH_TEXT, language="en")) == (
        False,
        "gopher_below_alpha_threshold",
    )
    assert LanguageAwareGopherQualityFilter(kind="math").filter(make_doc(MATH_TEXT, language="en")) is True
    assert LanguageAwareGopherRepetitionFilter(kind="math").filter(make_doc(MATH_TEXT, language="en")) is True


def test_repetitive_document_is_dropped_with_datatrove_reason() -> None:
    assert GopherRepetitionFilter().filter(make_doc(REPETITIVE_TEXT)) == (False, "dup_line_frac")
    step = LanguageAwareGopherRepetitionFilter()
    kept, stats = run_step(
        step, [make_doc(REPETITIVE_TEXT, "rep", language="en"), make_doc(ENGLISH_TEXT, "ok")]
    )
    assert [doc.id for doc in kept] == ["ok"]
    assert stats["dropped_dup_line_frac"] == 1


def test_vietnamese_repetition_thresholds_are_used_for_vietnamese_documents() -> None:
    assert VIETNAMESE_BORDERLINE_REPETITION.count("\n") + 1 == 17
    step = LanguageAwareGopherRepetitionFilter()
    vietnamese = make_doc(VIETNAMESE_BORDERLINE_REPETITION, language="vi")
    same_text_as_english = make_doc(VIETNAMESE_BORDERLINE_REPETITION, language="en")
    assert step.filter(vietnamese) == (False, "dup_line_frac")
    assert step.filter(same_text_as_english) is True


def test_delegates_are_datatrove_filters_built_once_per_language() -> None:
    step = LanguageAwareGopherQualityFilter()
    vi = step.delegate_for("vi")
    assert isinstance(vi, GopherQualityFilter)
    assert vi.language == "vie_Latn"  # FineWeb-2's code: datatrove's word tokenizer for it
    assert vi.min_stop_words == 2 and "của" in vi.stop_words
    assert step.delegate_for("vie_Latn") is vi
    rep = LanguageAwareGopherRepetitionFilter().delegate_for("vi")
    assert isinstance(rep, GopherRepetitionFilter)
    assert (rep.language, rep.dup_line_frac) == ("vie_Latn", 0.293)


def test_language_without_datatrove_tokenizer_borrows_the_default_one() -> None:
    # lid.176 can output "tl" (Tagalog); datatrove has no tokenizer registered under that code
    delegate = LanguageAwareGopherQualityFilter(default_language="en").delegate_for("tl")
    assert delegate is not None and delegate.language == "eng_Latn"
    assert delegate.min_stop_words is None


@pytest.mark.parametrize("cls", [LanguageAwareGopherQualityFilter, LanguageAwareGopherRepetitionFilter])
def test_bad_arguments_are_refused_at_build_time(cls: type) -> None:
    with pytest.raises(ValueError, match="CodeSanityFilter"):
        cls(kind="code")
    with pytest.raises(ValueError, match="no word tokenizer for default_language 'klingon'"):
        cls(default_language="klingon")
