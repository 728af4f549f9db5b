"""datatrove's spaCy word tokenizer, computed once per distinct whitespace-separated chunk, without spaCy objects.

datatrove's ``SpaCyTokenizer.word_tokenize(text)`` runs a blank spaCy pipeline and keeps the non-blank token
texts. spaCy's rule-based tokenizer (``spacy/tokenizer.pyx``) splits the text at whitespace and tokenizes
every non-whitespace chunk on its own: special cases, prefixes and suffixes (``_split_affixes``), then
``token_match``/``url_match``/infixes (``_attach_tokens``); whitespace runs other than a single space become
tokens that datatrove strips away. Then its special-case matcher (``_apply_special_cases``) runs over the
tokens of the whole text. The cost is not the rules but the objects: a ``Doc``, and a lexeme with about
fifteen attributes computed in Python for every token string the vocabulary has not seen (spaCy's memory
zone forgets them after each document).

``SpacyChunkWords`` replays the same algorithm in Python on plain strings, with the tokenizer's own compiled
regular expressions and special cases, and caches the words per distinct chunk (words repeat: a document
then costs one dict look-up per chunk). The words are the same as datatrove's:

- the matcher sees the tokens of neighbouring chunks as adjacent when a single space separates them, so a
  match can run across that space (``) :`` matches ``):``). Its text then holds a space and no special case
  applies, so it changes nothing by itself, but it hides the matches it overlaps: in ``) :)8`` spaCy keeps
  ``:`` and ``)`` apart because ``):`` was found first. The per-chunk words apply the matcher inside the
  chunk; a chunk whose own matches a match across a space could overlap is *exposed*, and where an exposed
  chunk meets a neighbour whose edge token could continue a pattern, the chunks joined by such spaces are
  tokenized again as one text (``SpacyChunkWords._across_spaces``). A language with a multi-token special
  case that contains whitespace (none in English) is always tokenized as one text;
- a text that contains ``IS_ALPHA`` (which makes spaCy raise; datatrove then retries without it) is handed
  to datatrove's tokenizer unchanged.

``tests/text/test_word_tokenizers.py`` compares the words with datatrove's on every sample document, raw and
simplified for MinHash; ``tests/text/test_spacy_differential.py`` compares them with ``spacy.blank("en")`` on
tens of thousands of generated texts made of what the matcher reacts to.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from itertools import accumulate
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

# A whitespace run or a chunk: spaCy's `isspace` is str.isspace, which is what `\s` and str.split() use.
_RUNS = re.compile(r"\s+|\S+")


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


def _compile(
    spec: list[Any] | None, method: str, compiled: Mapping[tuple[str, int], Any] | None = None
) -> Any:
    """``spec``'s regex method; ``compiled`` holds patterns already compiled (spaCy's own, when the rules were
    taken from a live tokenizer: French's ``token_match`` alone is 1.4 MB and takes seconds to compile)."""
    if spec is None:
        return None
    pattern = (compiled or {}).get((spec[0], spec[1])) or re.compile(spec[0], spec[1])
    return getattr(pattern, method)


def compiled_patterns(tokenizer: Any) -> dict[tuple[str, int], Any]:
    """The compiled regexes of a spaCy ``Tokenizer``, by (pattern, flags)."""
    methods = [tokenizer.prefix_search, tokenizer.suffix_search, tokenizer.infix_finditer]
    methods += [tokenizer.token_match, tokenizer.url_match]
    patterns = [getattr(m, "__self__", None) for m in methods if m is not None]
    return {(p.pattern, p.flags): p for p in patterns if isinstance(p, re.Pattern)}


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

    def __init__(
        self,
        rules: dict[str, Any],
        ascii_letters_are_words: bool = False,
        compiled: Mapping[tuple[str, int], Any] | None = None,
    ):
        never: Callable[[str], Any] = lambda _s: None  # noqa: E731
        self.prefix_search = _compile(rules["prefix"], "search", compiled) or never
        self.suffix_search = _compile(rules["suffix"], "search", compiled) or never
        self.suffix_length = _SuffixLength(rules["suffix"]) if rules["suffix"] else None
        # see SpacyChunkWords.ascii_letters_are_words; off while the matcher patterns are built below
        self.ascii_letters_are_words = False
        self.infix_finditer = _compile(rules["infix"], "finditer", compiled)
        self.token_match = _compile(rules["token_match"], "match", compiled)
        self.url_match = _compile(rules["url_match"], "match", compiled)
        self.specials: dict[str, tuple[str, ...]] = {
            string: tuple(orths) for string, orths in rules["specials"].items()
        }
        self._build_matcher(rules["faster_heuristics"])
        self.ascii_letters_are_words = ascii_letters_are_words

    def _build_matcher(self, faster_heuristics: bool) -> None:
        """``Tokenizer.add_special_case``: a special case enters the matcher when it has an affix or an infix
        (``faster_heuristics``) or a space; its pattern is the text's tokens without special cases.

        A one-token pattern whose special case is that same token changes nothing and, being the shortest,
        can only hide a copy of itself, so it is left out. ``pairs``, ``entries`` and ``exits`` say which
        tokens a match can hold on either side of a chunk boundary (see ``SpacyChunkWords``).
        """
        self.patterns: dict[str, list[tuple[str, ...]]] = {}
        self.rules_across_spaces = False  # a special case of several tokens contains whitespace
        for string in sorted(self.specials):
            in_matcher = self._prefix_len(string) or self._infixes(string) or self._suffix_len(string)
            if faster_heuristics and not (in_matcher or " " in string):
                continue
            pattern = tuple(self.doc_tokens(string, self._plain_tokens)[0])
            if len(pattern) == 1 and self.specials[string] == pattern:
                continue
            self.rules_across_spaces |= len(pattern) > 1 and any(ch.isspace() for ch in string)
            self.patterns.setdefault(pattern[0], []).append(pattern)
        self.pattern_starts = frozenset(self.patterns)
        multi = [p for patterns in self.patterns.values() for p in patterns if len(p) > 1]
        cuts = [(p, j) for p in multi for j in range(1, len(p))]  # a boundary between p[j - 1] and p[j]
        self.pairs = frozenset((p[j - 1], p[j]) for p, j in cuts)
        self.entries = frozenset(p[j:end] for p, j in cuts for end in range(j + 1, len(p) + 1))
        self.exits = frozenset(p[start:j] for p, j in cuts for start in range(j))
        self.longest = max(map(len, multi), default=0)

    def _plain_tokens(self, string: str) -> list[str]:
        return self.raw_tokens(string, with_special_cases=False)

    def _prefix_len(self, string: str) -> int:
        match = self.prefix_search(string)
        return (match.end() - match.start()) if match is not None else 0

    def _suffix_len(self, string: str) -> int:
        return self.suffix_length(string) if self.suffix_length is not None else 0

    def _infixes(self, string: str) -> list[Any]:
        return list(self.infix_finditer(string)) if self.infix_finditer is not None else []

    def raw_tokens(
        self, chunk: str, with_special_cases: bool = True, known: dict[str, tuple[str, ...]] | None = None
    ) -> list[str]:
        """Tokens of one chunk before the special-case matcher (``_try_specials_and_cache``, else ``_tokenize``).

        ``known``: chunks already tokenized (a cache). When what is left of the chunk after its prefixes and
        suffixes is a known chunk that is one word, that word needs no infix or URL check: a string that is
        not a special case and comes out as itself alone had no infix split (the matcher could only have
        turned it into a special case).
        """
        specials = self.specials if with_special_cases else {}
        special = specials.get(chunk)
        return list(special) if special is not None else self._tokenize(chunk, specials, known or {})

    def tokenize(
        self, chunk: str, with_special_cases: bool = True, known: dict[str, tuple[str, ...]] | None = None
    ) -> list[str]:
        """Tokens of one chunk standing alone (no other chunk next to it), matcher included."""
        return self.chunk_words(chunk, known)[1] if with_special_cases else self._plain_tokens(chunk)

    def chunk_words(
        self, chunk: str, known: dict[str, tuple[str, ...]] | None = None
    ) -> tuple[list[str], list[str], str | None, str | None]:
        """The chunk's tokens before the matcher, its tokens with the matcher applied inside it (the same list
        if nothing matched), and its exposed edges.

        An edge is exposed when a match running across the space on that side could overlap one of the
        chunk's own matches and so hide it: then it is the chunk's token on that side (before the matcher),
        else None.
        """
        special = self.specials.get(chunk)  # raw_tokens, inlined: this runs for every new chunk
        tokens = list(special) if special is not None else self._tokenize(chunk, self.specials, known or {})
        if self.pattern_starts.isdisjoint(tokens):
            return tokens, tokens, None, None
        spans = self.matches(tokens)
        if not spans:
            return tokens, tokens, None, None
        words = self.retokenize(tokens, [False] * len(tokens), spans)
        return tokens, words, *self._exposed_edges(tokens, spans)

    def _exposed_edges(
        self, tokens: list[str], spans: list[tuple[int, int]]
    ) -> tuple[str | None, str | None]:
        """A match entering from the left covers tokens [0, reach) with ``tokens[:reach]`` in ``entries``; one
        leaving to the right covers the last tokens, in ``exits``. An own match that starts (or ends) inside
        that reach can be hidden."""
        n = len(tokens)
        widths = range(1, min(n, self.longest) + 1)
        enter = max((m for m in widths if tuple(tokens[:m]) in self.entries), default=0)
        leave = max((k for k in widths if tuple(tokens[n - k :]) in self.exits), default=0)
        left = tokens[0] if any(start < enter for start, _ in spans) else None
        right = tokens[-1] if any(end > n - leave for _, end in spans) else None
        return left, right

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
                tokens.append(string)  # no infix pattern matches (ASCII letters in English; see raw_tokens)
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

    def matches(self, tokens: list[str]) -> list[tuple[int, int]]:
        """Every ``(start, end)`` where a pattern matches the tokens (``PhraseMatcher.find_matches``)."""
        patterns = self.patterns
        spans = []
        for start, token in enumerate(tokens):
            for pattern in patterns.get(token, ()):
                end = start + len(pattern)
                if tuple(tokens[start:end]) == pattern:
                    spans.append((start, end))
        return spans

    def retokenize(self, tokens: list[str], spaces: list[bool], spans: list[tuple[int, int]]) -> list[str]:
        """``_retokenize_special_spans``: each kept match whose text (its tokens joined with their trailing
        single spaces) is a special case becomes that special case's tokens."""
        out: list[str] = []
        i = 0
        for start, end in _kept_spans(spans):
            text = "".join(tokens[k] + " " * spaces[k] for k in range(start, end - 1)) + tokens[end - 1]
            out += tokens[i:start]
            out += self.specials.get(text, tokens[start:end])
            i = end
        out += tokens[i:]
        return out

    def doc_tokens(self, text: str, raw: Callable[[str], Sequence[str]]) -> tuple[list[str], list[bool]]:
        """``Tokenizer._tokenize_affixes`` on a whole text: the tokens of every chunk and whitespace run
        (``raw`` tokenizes one), and whether a token is followed by a single space that is not a token.

        A whitespace run after a chunk gives its first character to the chunk if it is a space; the rest of
        the run (if any) is a token, and so is a run at the start of the text.
        """
        tokens: list[str] = []
        spaces: list[bool] = []
        for run in _RUNS.findall(text):
            if tokens and run[0] == " ":  # a whitespace run after a chunk
                spaces[-1] = True
                run = run[1:]
            if run:
                new = raw(run)
                tokens += new
                spaces += [False] * len(new)
        return tokens, spaces

    def document_words(self, text: str, raw: Callable[[str], Sequence[str]]) -> list[str]:
        """datatrove's words of ``text``: spaCy's tokens with the matcher run over the whole text, stripped,
        whitespace tokens left out (``strip_strings``)."""
        tokens, spaces = self.doc_tokens(text, raw)
        spans = self.matches(tokens)
        if spans:
            tokens = self.retokenize(tokens, spaces, spans)
        stripped = [token.strip() for token in tokens]
        return [token for token in stripped if token]


def _kept_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``Tokenizer._filter_special_spans``: longest first, then leftmost; a span is kept unless its first or
    last token was seen; every span's tokens are marked seen, kept or not. In text order."""
    seen: set[int] = set()
    kept = []
    for start, end in sorted(spans, key=lambda span: (span[0] - span[1], span[0])):
        if start not in seen and end - 1 not in seen:
            kept.append((start, end))
        seen.update(range(start, end))
    return sorted(kept)


def _positions(chunks: list[str], found: list[str]) -> Iterator[int]:
    """The indices in ``chunks`` of ``found``: some of its items, every occurrence of each, in order."""
    i = -1
    for chunk in found:
        i = chunks.index(chunk, i + 1)
        yield i


class SpacyChunkWords:
    """``word_tokenize`` with exactly the words of datatrove's ``SpaCyTokenizer`` (rule-based languages).

    Args:
        language: the spaCy language code (datatrove's ``SpaCyTokenizer(language)``, a blank pipeline).
        max_cached_chunks: bound of the chunk caches (they are emptied when full).

    datatrove's tokenizer for the language (``reference``) provides the rules when no stored snapshot matches
    the installed spaCy, and handles the texts spaCy cannot.
    """

    def __init__(self, language: str, max_cached_chunks: int = DEFAULT_MAX_CACHED_CHUNKS):
        self.language = language
        self.max_cached_chunks = max_cached_chunks
        self._chunks: dict[str, tuple[str, ...]] = {}  # words of chunks with no exposed edge
        self._exposed: dict[str, tuple[tuple[str, ...], str | None, str | None]] = {}  # words and edges
        self._raw: dict[str, tuple[str, ...]] = {}  # tokens before the matcher, for the slow paths
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
        state["_exposed"] = {}
        state["_raw"] = {}
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
            compiled = None
            if data is None:  # no snapshot for this spaCy version: ask spaCy itself
                from spacy.tokenizer import Tokenizer

                tokenizer = self.reference.tokenizer.tokenizer
                if type(tokenizer) is not Tokenizer:
                    self._rule_based = False
                    return None
                data = tokenizer_rules(tokenizer)
                compiled = compiled_patterns(tokenizer)
            self._rules = _SpacyRules(
                data, ascii_letters_are_words=self.ascii_letters_are_words, compiled=compiled
            )
        return self._rules

    def _chunk_words(self, rules: _SpacyRules, chunk: str, exposed: list[str]) -> tuple[str, ...]:
        """Words of a chunk not in ``_chunks``; an exposed chunk is added to ``exposed`` (every time)."""
        if (
            self.ascii_letters_are_words
            and chunk.isascii()
            and chunk.isalpha()
            and chunk not in rules.specials
        ):
            self._chunks[chunk] = (chunk,)  # a single token: never exposed
            return (chunk,)
        entry = self._exposed.get(chunk)
        if entry is None:
            tokens, words, left, right = rules.chunk_words(chunk, known=self._chunks)
            if words is not tokens:  # the matcher changed them: keep the tokens for the slow paths
                self._raw[chunk] = tuple(tokens)
            entry = (tuple(words), left, right)
            if left is None and right is None:
                self._chunks[chunk] = entry[0]
                return entry[0]
            self._exposed[chunk] = entry
        exposed.append(chunk)
        return entry[0]

    def _raw_tokens(self, rules: _SpacyRules, chunk: str) -> tuple[str, ...]:
        """A chunk's tokens before the matcher: its words unless the matcher changed them (then in ``_raw``)."""
        tokens = self._raw.get(chunk)
        if tokens is None:
            tokens = self._chunks.get(chunk)
            if tokens is None:
                tokens = self._raw[chunk] = tuple(rules.raw_tokens(chunk, known=self._chunks))
        return tokens

    def _words_of(self, chunk: str) -> tuple[str, ...]:
        words = self._chunks.get(chunk)
        return words if words is not None else self._exposed[chunk][0]

    def _edge_pair(self, rules: _SpacyRules, chunks: list[str], i: int) -> tuple[str, str]:
        """The tokens on either side of boundary ``i`` (between chunks ``i - 1`` and ``i``), before the matcher."""
        return self._raw_tokens(rules, chunks[i - 1])[-1], self._raw_tokens(rules, chunks[i])[0]

    def _suspect_boundaries(self, rules: _SpacyRules, chunks: list[str], exposed: list[str]) -> list[int]:
        """Boundaries next to an exposed edge of a chunk where the tokens on either side are consecutive in
        some pattern (a match runs across if the whitespace there is one space). Boundary ``i`` is between
        chunks ``i - 1`` and ``i``."""
        found = set()
        for i in _positions(chunks, exposed):
            _, left, right = self._exposed[chunks[i]]
            if left is not None and i > 0 and self._edge_pair(rules, chunks, i) in rules.pairs:
                found.add(i)
            if (
                right is not None
                and i + 1 < len(chunks)
                and self._edge_pair(rules, chunks, i + 1) in rules.pairs
            ):
                found.add(i + 1)
        return sorted(found)

    def _clusters(
        self, rules: _SpacyRules, text: str, chunks: list[str], suspects: list[int]
    ) -> list[tuple[int, int]]:
        """The chunks ``a..b`` around each suspect boundary that a match can cross, joined by every boundary a
        match can cross (one space between tokens that are consecutive in some pattern): no match of the
        text runs over the ends of such a cluster, so spaCy's tokens for it alone are its tokens in the text."""
        runs = _RUNS.findall(text)  # whitespace runs and chunks alternate: chunk i is runs[first + 2 * i]
        first = 1 if runs[0][0].isspace() else 0

        def crossable(i: int) -> bool:
            return (
                0 < i < len(chunks)
                and runs[first + 2 * i - 1] == " "
                and self._edge_pair(rules, chunks, i) in rules.pairs
            )

        clusters: list[tuple[int, int]] = []
        for i in suspects:
            if (clusters and i <= clusters[-1][1]) or not crossable(i):
                continue
            a, b = i - 1, i
            while crossable(a):
                a -= 1
            while crossable(b + 1):
                b += 1
            clusters.append((a, b))
        return clusters

    def _respliced(
        self, rules: _SpacyRules, chunks: list[str], words: list[str], clusters: list[tuple[int, int]]
    ) -> list[str]:
        """``words`` with the words of each cluster replaced by those of the whole cluster's text."""
        starts = [0, *accumulate(len(self._words_of(chunk)) for chunk in chunks[: clusters[-1][1] + 1])]
        raw = partial(self._raw_tokens, rules)
        out: list[str] = []
        done = 0
        for a, b in clusters:
            out += words[starts[done] : starts[a]]
            out += rules.document_words(" ".join(chunks[a : b + 1]), raw)
            done = b + 1
        out += words[starts[done] :]
        return out

    def _across_spaces(
        self, rules: _SpacyRules, text: str, chunks: list[str], words: list[str], exposed: list[str]
    ) -> list[str]:
        """The words once the matches that run across a space are taken into account."""
        suspects = self._suspect_boundaries(rules, chunks, exposed)
        clusters = self._clusters(rules, text, chunks, suspects) if suspects else []
        return self._respliced(rules, chunks, words, clusters) if clusters else words

    def _clear(self) -> None:
        """Empty the caches (at the start of a document only: the slow paths rely on them)."""
        self._chunks.clear()
        self._exposed.clear()
        self._raw.clear()

    def word_tokenize(self, text: str) -> list[str]:
        rules = self.rules
        if rules is None or _SPACY_TRAP in text:
            return self.reference.word_tokenize(text)
        cache = self._chunks
        if len(cache) + len(self._exposed) + len(self._raw) > self.max_cached_chunks:
            self._clear()
        if rules.rules_across_spaces:
            return rules.document_words(text, partial(self._raw_tokens, rules))
        chunks = text.split()
        exposed: list[str] = []
        words: list[str] = []
        for chunk in chunks:
            cached = cache.get(chunk)
            if cached is None:
                cached = self._chunk_words(rules, chunk, exposed)
            words += cached
        return self._across_spaces(rules, text, chunks, words, exposed) if exposed else words


if __name__ == "__main__":  # python -m smolprep.text.spacy_words en [fr ...]: refresh the stored rules
    import sys

    for code in sys.argv[1:] or ["en"]:
        print(write_snapshot(code))
