"""Drop documents that contain known spam phrases (English, Vietnamese, any language).

Matching is case-insensitive and Unicode-safe: phrases and text are NFC-normalised and casefolded, and runs
of whitespace (spaces, newlines, tabs) count as one space, so ``Đăng ký ngay`` typed with combining accents
(NFD) or split over two lines still matches ``đăng ký ngay``. A hit counts only at word boundaries: the
characters just before and after it must not be letters or digits (``str.isalnum``, which knows
Vietnamese letters), so ``click here`` does not hit ``click hereafter``.

All phrases are compiled into one Aho-Corasick automaton (pyahocorasick), so a document is scanned once
whatever the number of phrases. The automaton is built on first use and not pickled.

Reason: ``spam`` when at least ``min_hits`` distinct phrases hit; the dropped document then carries the
phrases in ``metadata["spam_phrases"]`` (visible in the exclusion writer's output).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

MIN_PHRASE_CHARS = 3


def normalize_for_matching(text: str) -> str:
    """NFC, casefold (then NFC again: casefolding can decompose), whitespace runs -> one space."""
    folded = unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())
    return " ".join(folded.split())


def phrase_problem(phrase: str) -> str | None:
    """Why ``phrase`` cannot be a spam phrase, or None if it is fine."""
    normalized = normalize_for_matching(phrase)
    if not normalized:
        return "the phrase is empty"
    if not any(ch.isalnum() for ch in normalized):
        return f"{phrase!r} has no letter or digit and would match punctuation anywhere"
    if len(normalized) < MIN_PHRASE_CHARS:
        return f"{phrase!r} is shorter than {MIN_PHRASE_CHARS} characters and would match too often"
    return None


class PhraseListError(ValueError):
    """A phrase list file has an invalid entry; the message names the file and line."""


def load_phrase_lists(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Read phrase files: one phrase per line, blank lines and lines starting with ``#`` ignored.

    Returns the phrases of all files in order, without duplicates (compared after normalisation).

    Raises:
        PhraseListError: a file is missing or not UTF-8, or a line is not a usable phrase.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    phrases: dict[str, str] = {}
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as err:
            raise PhraseListError(f"{path}: phrase list not found.") from err
        except UnicodeDecodeError as err:
            raise PhraseListError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start}).") from err
        for lineno, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            problem = phrase_problem(stripped)
            if problem:
                raise PhraseListError(
                    f"{path}:{lineno}: invalid spam phrase: {problem}. Fix or delete the line "
                    "(comments must start the line with '#')."
                )
            phrases.setdefault(normalize_for_matching(stripped), stripped)
    return list(phrases.values())


class SpamFilter(BaseFilter):
    """Drop a document when at least ``min_hits`` distinct spam phrases occur in it as whole words.

    Args:
        phrases: the spam phrases (see ``load_phrase_lists`` and ``configs/spam/*.txt``).
        min_hits: number of distinct phrases needed to drop a document.
        exclusion_writer: optional writer for dropped documents.
    """

    name = "🥫 Spam phrases"
    _requires_dependencies = (("ahocorasick", "pyahocorasick"),)

    def __init__(self, phrases: Sequence[str], min_hits: int = 1, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        if isinstance(phrases, str):
            raise TypeError("SpamFilter: phrases must be a list of phrases, not a single string.")
        if isinstance(min_hits, bool) or not isinstance(min_hits, int) or min_hits < 1:
            raise ValueError(f"SpamFilter: min_hits must be an integer >= 1, got {min_hits!r}.")
        normalized: dict[str, None] = {}
        for i, phrase in enumerate(phrases):
            problem = phrase_problem(phrase)
            if problem:
                raise ValueError(f"SpamFilter: phrases[{i}] is invalid: {problem}.")
            normalized[normalize_for_matching(phrase)] = None
        if not normalized:
            raise ValueError(
                "SpamFilter: no phrases given; pass load_phrase_lists([...]) or a list of phrases."
            )
        self.phrases: tuple[str, ...] = tuple(normalized)
        self.min_hits = min_hits
        self._automaton: Any = None

    @property
    def automaton(self) -> Any:
        """The Aho-Corasick automaton over all normalised phrases (built on first use)."""
        if self._automaton is None:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for phrase in self.phrases:
                automaton.add_word(phrase, phrase)
            automaton.make_automaton()
            self._automaton = automaton
        return self._automaton

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_automaton"] = None
        return state

    def find_phrases(self, text: str) -> set[str]:
        """The distinct phrases that occur in ``text`` at word boundaries (one pass over the text)."""
        text = normalize_for_matching(text)
        found: set[str] = set()
        for end, phrase in self.automaton.iter(text):
            start = end - len(phrase) + 1
            if (start > 0 and text[start - 1].isalnum()) or (end + 1 < len(text) and text[end + 1].isalnum()):
                continue
            found.add(phrase)
        return found

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        found = self.find_phrases(doc.text)
        if len(found) >= self.min_hits:
            doc.metadata["spam_phrases"] = sorted(found)
            return False, "spam"
        return True
