"""datatrove's Gopher n-gram repetition measures, computed with arrays instead of one string per n-gram.

``GopherRepetitionFilter`` builds every n-gram as a string and counts them in a ``Counter`` or a ``set``:

- top n-grams (n = 2, 3, 4): ``" ".join`` of n words; the measure is ``len(gram) * count`` of the most
  frequent one, ties going to the one seen first (``Counter.most_common(1)``);
- duplicated n-grams (n = 5 ... 10): ``"".join`` of n words, scanned left to right: a gram already in the set
  counts its characters and the scan jumps n words ahead, otherwise it enters the set and the scan moves one
  word (``find_all_duplicate``).

Two n-grams count as the same when their *joined strings* are equal, so ``["ab", "c"]`` and ``["a", "bc"]``
are one 2-gram for the duplicated measure, and Vietnamese words with spaces inside can make two different
word sequences one gram for the top measure. ``NgramIndex`` reproduces exactly that equality:

1. each position's gram gets a 64-bit polynomial hash of its joined string (prefix sums over the code
   points, so all positions of one n cost a few vector operations); equal strings have equal hashes;
2. positions are grouped by hash; a group whose members are all the same word sequence (checked on word
   ids, exactly) is one gram; a group with different word sequences (a hash collision or a real
   different-boundaries match) is split by comparing the actual strings.

The counts and the left-to-right scan then run on group ids; the scan only looks at positions whose gram
occurred earlier, in the (rare) documents that have any. Results equal datatrove's functions, which the
tests check on the sample and on literal edge cases.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any

import numpy as np
from datatrove.pipeline.filters.gopher_repetition_filter import (
    find_all_duplicate,
    find_top_duplicate,
    get_n_grams,
)

# Below this many words datatrove's own functions are faster than the array set-up.
SMALL_DOC_WORDS = 96

_BASE = 0x9E3779B97F4A7C15  # odd, so it has an inverse modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_POW = np.ones(1, dtype=np.uint64)
_INV_POW = np.ones(1, dtype=np.uint64)


def _powers(length: int) -> tuple[Any, Any]:
    """BASE**i and BASE**-i modulo 2**64 for i < length (grown by doubling, kept for the process)."""
    global _POW, _INV_POW
    if len(_POW) < length:
        size = max(length, 2 * len(_POW))
        one = np.ones(1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            _POW = np.concatenate(
                [one, np.cumprod(np.full(size - 1, _BASE, dtype=np.uint64), dtype=np.uint64)]
            )
            _INV_POW = np.concatenate(
                [one, np.cumprod(np.full(size - 1, _BASE_INV, dtype=np.uint64), dtype=np.uint64)]
            )
    return _POW, _INV_POW


def _mix(h: Any) -> Any:
    """MurmurHash3's 64-bit finaliser (a bijection): spreads every input bit over the high bits we keep."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(33))
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
    return h


class _Joined:
    """One joined string of the words (``sep`` between them) with prefix hashes over its code points."""

    def __init__(self, words: list[str], sep: str, word_starts: Any):
        self.text = sep.join(words)
        codes = np.frombuffer(self.text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        pow_, inv_pow = _powers(len(codes) + 1)
        self.prefix = np.zeros(len(codes) + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            np.cumsum(codes.astype(np.uint64) * pow_[: len(codes)], out=self.prefix[1:])
        self.inv_pow = inv_pow
        # start of word k in the joined string (k = 0 .. len(words)); the end of word k is start(k+1) - len(sep)
        self.starts = word_starts + np.arange(len(word_starts), dtype=np.int64) * len(sep)
        self.sep_len = len(sep)

    def gram_spans(self, n: int, count: int) -> tuple[Any, Any]:
        """Start and end offsets of the ``count`` grams of ``n`` words."""
        starts = self.starts[:count]
        ends = self.starts[n : n + count] - self.sep_len
        return starts, ends

    def gram_hashes(self, starts: Any, ends: Any) -> Any:
        with np.errstate(over="ignore"):
            return (self.prefix[ends] - self.prefix[starts]) * self.inv_pow[starts]


class _Grouping:
    """Exact groups of equal joined n-grams, for several (separator, n) "blocks" at once.

    The grams of all blocks are laid end to end; each gets the key ``mix(hash) >> 4 | block << 60``, so one
    sort groups them all and no group mixes two blocks. Equal strings have equal keys. A group is checked to
    be one gram by comparing word ids (same word sequence => same string); a group that holds different word
    sequences is split by comparing the actual strings.
    """

    def __init__(self, index: NgramIndex, blocks: list[tuple[str, int]]):
        if len(blocks) > 16:
            raise ValueError("at most 16 n-gram blocks per grouping")
        self.blocks = blocks
        ns = np.asarray([n for _, n in blocks], dtype=np.int64)
        counts = index.n_words - ns + 1
        self.offsets = np.concatenate(([0], np.cumsum(counts)))
        total = int(self.offsets[-1])
        block_of = np.repeat(np.arange(len(blocks)), counts)
        gram_n = ns[block_of]
        position = np.arange(total) - self.offsets[:-1][block_of]  # first word of each gram
        starts = np.empty(total, dtype=np.int64)
        ends = np.empty(total, dtype=np.int64)
        hashes = np.empty(total, dtype=np.uint64)
        first = 0
        while first < len(blocks):  # one vector pass per run of blocks with the same separator
            sep = blocks[first][0]
            last = first
            while last + 1 < len(blocks) and blocks[last + 1][0] == sep:
                last += 1
            rows = slice(int(self.offsets[first]), int(self.offsets[last + 1]))
            joined = index._join(sep)
            starts[rows] = joined.starts[position[rows]]
            ends[rows] = joined.starts[position[rows] + gram_n[rows]] - joined.sep_len
            hashes[rows] = joined.gram_hashes(starts[rows], ends[rows])
            first = last + 1
        self.starts, self.ends = starts, ends
        sort_keys = (_mix(hashes) >> np.uint64(4)) | (block_of.astype(np.uint64) << np.uint64(60))
        order = np.argsort(sort_keys)
        sorted_keys = sort_keys[order]
        new_group = np.empty(total, dtype=bool)
        new_group[0] = True
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new_group[1:])
        self.any_repeat = not new_group.all()
        if not self.any_repeat:
            return
        group_starts = np.flatnonzero(new_group)
        self.firsts = np.minimum.reduceat(order, group_starts)  # first (global) position of each group
        self.groups = np.empty(total, dtype=np.int64)
        self.groups[order] = np.cumsum(new_group) - 1
        sizes = np.diff(np.append(group_starts, total))
        shared = np.flatnonzero(sizes[self.groups] > 1)
        # Is every group one word sequence (as its first member)? If the block of n-1 words before a block
        # holds only such groups, two n-grams are the same sequence iff their (n-1)-word prefixes are in the
        # same group there and their last words are the same word. Checked for all blocks at once assuming
        # every block is clean; blocks from the first one that is not are checked again one by one.
        ids = index.padded_word_ids(int(ns.max()))
        chained = np.concatenate(([False], ns[1:] == ns[:-1] + 1))
        b = block_of[shared]
        n = ns[b]
        pos = position[shared]
        rep = self.firsts[self.groups[shared]] - self.offsets[:-1][b]
        previous = self.offsets[np.maximum(b - 1, 0)]
        same = ids[pos + n - 1] == ids[rep + n - 1]
        chain = chained[b]
        same &= np.where(
            chain,
            self.groups[np.where(chain, previous + pos, 0)]
            == self.groups[np.where(chain, previous + rep, 0)],
            self._same_prefix(ids, pos, rep, n - 1),
        )
        if not same.all():
            self._check_block_by_block(index, blocks, shared, block_of, ids)
        self.counts = np.bincount(self.groups, minlength=len(self.firsts))

    @staticmethod
    def _same_prefix(ids: Any, pos: Any, rep: Any, length: Any) -> Any:
        """Whether the first ``length`` words at ``pos`` and at ``rep`` are the same (vectors)."""
        same = np.ones(len(pos), dtype=bool)
        for k in range(int(length.max()) if len(length) else 0):
            same &= (ids[pos + k] == ids[rep + k]) | (k >= length)
        return same

    def _check_block_by_block(
        self, index: NgramIndex, blocks: list[tuple[str, int]], shared: Any, block_of: Any, ids: Any
    ) -> None:
        """The careful path: block by block, chaining only from a block found clean; a group with different
        word sequences is split by its strings."""
        bounds = np.searchsorted(shared, self.offsets)
        previous: tuple[int, int] | None = None  # (offset, n) of the last block made only of sequences
        for b, (_, n) in enumerate(blocks):
            members = shared[bounds[b] : bounds[b + 1]]
            offset = int(self.offsets[b])
            rep = self.firsts[self.groups[members]]
            if previous is not None and previous[1] == n - 1:
                before = previous[0] - offset
                same = self.groups[members + before] == self.groups[rep + before]
                same &= ids[members - offset + n - 1] == ids[rep - offset + n - 1]
            else:
                same = np.ones(len(members), dtype=bool)
                for k in range(n):
                    same &= ids[members - offset + k] == ids[rep - offset + k]
            if same.all():
                previous = (offset, n)
            else:
                self._split_by_string(index, members[~same], block_of)
                previous = None

    def _split_by_string(self, index: NgramIndex, odd: Any, block_of: Any) -> None:
        """Re-group the groups that hold different word sequences (``odd`` positions) by their strings."""
        firsts = self.firsts.tolist()
        for group in np.unique(self.groups[odd]).tolist():
            by_string: dict[str, int] = {}
            for position in np.flatnonzero(self.groups == group).tolist():  # ascending
                text = index._join(self.blocks[block_of[position]][0]).text
                gram = text[self.starts[position] : self.ends[position]]
                target = by_string.get(gram)
                if target is None:
                    if not by_string:
                        target = group
                    else:
                        target = len(firsts)
                        firsts.append(position)
                    by_string[gram] = target
                self.groups[position] = target
        self.firsts = np.asarray(firsts, dtype=np.int64)

    def block(self, sep: str, n: int) -> slice:
        b = self.blocks.index((sep, n))
        return slice(int(self.offsets[b]), int(self.offsets[b + 1]))

    def top_chars(self, n: int) -> int:
        """Length of the most frequent ``" "``-joined gram times its count; ties go to the gram seen first."""
        block = self.block(" ", n)
        if not self.any_repeat:
            return int(self.ends[block.start] - self.starts[block.start])
        counts = self.counts[self.groups[block]]
        best = int(counts.max())
        first = block.start + int(np.argmax(counts == best))  # the first position of a most frequent gram
        return int(self.ends[first] - self.starts[first]) * best

    def duplicate_chars(self, n: int) -> int:
        """``find_all_duplicate``'s left-to-right scan over the ``""``-joined grams, on group ids."""
        if not self.any_repeat:
            return 0
        block = self.block("", n)
        groups = self.groups[block]
        first_of = self.firsts[groups] - block.start
        candidates = np.flatnonzero(first_of < np.arange(len(groups)))
        if not len(candidates):
            return 0
        lengths = self.ends[block] - self.starts[block]
        # Positions that are the first of their group are never duplicates and are in the set once visited.
        # A candidate (its gram occurred before) is a duplicate iff an earlier *visited* position has its
        # gram: the group's first position if no jump skipped it, or an earlier visited candidate.
        added: set[int] = set()
        skip_starts: list[int] = []
        skip_ends: list[int] = []
        repeated = 0
        position = 0  # next position the scan visits
        for c, group, first, length in zip(
            candidates.tolist(),
            groups[candidates].tolist(),
            first_of[candidates].tolist(),
            lengths[candidates].tolist(),
            strict=True,
        ):
            if c < position:
                continue  # jumped over
            if group in added or not _inside(first, skip_starts, skip_ends):
                repeated += length
                skip_starts.append(c + 1)
                skip_ends.append(c + n)
                position = c + n
            else:
                added.add(group)
                position = c + 1
        return repeated


class NgramIndex:
    """Exact n-gram repetition measures of one document's words (see the module docstring).

    Args:
        words: the document's words.
        top_ns, duplicate_ns: the n of the measures that will be asked for; all of them are computed with
            one sort on first use. Other n work too (one sort each).
    """

    def __init__(
        self,
        words: list[str],
        top_ns: tuple[int, ...] = (2, 3, 4),
        duplicate_ns: tuple[int, ...] = (5, 6, 7, 8, 9, 10),
    ):
        self.words = words
        self.n_words = len(words)
        self.blocks = [(" ", n) for n in top_ns] + [("", n) for n in duplicate_ns]
        self._groupings: dict[tuple[str, int], _Grouping] = {}
        if self.n_words < SMALL_DOC_WORDS:
            return
        # word id = index of the word's first occurrence (exact equality of words)
        first: dict[str, int] = {}
        self.word_ids = np.fromiter(
            map(first.setdefault, words, itertools.count()), dtype=np.int64, count=self.n_words
        )
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=self.n_words)
        self.word_starts = np.zeros(self.n_words + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.word_starts[1:])
        self._joined: dict[str, _Joined] = {}

    def _join(self, sep: str) -> _Joined:
        joined = self._joined.get(sep)
        if joined is None:
            joined = self._joined[sep] = _Joined(self.words, sep, self.word_starts)
        return joined

    def padded_word_ids(self, pad: int) -> Any:
        return np.concatenate([self.word_ids, np.full(pad, -1, dtype=np.int64)])

    def _grouping(self, sep: str, n: int) -> _Grouping:
        grouping = self._groupings.get((sep, n))
        if grouping is None:
            family = self.blocks if (sep, n) in self.blocks else [(sep, n)]
            blocks = [(s, m) for s, m in family if self.n_words - m + 1 > 0]
            grouping = _Grouping(self, blocks)
            for block in blocks:
                self._groupings[block] = grouping
        return grouping

    def top_ngram_chars(self, n: int) -> int:
        """``find_top_duplicate(get_n_grams(words, n))``: characters of the most frequent ``" "``-joined
        n-gram times its count (0 when the document has fewer than n words)."""
        if self.n_words - n + 1 <= 0:
            return 0
        if self.n_words < SMALL_DOC_WORDS:
            return find_top_duplicate(get_n_grams(self.words, n))
        return self._grouping(" ", n).top_chars(n)

    def duplicate_ngram_chars(self, n: int) -> int:
        """``find_all_duplicate(words, n)``: characters of ``""``-joined n-grams already seen, scanning left
        to right and jumping n words after each one."""
        if self.n_words - n + 1 <= 0:
            return 0
        if self.n_words < SMALL_DOC_WORDS:
            return find_all_duplicate(self.words, n)
        return self._grouping("", n).duplicate_chars(n)


def _inside(position: int, starts: list[int], ends: list[int]) -> bool:
    """Whether ``position`` lies in one of the sorted, disjoint ranges ``[starts[i], ends[i])``."""
    i = bisect.bisect_right(starts, position) - 1
    return i >= 0 and position < ends[i]
