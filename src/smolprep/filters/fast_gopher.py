"""datatrove's Gopher repetition and quality filters with the same decisions, computed faster.

``FastGopherRepetitionFilter`` and ``FastGopherQualityFilter`` subclass datatrove's ``GopherRepetitionFilter``
and ``GopherQualityFilter`` (same constructor, parameters and reason labels) and replace only ``filter``:

- words come from ``smolprep.text.words.document_words``: a fast tokenizer with datatrove's words, run once
  per document and shared by both filters;
- the n-gram measures come from ``smolprep.text.repetition.NgramIndex`` (arrays instead of one string per
  n-gram, same numbers);
- the per-word quality measures (does the word have a non-punctuation character, its length, does it have
  a letter) are computed once per distinct word and summed.

Every rule, its order, its arithmetic (integer ratios, the mean word length) and its reason are datatrove's;
``tests/filters/test_fast_gopher.py`` compares both filters with datatrove's on every sample document.
"""

from __future__ import annotations

from operator import methodcaller

from datatrove.data import Document
from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
from datatrove.utils.text import PUNCTUATION_SET

from smolprep.text.repetition import NgramIndex
from smolprep.text.words import document_words

# word -> (1 if it has a character outside datatrove's PUNCTUATION_SET) + (2**31 if it has a letter)
_FLAGS: dict[str, int] = {}
# word -> its length if it has a character outside PUNCTUATION_SET, else 0
_NON_SYMBOL_CHARS: dict[str, int] = {}
_MAX_CACHED_WORDS = 500_000
_ALPHA = 1 << 31
_STARTS_WITH_BULLET = methodcaller("startswith", ("•", "-"))
_ENDS_WITH_ELLIPSIS = methodcaller("endswith", ("...", "…"))


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """datatrove's ``find_duplicates``: how many items, and how many characters, repeat an earlier item.

    Every distinct item has one first occurrence; all the others are repeats, so both counts are totals
    minus the totals over the distinct items."""
    distinct = set(items)
    return len(items) - len(distinct), sum(map(len, items)) - sum(map(len, distinct))


def _learn(words: list[str]) -> None:
    if len(_FLAGS) > _MAX_CACHED_WORDS:
        _FLAGS.clear()
        _NON_SYMBOL_CHARS.clear()
    for word in words:
        if word not in _FLAGS:
            non_symbol = any(ch not in PUNCTUATION_SET for ch in word)
            alpha = any(ch.isalpha() for ch in word)
            _FLAGS[word] = non_symbol + alpha * _ALPHA
            _NON_SYMBOL_CHARS[word] = len(word) if non_symbol else 0


def word_measures(words: list[str]) -> tuple[int, int, int]:
    """Number of non-symbol words, their total length, and number of words with a letter."""
    try:
        flags = sum(map(_FLAGS.__getitem__, words))
        chars = sum(map(_NON_SYMBOL_CHARS.__getitem__, words))
    except KeyError:
        _learn(words)
        flags = sum(map(_FLAGS.__getitem__, words))
        chars = sum(map(_NON_SYMBOL_CHARS.__getitem__, words))
    return flags % _ALPHA, chars, flags // _ALPHA


class FastGopherRepetitionFilter(GopherRepetitionFilter):
    """``GopherRepetitionFilter`` (same arguments and reasons) with shared words and array n-gram counts."""

    name = "👯 Gopher Repetition (fast)"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        if not text:
            return False, "empty"

        paragraphs = self.paragraph_exp.split(text.strip())
        paragraphs_duplicates, char_duplicates = find_duplicates(paragraphs)
        if self.dup_para_frac and paragraphs_duplicates / len(paragraphs) > self.dup_para_frac:
            return False, "dup_para_frac"
        if self.dup_para_char_frac and char_duplicates / len(text) > self.dup_para_char_frac:
            return False, "dup_para_char_frac"

        lines = self._line_splitter.split(text)
        line_duplicates, char_duplicates = find_duplicates(lines)
        if self.dup_line_frac and line_duplicates / len(lines) > self.dup_line_frac:
            return False, "dup_line_frac"
        if self.dup_line_char_frac and char_duplicates / len(text) > self.dup_line_char_frac:
            return False, "dup_line_char_frac"

        index = NgramIndex(document_words(text, self.language))
        for n, n_frac in self.top_n_grams:
            if index.n_words - n + 1 <= 0:
                continue  # datatrove: no n-grams
            if index.top_ngram_chars(n) / len(text) > n_frac:
                return False, f"top_{n}_gram"

        for n, n_frac in self.dup_n_grams:
            if index.duplicate_ngram_chars(n) / len(text) > n_frac:
                return False, f"duplicated_{n}_n_grams"

        return True


class FastGopherQualityFilter(GopherQualityFilter):
    """``GopherQualityFilter`` (same arguments and reasons) with shared words and per-word measures."""

    name = "🥇 Gopher Quality (fast)"

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        text = doc.text
        words = document_words(text, self.language)
        n_words = len(words)
        n_non_symbol_words, non_symbol_chars, n_alpha_words = word_measures(words)

        if self.min_doc_words and n_non_symbol_words < self.min_doc_words:
            return False, "gopher_short_doc"
        if self.max_doc_words and n_non_symbol_words > self.max_doc_words:
            return False, "gopher_long_doc"

        # datatrove: np.mean of the lengths (a float64 sum of integers, exact here, then one division)
        avg_n_words = non_symbol_chars / n_non_symbol_words if n_non_symbol_words else float("nan")
        if self.min_avg_word_length and avg_n_words < self.min_avg_word_length:
            return False, "gopher_below_avg_threshold"
        if self.max_avg_word_length and avg_n_words > self.max_avg_word_length:
            return False, "gopher_above_avg_threshold"

        if self.max_symbol_word_ratio and text.count("#") / n_words > self.max_symbol_word_ratio:
            return False, "gopher_too_many_hashes"
        if (
            self.max_symbol_word_ratio
            and (text.count("...") + text.count("…")) / n_words > self.max_symbol_word_ratio
        ):
            return False, "gopher_too_many_ellipsis"

        lines = text.splitlines()
        if (
            self.max_bullet_lines_ratio
            and sum(map(_STARTS_WITH_BULLET, map(str.lstrip, lines))) / len(lines)
            > self.max_bullet_lines_ratio
        ):
            return False, "gopher_too_many_bullets"
        if (
            self.max_ellipsis_lines_ratio
            and sum(map(_ENDS_WITH_ELLIPSIS, map(str.rstrip, lines))) / len(lines)
            > self.max_ellipsis_lines_ratio
        ):
            return False, "gopher_too_many_end_ellipsis"

        if self.max_non_alpha_words_ratio and n_alpha_words / n_words < self.max_non_alpha_words_ratio:
            return False, "gopher_below_alpha_threshold"

        if self.min_stop_words and len(self.stop_words.intersection(words)) < self.min_stop_words:
            return False, "gopher_enough_stop_words"

        return True
