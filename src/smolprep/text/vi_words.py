"""datatrove's Vietnamese word tokenizer (spaCy ``vi`` with pyvi), computed without spaCy and scikit-learn.

datatrove's ``load_word_tokenizer("vi")`` is a blank spaCy ``vi`` pipeline whose tokenizer is pyvi: it splits
the text into syllables with a regular expression (``VietnameseTokenizer.pyvi_sylabelize_with_ws``), labels
every syllable ``B_W`` (begins a word) or ``I_W`` (inside a word) with pyvi's CRF model (python-crfsuite,
features from ``ViTokenizer.word2features``) and joins ``I_W`` syllables to the word before them, keeping the
whitespace between (so ``Việt Nam`` is one word). Loading it imports scikit-learn (about 2.3 s of CPU and
130 MB per process) and tagging goes through a Python dict per syllable.

``PyviWords`` gives the same words:

- the syllables come from the same regular expression (groups made non-capturing, which changes nothing);
- the CRF's weights are read from pyvi's own model file (the crfsuite model inside ``pyvi3.pkl``, unpickled
  without scikit-learn), and the state scores are summed in crfsuite's order: for each syllable and label,
  ``0.0`` plus the weight of each present attribute, in the order of pyvi's feature dict (an attribute whose
  value is ``False`` adds ``0.0``, which changes nothing; one the model does not know is skipped, as
  crfsuite skips it). The scores are therefore the same doubles crfsuite computes, and the Viterbi pass
  follows ``crf1dc_viterbi`` step for step (ties go to the lower label id);
- the joining rule is spaCy's ``pyvi_tokenize``.

A text that contains ``IS_ALPHA`` (which can make spaCy raise; datatrove then retries without it) is handed to
datatrove's tokenizer unchanged.
"""

from __future__ import annotations

import os
import pickle
import re
import string
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

_SPACY_TRAP = "IS_ALPHA"

# spaCy's VietnameseTokenizer.pyvi_sylabelize_with_ws (spacy/lang/vi/__init__.py) finds
# `(\s+|<alternatives>)` and keeps the whitespace run before each syllable. `(\s*)(<alternatives>)` gives the
# same syllables with their whitespace in one pass: no alternative can start with whitespace, so at each
# syllable the same alternative wins. Inner groups are non-capturing, and a quantifier is possessive (`++`)
# where the character after it can never be one it consumed, so backtracking could not have helped: the
# matches are the same, without rescanning every syllable for `://` and `@`.
_ALTERNATIVES = "|".join(
    [
        # abbreviations
        r"[A-ZĐ]++\.",
        r"Tp\.",
        r"Mr\.",
        r"Mrs\.",
        r"Ms\.",
        r"Dr\.",
        r"ThS\.",
        # specials
        r"==>",
        r"->",
        r"\.\.\.",
        r">>",
        # web, email
        r"\w++://[^\s]+",
        r"(?:[a-zA-Z0-9_.+-]++@(?:[a-zA-Z0-9-]++\.)+[a-zA-Z0-9-]+)",
        # digit, non_word, word
        r"\d++(?:[\.,_]\d++)+",
        r"[^\w\s]",
        r"\w+",
    ]
)

_B, _I = "B_W", "I_W"
_MAX_SYLLABLES = 300_000  # distinct syllables kept per process (about 150 bytes each)
_ID_BITS = 21  # ids of lower-case forms stay below 2**21 (there are at most _MAX_SYLLABLES)


_SPACED_SYLLABLE = re.compile(r"\s*(?:" + _ALTERNATIVES + ")")


def spaced_syllables(text: str) -> tuple[list[str], list[str]]:
    """Each syllable with the whitespace before it, and the syllables (``str.lstrip`` removes exactly the
    whitespace ``\\s*`` matched: both use Unicode's whitespace)."""
    spaced = _SPACED_SYLLABLE.findall(text)
    return spaced, list(map(str.lstrip, spaced))


def syllables(text: str) -> tuple[list[str], list[str]]:
    """The syllables of ``text`` and the whitespace before each (``""`` when none), as spaCy's pyvi does."""
    spaced, words = spaced_syllables(text)
    return words, [item[: len(item) - len(word)] for item, word in zip(spaced, words, strict=True)]


def _merge(sorted_keys: Any, new: list[int]) -> Any:
    """``sorted_keys`` with ``new`` inserted (still sorted; duplicates do no harm)."""
    new_keys = np.sort(np.asarray(new, dtype=np.int64))
    return np.insert(sorted_keys, np.searchsorted(sorted_keys, new_keys), new_keys)


def _member(keys: Any, sorted_keys: Any) -> Any:
    """Which of ``keys`` are in the sorted array ``sorted_keys``."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.searchsorted(sorted_keys, keys)
    np.minimum(at, len(sorted_keys) - 1, out=at)
    return sorted_keys[at] == keys


class _Stub:
    """Stands in for scikit-learn / pycrfsuite classes while reading pyvi's pickle."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})


class _ModelUnpickler(pickle.Unpickler):
    _STUBBED = ("sklearn_crfsuite", "pycrfsuite")

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] in self._STUBBED:
            return _Stub
        return super().find_class(module, name)


def _pyvi_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("pyvi")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the Vietnamese word tokenizer needs pyvi: pip install pyvi")
    return next(iter(spec.submodule_search_locations))


def _read_crfsuite_model(path: str) -> bytes:
    with open(path, "rb") as f:
        crf = _ModelUnpickler(f).load()
    data = crf.modelfile.__dict__.get("__FILE_RESOURCE_DATA__")
    if not isinstance(data, bytes):
        raise ValueError(f"{path}: no crfsuite model inside pyvi's pickle")
    return data


def _cqdb_strings(buffer: bytes, offset: int) -> list[str]:
    """The strings of a crfsuite CQDB (constant quark database) at ``offset``, by id."""
    chunk, _size, _flag, byteorder, bwd_size, bwd_offset = struct.unpack_from("<4sIIIII", buffer, offset)
    if chunk != b"CQDB" or byteorder != 0x62445371:
        raise ValueError("not a CQDB chunk")
    links = struct.unpack_from(f"<{bwd_size}I", buffer, offset + bwd_offset)
    out = []
    for link in links:
        _value, ksize = struct.unpack_from("<II", buffer, offset + link)
        start = offset + link + 8
        out.append(buffer[start : start + ksize - 1].decode("utf-8", "surrogateescape"))
    return out


@dataclass(frozen=True)
class CrfModel:
    """A crfsuite CRF1d model: label names, state weights per attribute, transition weights."""

    labels: tuple[str, ...]
    state: dict[str, tuple[float, ...]]  # attribute -> weight per label (0.0 where the model has none)
    transitions: tuple[tuple[float, ...], ...]  # [from][to]

    @classmethod
    def parse(cls, buffer: bytes) -> CrfModel:
        """Read a crfsuite model file (``lib/crf/src/crf1d_model.c``: header, features, CQDBs)."""
        magic, _size, mtype, _version, _num_features, num_labels, _num_attrs = struct.unpack_from(
            "<4sI4sIIII", buffer, 0
        )
        off_features, off_labels, off_attrs = struct.unpack_from("<III", buffer, 28)
        if magic != b"lCRF" or mtype != b"FOMC":
            raise ValueError("not a crfsuite CRF1d model")
        labels = tuple(_cqdb_strings(buffer, off_labels))
        attrs = _cqdb_strings(buffer, off_attrs)
        if len(labels) != num_labels:
            raise ValueError("inconsistent label count")
        state: dict[str, list[float]] = {}
        seen: set[tuple[int, int]] = set()
        trans = [[0.0] * num_labels for _ in range(num_labels)]
        chunk, _csize, num = struct.unpack_from("<4sII", buffer, off_features)
        if chunk != b"FEAT":  # (the header's feature count is not filled in by crfsuite's writer)
            raise ValueError("bad feature chunk")
        for ftype, src, dst, weight in struct.iter_unpack("<IIId", buffer[off_features + 12 :][: 20 * num]):
            if ftype == 0:  # state feature: attribute src -> label dst
                if (src, dst) in seen:
                    raise ValueError("two state features for one attribute and label")
                seen.add((src, dst))
                state.setdefault(attrs[src], [0.0] * num_labels)[dst] = weight
            elif ftype == 1:  # transition feature: label src -> label dst
                trans[src][dst] = weight
        return cls(
            labels=labels,
            state={attr: tuple(w) for attr, w in state.items()},
            transitions=tuple(tuple(row) for row in trans),
        )


class _PyviModel:
    """pyvi's bigram/trigram lists and CRF weights, arranged for vectorised state scores."""

    def __init__(self) -> None:
        folder = _pyvi_dir()
        # pyvi.ViTokenizer reads words.txt this way: entries of two and three space-separated syllables, and
        # asks ' '.join([w1, w]).lower() in bi_grams. No syllable holds whitespace, so that string is
        # lower(w1) + " " + lower(w) (str.lower's final-sigma rule cannot see across the space) and it is an
        # entry iff (lower(w1), lower(w)) are the entry's parts. Entries are kept by part, as tuples of parts.
        self.entries_by_part: dict[str, list[tuple[str, ...]]] = {}
        with open(os.path.join(folder, "models", "words.txt"), encoding="utf-8") as f:
            for token in f.read().split("\n"):
                parts = tuple(token.split(" "))
                if len(parts) in (2, 3):
                    for part in set(parts):
                        self.entries_by_part.setdefault(part, []).append(parts)
        model = CrfModel.parse(_read_crfsuite_model(os.path.join(folder, "models", "pyvi3.pkl")))
        if sorted(model.labels) != [_B, _I]:
            raise ValueError(f"pyvi's CRF has labels {model.labels}, expected B_W and I_W")
        self.i_label = model.labels.index(_I)
        self.trans = model.transitions
        zero = (0.0, 0.0)
        w = model.state
        self._w = w
        self.bias = w.get("bias", zero)
        self.isupper = w.get("word.isupper()", zero)
        self.istitle = w.get("word.istitle()", zero)
        self.isdigit = w.get("word.isdigit()", zero)
        self.prev_title = w.get("-1:word.istitle()", zero)
        self.prev_upper = w.get("-1:word.isupper()", zero)
        self.prev_bigram = w.get("-1:word.bi_gram()", zero)
        self.prev2_trigram = w.get("-2:word.tri_gram()", zero)
        self.next_title = w.get("+1:word.istitle()", zero)
        self.next_upper = w.get("+1:word.isupper()", zero)
        self.next_bigram = w.get("+1:word.bi_gram()", zero)
        self.next2_trigram = w.get("+2:word.tri_gram()", zero)
        # per distinct syllable: its lower-case form, 7 terms x 2 labels (see word_row), and 3 flags for the
        # joining rule (the syllable is in string.punctuation; its first character is a digit; is title case)
        self.index: dict[str, int] = {}
        self.rows = np.zeros((4096, 14), dtype=np.float64)
        self.flags = np.zeros((4096, 3), dtype=bool)
        self._reset_dictionary()

    def _reset_dictionary(self) -> None:
        """Lower-case forms seen so far get ids; a bigram (trigram) entry whose parts all have ids is a key
        ``id1 << 21 | id2`` (``id1 << 42 | id2 << 21 | id3``) in a sorted array, so membership is vectorised."""
        self.lower_ids: dict[str, int] = {}
        self.lower_of = np.zeros(len(self.rows), dtype=np.int64)  # syllable row -> id of its lower-case form
        self.bigram_keys = np.empty(0, dtype=np.int64)  # sorted
        self.trigram_keys = np.empty(0, dtype=np.int64)
        self._new_keys: tuple[list[int], list[int]] = ([], [])

    def _lower_id(self, lower: str) -> int:
        lid = self.lower_ids.get(lower)
        if lid is None:
            lid = self.lower_ids[lower] = len(self.lower_ids)
            for parts in self.entries_by_part.get(lower, ()):
                ids = [self.lower_ids.get(part) for part in parts]
                if None in ids:
                    continue
                key = 0
                for part_id in ids:
                    key = (key << _ID_BITS) | part_id  # type: ignore[operator]
                self._new_keys[len(parts) - 2].append(key)
        return lid

    def _keys(self) -> tuple[Any, Any]:
        """The sorted bigram and trigram keys (new keys merged in)."""
        new_bigrams, new_trigrams = self._new_keys
        if new_bigrams:
            self.bigram_keys = _merge(self.bigram_keys, new_bigrams)
            new_bigrams.clear()
        if new_trigrams:
            self.trigram_keys = _merge(self.trigram_keys, new_trigrams)
            new_trigrams.clear()
        return self.bigram_keys, self.trigram_keys

    @staticmethod
    def _attr(w: dict[str, tuple[float, ...]], name: str) -> tuple[float, ...]:
        # crfsuite looks attributes up as C strings: a NUL ends the name
        return w.get(name.split("\x00", 1)[0], (0.0, 0.0))

    def word_row(self, word: str) -> list[float]:
        """Terms that depend on one syllable, for labels 0 and 1: its own attributes summed in pyvi's order
        (a prefix of the state score, so summing them first is exact), then the 3 terms it adds to the next
        syllable's score (as ``-1:``) and the 3 it adds to the previous one's (as ``+1:``)."""
        lower = word.lower()
        attr = self._attr
        own = []
        for label in (0, 1):
            score = 0.0
            score += self.bias[label]
            score += attr(self._w, "word.lower():" + lower)[label]
            if word.isupper():
                score += self.isupper[label]
            if word.istitle():
                score += self.istitle[label]
            if word.isdigit():
                score += self.isdigit[label]
            own.append(score)
        prev_lower = attr(self._w, "-1:word.lower():" + lower)
        next_lower = attr(self._w, "+1:word.lower():" + lower)
        title, upper = word.istitle(), word.isupper()
        zero = (0.0, 0.0)
        # columns, two per term (label 0, label 1): own | as -1: lower, title, upper | as +1: same
        return [
            *own,
            *prev_lower,
            *(self.prev_title if title else zero),
            *(self.prev_upper if upper else zero),
            *next_lower,
            *(self.next_title if title else zero),
            *(self.next_upper if upper else zero),
        ]

    def _add(self, words: list[str]) -> None:
        """Give rows to new syllables (distinct, not yet in the index)."""
        first = len(self.index)
        end = first + len(words)
        while end > len(self.rows):
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
            self.flags = np.concatenate([self.flags, np.zeros_like(self.flags)])
            self.lower_of = np.concatenate([self.lower_of, np.zeros_like(self.lower_of)])
        self.rows[first:end] = [self.word_row(word) for word in words]
        self.flags[first:end] = [(w in string.punctuation, w[0].isdigit(), w[0].istitle()) for w in words]
        self.lower_of[first:end] = [self._lower_id(word.lower()) for word in words]
        self.index.update(zip(words, range(first, end), strict=True))

    def ids(self, words: list[str]) -> list[int]:
        """Row of every syllable (new syllables get one)."""
        index = self.index
        if len(index) > _MAX_SYLLABLES:  # keep memory bounded: start over
            index.clear()
            self._reset_dictionary()
        new = set(words).difference(index)
        if new:
            self._add(list(new))
        return list(map(index.__getitem__, words))

    def state_scores(self, ids: list[int]) -> tuple[list[float], list[float]]:
        """crfsuite's state score of every syllable for each label (same doubles, same order of sums)."""
        rows = self.rows[ids]
        lower = self.lower_of[ids]
        bigram_keys, trigram_keys = self._keys()
        bigram = _member((lower[:-1] << _ID_BITS) | lower[1:], bigram_keys)
        trigram = _member(
            (lower[:-2] << (2 * _ID_BITS)) | (lower[1:-1] << _ID_BITS) | lower[2:], trigram_keys
        )
        # both labels at once: every array below has one column per label, and each += adds one term
        # to every syllable's score, in pyvi's attribute order (elementwise double additions, as crfsuite's)
        score = rows[:, 0:2].copy()
        # i > 0: -1:word.lower(), -1:word.istitle(), -1:word.isupper(), -1:word.bi_gram(), -2:word.tri_gram()
        score[1:] += rows[:-1, 2:4]
        score[1:] += rows[:-1, 4:6]
        score[1:] += rows[:-1, 6:8]
        score[1:] += np.where(bigram[:, None], self.prev_bigram, 0.0)
        score[2:] += np.where(trigram[:, None], self.prev2_trigram, 0.0)
        # i < n-1: +1:word.lower(), +1:word.istitle(), +1:word.isupper(), +1:word.bi_gram(), +2:...
        score[:-1] += rows[1:, 8:10]
        score[:-1] += rows[1:, 10:12]
        score[:-1] += rows[1:, 12:14]
        score[:-1] += np.where(bigram[:, None], self.next_bigram, 0.0)
        score[:-2] += np.where(trigram[:, None], self.next2_trigram, 0.0)
        return score[:, 0].tolist(), score[:, 1].tolist()

    def joins(self, ids: list[int], labels: bytearray) -> Any:
        """Where spaCy's pyvi_tokenize joins syllable i to the word before it (array of n - 1 booleans)."""
        flags = self.flags[ids]
        punct, digit, title = flags[:, 0], flags[:, 1], flags[:, 2]
        inside = np.frombuffer(labels, dtype=np.uint8)[1:] == self.i_label
        return inside & ~punct[1:] & ~punct[:-1] & ~digit[1:] & ~digit[:-1] & ~(title[1:] & ~title[:-1])

    def viterbi(self, s0: list[float], s1: list[float]) -> bytearray:
        """Best label ids, exactly as crfsuite's ``crf1dc_viterbi`` (two labels; ties go to label 0)."""
        n = len(s0)
        (t00, t01), (t10, t11) = self.trans
        back0 = bytearray(n)
        back1 = bytearray(n)
        p0, p1 = s0[0], s1[0]
        for t, (x0, x1) in enumerate(zip(s0, s1, strict=True)):
            if t:
                a = p0 + t00
                b = p1 + t10
                if a < b:
                    a = b
                    back0[t] = 1
                c = p0 + t01
                d = p1 + t11
                if c < d:
                    c = d
                    back1[t] = 1
                p0 = a + x0
                p1 = c + x1
        labels = bytearray(n)
        label = 1 if p0 < p1 else 0
        labels[n - 1] = label
        for t in range(n - 1, 0, -1):
            label = back1[t] if label else back0[t]
            labels[t - 1] = label
        return labels


class PyviWords:
    """``word_tokenize`` with exactly the words of datatrove's Vietnamese tokenizer (spaCy + pyvi)."""

    def __init__(self) -> None:
        self._model: _PyviModel | None = None
        self._reference: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"_model": None, "_reference": None}

    @property
    def model(self) -> _PyviModel:
        if self._model is None:
            self._model = _PyviModel()
        return self._model

    def _reference_words(self, text: str) -> list[str]:
        if self._reference is None:
            from datatrove.utils.word_tokenizers import load_word_tokenizer

            self._reference = load_word_tokenizer("vi")
        return self._reference.word_tokenize(text)

    def word_tokenize(self, text: str) -> list[str]:
        if _SPACY_TRAP in text:
            return self._reference_words(text)
        spaced, words = spaced_syllables(text)
        if not words:
            return []
        model = self.model
        ids = model.ids(words)
        labels = model.viterbi(*model.state_scores(ids))
        joins = np.flatnonzero(model.joins(ids, labels)) + 1
        if not len(joins):
            return words
        out: list[str | None] = list(words)
        for i in reversed(joins.tolist()):  # right to left, so a word of three syllables builds up
            space = spaced[i][: len(spaced[i]) - len(words[i])]
            out[i - 1] = out[i - 1] + space + out[i]  # type: ignore[operator]
            out[i] = None
        return [word for word in out if word is not None]
