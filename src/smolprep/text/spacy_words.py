"""datatrove's spaCy word tokenizer, computed once per distinct whitespace-separated chunk, without spaCy objects.

datatrove's ``SpaCyTokenizer.word_tokenize(text)`` runs a blank spaCy pipeline and keeps the non-blank token
texts. spaCy's rule-based tokenizer (``spacy/tokenizer.pyx``) splits the text at whitespace and tokenizes
every non-whitespace chunk on its own: special cases, prefixes and suffixes (``_split_affixes``), then
``token_match``/``url_match``/infixes (``_attach_tokens``), then its special-case matcher
(``_apply_special_cases``); whitespace runs become tokens that datatrove strips away. The cost is not the
rules but the objects: a ``Doc``, and a lexeme with about fifteen attributes computed in Python for every
token string the vocabulary has not seen (spaCy's memory zone forgets them after each document).

``SpacyChunkWords`` replays the same algorithm in Python on plain strings, with the tokenizer's own compiled
regular expressions and special cases, and caches the result per distinct chunk (words repeat: a document
then costs one dict look-up per chunk). The words are the same as datatrove's:

- a text that contains ``IS_ALPHA`` (which makes spaCy raise; datatrove then retries without it) is handed
  to datatrove's tokenizer unchanged;
- spaCy's special-case matcher also looks at token sequences across a single space (``: )``); such a match
  never changes tokens (its text has a space, so no rule applies), but it can hide an overlapping match
  inside a chunk. We apply the matcher inside each chunk only. None of the 1,244 sample documents, raw or
  simplified for MinHash, is affected; ``tests/text/test_word_tokenizers.py`` compares them word for word.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.utils.word_tokenizers import SpaCyTokenizer

# Rules of spaCy's blank tokenizers, read from spaCy once and stored per spaCy version (see write_snapshot):
# with one for the installed spaCy, tokenizing needs no spaCy import (about 1.5 s of CPU per process).
SNAPSHOT_DIR = Path(__file__).with_name("spacy_rules")

# Above this many distinct chunks the cache is emptied (about 150 bytes per entry: 200k ~ 30 MB).
DEFAULT_MAX_CACHED_CHUNKS = 200_000

# Text that makes spaCy raise; datatrove then tokenizes the text without it. We leave such texts to datatrove.
_SPACY_TRAP = "IS_ALPHA"


def installed_spacy_version() -> str | None:
    """spaCy's version, read from ``spacy/about.py`` without importing spaCy."""
    spec = importlib.util.find_spec("spacy")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        about = Path(folder) / "about.py"
        if about.is_file():
            match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", about.read_text(), re.MULTILINE)
            if match:
                return match.group(1)
    return None


def _pattern(method: Any) -> list[Any] | None:
    """A compiled regex method (``Pattern.search`` etc.) as ``[pattern, flags]``."""
    if method is None:
        return None
    pattern = getattr(method, "__self__", None)
    if not isinstance(pattern, re.Pattern):
        raise TypeError(f"not a regular-expression method: {method!r}")
    return [pattern.pattern, pattern.flags]


def tokenizer_rules(tokenizer: Any) -> dict[str, Any]:
    """The data of a spaCy ``Tokenizer`` that ``_SpacyRules`` needs (JSON-serialisable)."""
    from spacy.attrs import ORTH, intify_attrs

    return {
        "prefix": _pattern(tokenizer.prefix_search),
        "suffix": _pattern(tokenizer.suffix_search),
        "infix": _pattern(tokenizer.infix_finditer),
        "token_match": _pattern(tokenizer.token_match),
        "url_match": _pattern(tokenizer.url_match),
        "faster_heuristics": bool(tokenizer.faster_heuristics),
        "specials": {
            string: [intify_attrs(spec, _do_deprecated=True)[ORTH] for spec in substrings]
            for string, substrings in sorted(tokenizer.rules.items())
        },
    }


def _snapshot_path(language: str, folder: Path = SNAPSHOT_DIR) -> Path:
    return folder / f"{language}.json"


def write_snapshot(language: str, folder: Path = SNAPSHOT_DIR) -> Path:
    """Store the rules of ``spacy.blank(language)``'s tokenizer for the installed spaCy version."""
    import spacy

    rules = tokenizer_rules(spacy.blank(language).tokenizer)
    path = _snapshot_path(language, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"spacy_version": spacy.__version__, "language": language, **rules}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    return path


def read_snapshot(language: str, folder: Path = SNAPSHOT_DIR) -> dict[str, Any] | None:
    """The stored rules for ``language`` if they were taken from the installed spaCy version."""
    path = _snapshot_path(language, folder)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("spacy_version") != installed_spacy_version():
        return None
    return data


def _compile(spec: list[Any] | None, method: str) -> Any:
    return None if spec is None else getattr(re.compile(spec[0], spec[1]), method)


def _top_level_alternatives(pattern: str) -> list[str]:
    """Split a regular expression at its top-level ``|`` (outside groups and character classes)."""
    alternatives = []
    depth = 0
    start = 0
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern.startswith("^]", i + 1):
                i += 2
            elif pattern.startswith("]", i + 1):
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            alternatives.append(pattern[start:i])
            start = i + 1
        i += 1
    alternatives.append(pattern[start:])
    return alternatives


def _end_anchored(alternative: str) -> bool:
    """Whether a regex alternative ends with an unescaped ``$`` (an even number of backslashes before it)."""
    if not alternative.endswith("$"):
        return False
    backslashes = len(alternative[:-1]) - len(alternative[:-1].rstrip("\\"))
    return backslashes % 2 == 0


class _SuffixLength:
    """``Tokenizer.find_suffix``: length of the leftmost match of the suffix regex, computed without scanning
    the whole chunk.

    spaCy's suffix regex is an alternation of ``piece$``. The leftmost match of an alternation is the leftmost
    of its alternatives' matches, and an alternative anchored at the end with a bounded width w can only start
    in the last w characters. So the bounded alternatives are searched from ``len - max_width`` (look-behinds
    still see the text before), the others (e.g. ``\\.\\.+$``) from the start, and the full regex is then
    matched at the leftmost start found, which gives exactly ``search``'s match.
    """

    def __init__(self, spec: list[Any]):
        _parser: Any = importlib.import_module("re._parser")  # the regex parser of the standard library
        pattern, flags = spec
        self.spec = spec
        self._full: re.Pattern[str] | None = None
        bounded, anywhere = [], []
        width = 0
        for alternative in _top_level_alternatives(pattern):
            high = _parser.parse(alternative, flags).getwidth()[1]
            if _end_anchored(alternative) and high < _parser.MAXREPEAT:
                bounded.append(alternative)
                width = max(width, high)
            else:
                anywhere.append(alternative)
        self.width = width
        self.all_end_anchored = all(map(_end_anchored, bounded + anywhere))
        self.bounded = re.compile("|".join(bounded), flags).search if bounded else None
        self.anywhere = re.compile("|".join(anywhere), flags).search if anywhere else None

    @property
    def full(self) -> re.Pattern[str]:
        if self._full is None:
            self._full = re.compile(*self.spec)
        return self._full

    def __call__(self, string: str) -> int:
        if string.endswith("\n"):  # `$` also matches before a final newline: no shortcut
            match = self.full.search(string)
            return (match.end() - match.start()) if match is not None else 0
        starts = []
        if self.bounded is not None:
            match = self.bounded(string, max(0, len(string) - self.width))
            if match is not None:
                starts.append(match.start())
        if self.anywhere is not None:
            match = self.anywhere(string)
            if match is not None:
                starts.append(match.start())
        if not starts:
            return 0
        if self.all_end_anchored:  # every alternative ends at the end of the string
            return len(string) - min(starts)
        match = self.full.match(string, min(starts))
        assert match is not None
        return match.end() - match.start()


class _SpacyRules:
    """spaCy's ``Tokenizer`` algorithm on strings (``_split_affixes``, ``_attach_tokens``, special matcher)."""

    def __init__(self, rules: dict[str, Any], ascii_letters_are_words: bool = False):
        never: Callable[[str], Any] = lambda _s: None  # noqa: E731
        self.prefix_search = _compile(rules["prefix"], "search") or never
        self.suffix_search = _compile(rules["suffix"], "search") or never
        self.suffix_length = _SuffixLength(rules["suffix"]) if rules["suffix"] else None
        # see SpacyChunkWords.ascii_letters_are_words; off while the matcher patterns are built below
        self.ascii_letters_are_words = False
        self.infix_finditer = _compile(rules["infix"], "finditer")
        self.token_match = _compile(rules["token_match"], "match")
        self.url_match = _compile(rules["url_match"], "match")
        self.specials: dict[str, tuple[str, ...]] = {
            string: tuple(orths) for string, orths in rules["specials"].items()
        }
        # Tokenizer.add_special_case: a special case enters the matcher when it has an affix or an infix
        # (faster_heuristics) or a space; its pattern is its tokenization without special cases.
        self.patterns: dict[str, list[tuple[str, ...]]] = {}
        self.pattern_starts: frozenset[str] = frozenset()
        for string in sorted(self.specials):
            if rules["faster_heuristics"] and not (
                self._prefix_len(string) or self._infixes(string) or self._suffix_len(string) or " " in string
            ):
                continue
            if any(ch.isspace() for ch in string):
                continue  # its pattern holds a whitespace token: it never matches inside a chunk
            pattern = tuple(self.tokenize(string, with_special_cases=False))
            self.patterns.setdefault(pattern[0], []).append(pattern)
        self.pattern_starts = frozenset(self.patterns)
        self.ascii_letters_are_words = ascii_letters_are_words

    def _prefix_len(self, string: str) -> int:
        match = self.prefix_search(string)
        return (match.end() - match.start()) if match is not None else 0

    def _suffix_len(self, string: str) -> int:
        return self.suffix_length(string) if self.suffix_length is not None else 0

    def _infixes(self, string: str) -> list[Any]:
        return list(self.infix_finditer(string)) if self.infix_finditer is not None else []

    def tokenize(
        self, chunk: str, with_special_cases: bool = True, known: dict[str, tuple[str, ...]] | None = None
    ) -> list[str]:
        """Tokens of one non-whitespace chunk, as ``Tokenizer._tokenize_affixes`` (+ matcher) makes them.

        ``known``: chunks already tokenized (a cache). When what is left of the chunk after its prefixes and
        suffixes is a known chunk that is one word, that word needs no infix or URL check: a string that is
        not a special case and comes out as itself alone had no infix split (the matcher could only have
        turned it into a special case).
        """
        specials = self.specials if with_special_cases else {}
        special = specials.get(chunk)
        # _try_specials_and_cache, else _tokenize
        tokens = list(special) if special is not None else self._tokenize(chunk, specials, known or {})
        if with_special_cases and not self.pattern_starts.isdisjoint(tokens):
            tokens = self._apply_special_cases(tokens)
        return tokens

    def _tokenize(
        self, string: str, specials: dict[str, tuple[str, ...]], known: dict[str, tuple[str, ...]]
    ) -> list[str]:
        token_match = self.token_match
        letters_only = self.ascii_letters_are_words
        prefixes: list[str] = []
        suffixes: list[str] = []
        # _split_affixes
        last_size = 0
        while string and len(string) != last_size:
            if token_match and token_match(string):
                break
            if string in specials:
                break
            if letters_only and string.isascii() and string.isalpha():
                break  # no prefix or suffix pattern matches ASCII letters (the loop would stop unchanged)
            last_size = len(string)
            pre_len = self._prefix_len(string)
            prefix = minus_pre = ""
            if pre_len != 0:
                prefix = string[:pre_len]
                minus_pre = string[pre_len:]
                if minus_pre and minus_pre in specials:
                    string = minus_pre
                    prefixes.append(prefix)
                    break
            suf_len = self._suffix_len(string[pre_len:])
            suffix = minus_suf = ""
            if suf_len != 0:
                suffix = string[-suf_len:]
                minus_suf = string[:-suf_len]
                if minus_suf and minus_suf in specials:
                    string = minus_suf
                    suffixes.append(suffix)
                    break
            if pre_len and suf_len and (pre_len + suf_len) <= len(string):
                string = string[pre_len:-suf_len]
                prefixes.append(prefix)
                suffixes.append(suffix)
            elif pre_len:
                string = minus_pre
                prefixes.append(prefix)
            elif suf_len:
                string = minus_suf
                suffixes.append(suffix)
        # _attach_tokens (spaCy's cache holds the same tokens it would compute for `string` as a chunk)
        tokens = prefixes
        if string:
            special = specials.get(string)
            if special is not None:
                tokens.extend(special)
            elif (letters_only and string.isascii() and string.isalpha()) or known.get(string) == (string,):
                tokens.append(string)  # no infix pattern matches (ASCII letters in English; see tokenize)
            elif (token_match and token_match(string)) or (self.url_match and self.url_match(string)):
                tokens.append(string)
            else:
                matches = self._infixes(string)
                if not matches:
                    tokens.append(string)
                else:
                    start = 0
                    for match in matches:
                        infix_start, infix_end = match.start(), match.end()
                        if infix_start == 0:  # start_before_infixes
                            continue
                        if infix_start != start:
                            tokens.append(string[start:infix_start])
                        if infix_start != infix_end:
                            tokens.append(string[infix_start:infix_end])
                        start = infix_end
                    if string[start:]:
                        tokens.append(string[start:])
        tokens.extend(reversed(suffixes))
        return tokens

    def _apply_special_cases(self, tokens: list[str]) -> list[str]:
        """``Tokenizer._apply_special_cases`` inside one chunk (no spaces, so a match's text is its tokens)."""
        patterns = self.patterns
        matches = []
        for start, token in enumerate(tokens):
            for pattern in patterns.get(token, ()):
                end = start + len(pattern)
                if tuple(tokens[start:end]) == pattern:
                    matches.append((start, end))
        if not matches:
            return tokens
        # _filter_special_spans: longest first, then leftmost; a span is taken unless its first or last
        # token was seen; every span's tokens are marked seen, taken or not.
        matches.sort(key=lambda span: (span[1] - span[0], -span[0]))
        seen: set[int] = set()
        taken = []
        for start, end in reversed(matches):
            if start not in seen and end - 1 not in seen:
                taken.append((start, end))
            seen.update(range(start, end))
        taken.sort()
        out: list[str] = []
        i = 0
        for start, end in taken:
            out += tokens[i:start]
            out += self.specials["".join(tokens[start:end])]
            i = end
        out += tokens[i:]
        return out


class SpacyChunkWords:
    """``word_tokenize`` with exactly the words of datatrove's ``SpaCyTokenizer`` (rule-based languages).

    Args:
        language: the spaCy language code (datatrove's ``SpaCyTokenizer(language)``, a blank pipeline).
        max_cached_chunks: bound of the chunk cache (it is emptied when full).

    datatrove's tokenizer for the language (``reference``) provides the rules when no stored snapshot matches
    the installed spaCy, and handles the texts spaCy cannot.
    """

    def __init__(self, language: str, max_cached_chunks: int = DEFAULT_MAX_CACHED_CHUNKS):
        self.language = language
        self.max_cached_chunks = max_cached_chunks
        self._chunks: dict[str, tuple[str, ...]] = {}
        self._rules: _SpacyRules | None = None
        self._reference: SpaCyTokenizer | None = None
        self._rule_based = True
        # English rules: every prefix, suffix and infix pattern needs a character that is not an ASCII letter
        # (punctuation, a symbol, a digit before a unit), so a chunk of ASCII letters is one word unless it
        # is a special case ("cannot" -> "can", "not"). tests/text checks this against spaCy.
        self.ascii_letters_are_words = self.language == "en"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_chunks"] = {}
        state["_rules"] = None
        state["_reference"] = None
        return state

    @property
    def reference(self) -> SpaCyTokenizer:
        """datatrove's tokenizer for the language (one per process; its spaCy pipeline loads on first use)."""
        if self._reference is None:
            self._reference = SpaCyTokenizer(self.language)
        return self._reference

    @property
    def rules(self) -> _SpacyRules | None:
        """The tokenizer's rules; None if spaCy's tokenizer for the language is not the rule-based one."""
        if self._rules is None and self._rule_based:
            data = read_snapshot(self.language)
            if data is None:  # no snapshot for this spaCy version: ask spaCy itself
                from spacy.tokenizer import Tokenizer

                tokenizer = self.reference.tokenizer.tokenizer
                if type(tokenizer) is not Tokenizer:
                    self._rule_based = False
                    return None
                data = tokenizer_rules(tokenizer)
            self._rules = _SpacyRules(data, ascii_letters_are_words=self.ascii_letters_are_words)
        return self._rules

    def _chunk_words(self, rules: _SpacyRules, chunk: str) -> tuple[str, ...]:
        if (
            self.ascii_letters_are_words
            and chunk.isascii()
            and chunk.isalpha()
            and chunk not in rules.specials
        ):
            words: tuple[str, ...] = (chunk,)
        else:
            words = tuple(rules.tokenize(chunk, known=self._chunks))
        self._chunks[chunk] = words
        return words

    def word_tokenize(self, text: str) -> list[str]:
        rules = self.rules
        if rules is None or _SPACY_TRAP in text:
            return self.reference.word_tokenize(text)
        cache = self._chunks
        if len(cache) > self.max_cached_chunks:
            cache.clear()
        words: list[str] = []
        for chunk in text.split():
            cached = cache.get(chunk)
            if cached is None:
                cached = self._chunk_words(rules, chunk)
            words += cached
        return words


if __name__ == "__main__":  # python -m smolprep.text.spacy_words en [fr ...]: refresh the stored rules
    import sys

    for code in sys.argv[1:] or ["en"]:
        print(write_snapshot(code))
