"""fastText language ID (lid.176), replayed with numpy: the same label and score, several times faster.

``LanguageIdFilter`` calls ``model.predict(line, k=1)`` of fastText's Python binding. Most of that call is
fastText's per-token subword work: for every token of every document it builds the character n-grams of
``<token>``, hashes each one (FNV-1a), looks the bucket up in the pruned-bucket map and collects the ids.
Documents repeat the same words, so we do that work once per *distinct* token and keep the ids, and per
document redo only the arithmetic, with the same floating-point operations in the same order.

Method, following fastText's sources (``dictionary.cc``, ``fasttext.cc``, ``model.cc``, ``loss.cc``,
``quantmatrix.cc``/``productquantizer.cc``, ``densematrix.cc``, ``vector.cc``), step by step:

1. Tokens, as ``Dictionary::readWord``/``getLine`` read ``line + "\n"``: the UTF-8 bytes split on the
   seven separators ``' ' \n \r \t \v \f \0`` (``bytes.split()`` splits on the first six; ``\0`` becomes a
   space first; ``str.split()`` would also split on U+00A0, U+0085, U+2028, ``\x1c``-``\x1f``...), then the
   end-of-sentence token ``</s>``. A token ``</s>`` in the text ends the line there: the words after it are
   ignored, as by fastText. Tokens starting with the label prefix (``__label__``) add nothing, known label
   or not. ``wordNgrams`` is 1, so there are no word n-grams.
2. The input ids of a token, as ``Dictionary::addSubwords``: its word id if it is in the dictionary, then
   (unless it is ``</s>``) the ids of the character n-grams of ``<token>`` (n in [minn, maxn] characters,
   by start position then by size), each hashed with fastText's FNV-1a over *signed* bytes, taken modulo
   ``bucket`` and mapped through the pruned-bucket table read from the model file (a bucket the
   quantization dropped adds nothing: ``pushHash``). Packed int32 ids are cached per token. A new token's
   n-gram ids are cached per ``maxn``-character window (with ``minn >= 2`` the n-grams from one start are
   that window's prefixes), or, when a document brings many new tokens (or a very long one), hashed for all
   of them at once with numpy.
3. The hidden vector, as ``QuantMatrix::averageRowsToVector``: the rows (decoded once from the product
   quantizer: ``0 + norm * centroid`` with norm 1 without qnorm) added one after another in float32 in line
   order, times ``float32(1.0 / number_of_ids)``. ``np.add.reduce(rows, axis=0)`` adds row after row (numpy
   sums pairwise only along the contiguous axis; checked at load, ``np.cumsum`` otherwise).
4. The hierarchical softmax, as ``HierarchicalSoftmaxLoss``: the tree rebuilt from the label counts like
   ``buildTree``; for every internal node ``dot = sum_j wo[node, j] * hidden[j]`` (float32 products added
   in order, as ``DenseMatrix::dotRow``: the wheel has no FMA), ``f = float32(1.0 / (1 + expf(-dot)))``
   (the ``1 +`` in float32, the division in double), and the score terms ``std_log(x) =
   float32(log(double(x) + 1e-5))`` of the float32 ``x = 1.0 - f`` (left child) and ``x = f`` (right child).
   A node's score is the float32 sum of the terms from the root down. fastText's k=1 search walks the tree
   depth first (left child first), prunes a node scoring below ``std_log(threshold = 0)`` or below the best
   leaf found so far, and a later leaf with an equal score replaces the earlier one. We take the last leaf
   (in walk order) with the highest score; every leaf found before it scores no more, so if no node on its
   path scores below it (nor below the threshold) the walk reaches it and ends with it. ``std_log`` adds
   1e-5, so a score can *grow* along a path and that check can fail: then we replay the walk node by node
   (not seen on the sample; tested on random terms).
5. The score is ``expf`` of the best leaf's score, as ``FastText::predictLine``.

What is exact: tokens, ids, rows, the hidden vector, the dot products, the tree, the search and every
float32/float64 operation are fastText's, so the results are bit-identical. The two libm functions are
handled so that they are too, with one residual risk. fastText calls glibc's ``expf`` (float) and ``log``
(double, rounded to float32 by fastText). We compute both in float64 with numpy and round to float32, and
every value whose float64 result lies near a float32 rounding tie (``expf``: within 0.004 ulp; ``log``:
within 2**-16 ulp) is recomputed with libm itself (``expf`` through ctypes, ``math.log``: the glibc the
fastText extension calls). Elsewhere the rounding is decided: for ``log`` because numpy's float64 ``log`` is
within a few double ulps of glibc's; for ``expf`` because glibc >= 2.28 documents a maximum error of 0.502
ulp (FMA and non-FMA variants), so away from ties it returns the correctly rounded value. The risk: a libm
whose ``expf`` errs by more than 0.504 ulp could make a score differ by 1 float32 ulp (about 6e-8), which
can change a label only in an exact tie. (Without the ``expf`` fix-up, one sample document of 1244 gets a
score 1 ulp off.) ``FastLanguageIdFilter`` decides, and tags ``language``/``language_score``, exactly like
``LanguageIdFilter``; the tests check it on every sample document, labels and scores compared with ``==``.

Anything this replay does not handle (not supervised, loss other than ``hs``, ``wordNgrams`` > 1, input not
quantized, quantized output, a file we do not parse as fastText does, or a self-check mismatch at load)
uses fastText's own ``predict``: ``LidPredictor.replaying`` says which. So do lines fastText rejects (with a
``"\n"``, or lone surrogates that are not UTF-8): fastText raises its own error.

One predictor per process and model path (``get_predictor``, ``warm``): a worker forked from a process that
called ``warm`` inherits it. Memory for lid.176: about 14 MB once loaded (a 4 MB bucket table, 3.2 MB of
decoded rows, fastText's own model), plus two caches of two generations each (``CACHED_TOKENS`` tokens and
``CACHED_WINDOWS`` windows per generation, about 140 bytes an entry). Measured RSS over the imports:
``LanguageIdFilter`` on the sample +6 MB; this filter +26 MB, and +45 MB with 105k tokens and 50k windows
cached (near the bounds). Smaller generations save memory, but a generation smaller than the tokens a
task keeps seeing makes documents miss the young one and pay the slow path.
Nothing of it is pickled: ``FastLanguageIdFilter`` pickles like ``LanguageIdFilter``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import struct
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smolprep.filters.language import LABEL_PREFIX, LanguageIdFilter
from smolprep.filters.lid_model import default_lid_model_path

logger = logging.getLogger(__name__)

CACHED_TOKENS = 65_536  # per generation (see _Cache)
CACHED_WINDOWS = 32_768  # per generation
BATCHED_NEW_TOKENS = 8  # a document with this many new tokens has their n-grams hashed with numpy
MAX_CACHED_TOKEN_BYTES = 256  # longer tokens are not cached
VECTORISED_TOKEN_CHARS = 1000  # the n-grams of longer tokens are hashed with numpy
_ROWS_PER_BLOCK = 65_536  # the hidden sum of a very long document is computed block by block

_MAGIC = 793712314
_MAX_VERSION = 12
_LOSS_HS = 1
_MODEL_SUPERVISED = 3
_EOS = b"</s>"
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_KSUB = 256  # product quantizer centroids per sub-quantizer (nbits = 8)
_MAX_PARSED_FILE_BYTES = 256 << 20  # quantized models are small; a bigger file is left to fastText

_PREDICTORS: dict[str | None, LidPredictor] = {}  # by model path as given, and as resolved


class UnsupportedModel(ValueError):
    """The model is valid for fastText but not for this replay (fastText's own predict is used)."""


# ---------------------------------------------------------------------------------------------------------
# the model file


@dataclass
class _ModelFile:
    """What the replay needs from a fastText ``.ftz``, read from the file itself (see ``_read_model``)."""

    dim: int
    word_ngrams: int
    loss: int
    model: int
    bucket: int
    minn: int
    maxn: int
    label_prefix: bytes
    entries: list[bytes]  # words, then labels (dictionary order)
    is_label: list[bool]
    counts: list[int]
    nwords: int
    nlabels: int
    pruneidx_size: int
    pruneidx: np.ndarray  # int32 [pruneidx_size, 2]: (bucket, pruned row index)
    input_rows: np.ndarray  # float32 [rows, dim]
    output: np.ndarray  # float32 [nlabels, dim]


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: Any, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out

    def cstring(self) -> bytes:
        end = self.data.index(b"\0", self.pos)
        out = self.data[self.pos : end]
        self.pos = end + 1
        return out


def _read_model(path: str, label_prefix: bytes) -> _ModelFile:
    """Parse a fastText model file (format version <= 12) laid out as ``FastText::saveModel`` writes it."""
    if Path(path).stat().st_size > _MAX_PARSED_FILE_BYTES:
        raise UnsupportedModel("model file too large to be a quantized model")
    r = _Reader(Path(path).read_bytes())
    magic, version = r.unpack("ii")
    if magic != _MAGIC or version > _MAX_VERSION:
        raise UnsupportedModel(
            f"not a fastText model file of a known version (magic {magic}, version {version})"
        )
    dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_update, _t = (
        r.unpack("12id")
    )
    if version == 11 and model == _MODEL_SUPERVISED:
        maxn = 0  # fastText's loadModel: old supervised models have no character n-grams
    size, nwords, nlabels, _ntokens, pruneidx_size = r.unpack("iiiqq")
    entries, counts, is_label = [], [], []
    for _ in range(size):
        entries.append(r.cstring())
        count, kind = r.unpack("qb")
        counts.append(count)
        is_label.append(kind == 1)
    pruneidx = r.array(np.int32, 2 * max(pruneidx_size, 0)).reshape(-1, 2)
    (quant_input,) = r.unpack("?")
    if not quant_input:
        raise UnsupportedModel("input matrix not quantized")
    qnorm, rows, cols, codesize = r.unpack("?qqi")
    codes = r.array(np.uint8, codesize)
    pq_dim, nsubq, dsub, lastdsub = r.unpack("iiii")
    centroids = r.array(np.float32, pq_dim * _KSUB)
    norms = np.ones(rows, dtype=np.float32)
    if qnorm:
        norm_codes = r.array(np.uint8, rows)
        npq_dim, npq_nsubq, _npq_dsub, npq_lastdsub = r.unpack("iiii")
        norm_centroids = r.array(np.float32, npq_dim * _KSUB)
        if npq_nsubq != 1:
            raise UnsupportedModel("unexpected norm quantizer")
        norms = norm_centroids[norm_codes.astype(np.int64) * npq_lastdsub]
    (qout,) = r.unpack("?")
    if qout:
        raise UnsupportedModel("output matrix quantized (qout)")
    out_rows, out_cols = r.unpack("qq")
    output = r.array(np.float32, out_rows * out_cols).reshape(out_rows, out_cols)
    if r.pos != len(r.data):
        raise UnsupportedModel("unexpected bytes after the output matrix")
    if cols != dim or pq_dim != dim or out_cols != dim or codesize != rows * nsubq:
        raise UnsupportedModel("inconsistent matrix shapes")
    # ProductQuantizer::addcode into a zero vector with alpha = norm (1 without qnorm): row = norm * centroid
    input_rows = np.empty((rows, dim), dtype=np.float32)
    code_matrix = codes.reshape(rows, nsubq).astype(np.int64)
    for m in range(nsubq):
        width = lastdsub if m == nsubq - 1 else dsub
        base = m * _KSUB * dsub
        index = base + code_matrix[:, m : m + 1] * width + np.arange(width)
        input_rows[:, m * dsub : m * dsub + width] = centroids[index]
    input_rows *= norms[:, None]
    return _ModelFile(
        dim=dim,
        word_ngrams=word_ngrams,
        loss=loss,
        model=model,
        bucket=bucket,
        minn=minn,
        maxn=maxn,
        label_prefix=label_prefix,
        entries=entries,
        is_label=is_label,
        counts=counts,
        nwords=nwords,
        nlabels=nlabels,
        pruneidx_size=pruneidx_size,
        pruneidx=pruneidx,
        input_rows=input_rows,
        output=np.array(output),
    )


# ---------------------------------------------------------------------------------------------------------
# libm, bit for bit


def _load_expf() -> Callable[[float], float]:
    """libm's ``expf`` (the glibc one the fastText extension links to: libm.so.6 is already loaded)."""
    try:
        libm = ctypes.CDLL("libm.so.6")
    except OSError:  # not glibc: whatever the system's C maths library is (find_library runs ldconfig)
        libm = ctypes.CDLL(ctypes.util.find_library("m"))
    expf = libm.expf
    expf.restype = ctypes.c_float
    expf.argtypes = [ctypes.c_float]
    return expf


_expf_scalar = _load_expf()

# Rounding a float64 to float32 drops the low 29 bits of its 52-bit mantissa (for results in float32's
# normal range); the value is a tie when they are 0x10000000. ``_risky`` flags the values whose dropped bits
# are within ``band`` (in units of 2**-29 float32 ulp) of that: ``(low - (tie - band))`` unsigned < ``2 * band``.
# expf: glibc's expf is within 0.502 ulp of the exact value, so outside 0.002 ulp of a tie it returns the
# correctly rounded float32, which is what rounding numpy's float64 exp gives; we ask libm within 0.004 ulp.
# log: fastText rounds glibc's double log to float32 itself, and numpy's float64 log is within a few double
# ulps (2**-29 float32 ulp each) of glibc's; we ask libm within 2**-16 ulp.
_LOW_BITS = (1 << 29) - 1
_TIE = 1 << 28
_EXP_BAND = int(0.004 * (1 << 29))
_LOG_BAND = 1 << 13


def _risky(wide: np.ndarray, band: int) -> np.ndarray | None:
    """Indices of the float64 values (float32-normal or zero) within ``band`` of a float32 rounding tie."""
    low = wide.view(np.int64) & _LOW_BITS
    low -= _TIE - band
    unsigned = low.view(np.uint64)
    if np.minimum.reduce(unsigned) >= 2 * band:
        return None
    return np.flatnonzero(unsigned < 2 * band)


def _libm_logf(x: float) -> float:
    """fastText's ``std_log`` of a float32 ``x``: ``float(log(double(x) + 1e-5))``, with libm's ``log``."""
    return float(np.float32(math.log(x + 1e-5)))


def _expf(x: np.ndarray) -> np.ndarray:
    """float32 ``expf`` of float32 ``x``, equal to libm's (see the module docstring)."""
    if np.minimum.reduce(x) <= -87.0 or np.maximum.reduce(x) >= 88.0:  # results not all normal float32
        return np.array([_expf_scalar(value) for value in x.tolist()], dtype=np.float32)
    wide = np.exp(x.astype(np.float64))
    out = wide.astype(np.float32)
    risky = _risky(wide, _EXP_BAND)
    if risky is not None:
        for i in risky.tolist():
            out[i] = _expf_scalar(float(x[i]))
    return out


def _std_log(x: np.ndarray) -> np.ndarray:
    """fastText's ``std_log`` of float32 ``x`` in [0, 1]: ``float32(log(double(x) + 1e-5))``."""
    wide = x.astype(np.float64)
    wide += 1e-5
    np.log(wide, out=wide)
    out = wide.astype(np.float32)
    risky = _risky(wide, _LOG_BAND)  # log(x + 1e-5) for x in [0, 1] is 0 or a normal float32
    if risky is not None:
        for i in risky.tolist():
            out[i] = _libm_logf(float(x[i]))
    return out


# ---------------------------------------------------------------------------------------------------------
# tokens -> input ids


_SIGNED = [byte | 0xFFFFFF00 if byte > 127 else byte for byte in range(256)]  # uint32(int8(byte))
_SIGNED_U32 = np.array(_SIGNED, dtype=np.uint32)
_NO_ROW = 0xFFFF


def _fnv1a(data: bytes) -> int:
    """fastText's ``Dictionary::hash``: 32-bit FNV-1a over the bytes as *signed* chars."""
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ _SIGNED[byte]) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def _char_ends(text: str) -> list[int]:
    """The UTF-8 byte length of the first 1, 2, ... characters of ``text``."""
    ends, total = [], 0
    for char in text:
        total += len(char.encode("utf-8"))
        ends.append(total)
    return ends


class _Cache:
    """A bounded dict in two generations: when ``young`` is full it becomes ``old`` (the previous ``old``
    is dropped), and an entry found in ``old`` moves back to ``young``. What is used keeps being found; at
    most ``2 * size`` entries."""

    def __init__(self, size: int):
        self.size = size
        self.young: dict[Any, Any] = {}
        self.old: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.young) + len(self.old)

    def get(self, key: Any) -> Any:
        value = self.young.get(key)
        if value is None:
            value = self.old.pop(key, None)
            if value is not None:
                self.put(key, value)
        return value

    def put(self, key: Any, value: Any) -> None:
        if len(self.young) >= self.size:
            self.old, self.young = self.young, {}
        self.young[key] = value

    def clear(self) -> None:
        self.young, self.old = {}, {}


class _Subwords:
    """Token -> packed int32 input ids, as ``Dictionary::addSubwords`` (cached).

    The n-grams of ``<token>`` are taken by start position, then by size (``computeSubwords``). With
    ``minn >= 2`` the ids contributed by one start position depend only on the ``maxn`` characters from
    there (the n-grams are the window's prefixes of ``minn`` to ``maxn`` characters that fit), so they are
    cached per window. With ``minn <= 1`` (1-grams of "<" and ">" are skipped only at the ends of the word)
    they are computed per n-gram. Many new tokens at once, and very long tokens, are hashed with numpy.
    """

    def __init__(self, model: _ModelFile):
        self.word_ids = {word: i for i, word in enumerate(model.entries)}
        self.is_label = model.is_label
        self.label_prefix = model.label_prefix
        self.minn, self.maxn, self.bucket, self.nwords = model.minn, model.maxn, model.bucket, model.nwords
        self.pruneidx_size = model.pruneidx_size
        # pushHash's map, bucket -> pruned row index, as a table (uint16 while it fits: 4 MB for lid.176's
        # 2M buckets), read by Python (an array) and by numpy (a view of the same memory)
        small = self.pruneidx_size < _NO_ROW
        self.no_row = _NO_ROW if small else -1
        self.bucket_rows = array("H" if small else "i")
        self.bucket_rows.frombytes(
            np.full(
                self.bucket if self.pruneidx_size > 0 else 0, self.no_row, self.bucket_rows.typecode
            ).tobytes()
        )
        self.bucket_rows_np = np.frombuffer(self.bucket_rows, dtype=self.bucket_rows.typecode)
        self.bucket_rows_np[model.pruneidx[:, 0]] = model.pruneidx[:, 1]
        self.tokens = _Cache(CACHED_TOKENS)
        self.windows = _Cache(CACHED_WINDOWS)
        self._slices: dict[int, list[slice]] = {}

    def ids(self, token: bytes) -> bytes:
        """Packed int32 ids of ``token`` (cached)."""
        found = self.tokens.get(token)
        if found is None:
            found = self.compute(token)
            if len(token) <= MAX_CACHED_TOKEN_BYTES:
                self.tokens.put(token, found)
        return found

    def lookup(self, tokens: list[bytes]) -> bytes:
        """The packed ids of ``tokens``, one after another (new tokens are computed and cached)."""
        try:
            return b"".join(map(self.tokens.young.__getitem__, tokens))
        except KeyError:
            pass
        get = self.tokens.get  # finds the tokens of the old generation, and moves them to the young one
        new = self.compute_many(
            [token for token in set(tokens).difference(self.tokens.young) if get(token) is None]
        )
        for token, value in new.items():
            if len(token) <= MAX_CACHED_TOKEN_BYTES:
                self.tokens.put(token, value)
        try:
            return b"".join(map(self.tokens.young.__getitem__, tokens))
        except KeyError:  # a token too long to cache, or the young generation filled up meanwhile
            return b"".join([new[token] if token in new else self.ids(token) for token in tokens])

    def compute_many(self, tokens: list[bytes]) -> dict[bytes, bytes]:
        """``compute`` of each token; many at once are hashed together with numpy."""
        if len(tokens) < BATCHED_NEW_TOKENS:
            return {token: self.compute(token) for token in tokens}
        out, words, heads = {}, [], []
        for token in tokens:
            head, word = self._head(token)
            if word is None:
                out[token] = head
            else:
                words.append(word)
                heads.append((token, head))
        for (token, head), ids in zip(heads, self._ngram_ids_batch(words), strict=True):
            out[token] = head + ids
        return out

    def _head(self, token: bytes) -> tuple[bytes, str | None]:
        """The packed word id of ``token`` (if any), and ``<token>`` if its n-grams are added, else None."""
        wid = self.word_ids.get(token, -1)
        label = self.is_label[wid] if wid >= 0 else token.startswith(self.label_prefix)
        if label:
            return b"", None  # getLine: labels are not input words (unknown labels are dropped)
        head = struct.pack("<i", wid) if wid >= 0 else b""
        if token == _EOS or self.maxn <= 0:
            return head, None
        return head, "<" + token.decode("utf-8") + ">"

    def compute(self, token: bytes, method: str = "auto") -> bytes:
        """The ids ``addSubwords`` adds for ``token``, packed int32 (``method``: "windows", "ngrams" or
        "numpy" forces a way to find the n-gram ids, for tests; "auto" picks one)."""
        head, word = self._head(token)
        if word is None:
            return head
        if method == "auto":
            if len(word) > VECTORISED_TOKEN_CHARS:
                method = "numpy"
            else:
                method = "windows" if self.minn >= 2 else "ngrams"
        if method == "numpy":
            return head + self._ngram_ids_batch([word])[0]
        if method == "windows":
            return head + self._window_ids(word)
        return head + self._ngram_ids(word)

    def _bucket_to_id(self, bucket: int) -> int:
        """``pushHash``: the input row of an n-gram bucket, or -1 when the bucket was pruned."""
        if self.pruneidx_size == 0:
            return -1
        if self.pruneidx_size > 0:
            row = self.bucket_rows[bucket]
            return -1 if row == self.no_row else self.nwords + row
        return self.nwords + bucket

    def _window_ids(self, word: str) -> bytes:
        """Packed ids of the n-grams of ``word`` (``minn >= 2``), one cached window per start position."""
        maxn = self.maxn
        slices = self._slices.get(len(word))
        if slices is None:
            slices = self._slices[len(word)] = [slice(i, i + maxn) for i in range(len(word) - self.minn + 1)]
        windows = [word[s] for s in slices]
        young = self.windows.young
        try:
            return b"".join(map(young.__getitem__, windows))
        except KeyError:
            pass
        parts = []
        for window in windows:
            value = self.windows.get(window)
            if value is None:
                value = self._window_value(window)
                self.windows.put(window, value)
            parts.append(value)
        return b"".join(parts)

    def _window_value(self, window: str) -> bytes:
        """Packed ids of the prefixes of ``window`` of ``minn`` to ``maxn`` characters (FNV-1a, extended)."""
        out = array("i")
        minn, bucket, table, no_row, nwords, signed = (
            self.minn, self.bucket, self.bucket_rows, self.no_row, self.nwords, _SIGNED
        )  # fmt: skip
        data = window.encode("utf-8")
        # the byte length of the first 1, 2, ... characters (ASCII: every byte is a character)
        ends = range(1, len(data) + 1) if len(data) == len(window) else _char_ends(window)
        h, done = _FNV_OFFSET, 0
        for size, end in enumerate(ends, start=1):
            for byte in data[done:end]:
                h = ((h ^ signed[byte]) * _FNV_PRIME) & 0xFFFFFFFF
            done = end
            if size >= minn:
                if self.pruneidx_size > 0:  # pushHash, inlined
                    row = table[h % bucket]
                    if row != no_row:
                        out.append(nwords + row)
                elif self.pruneidx_size < 0:
                    out.append(nwords + h % bucket)
        return out.tobytes()

    def _ngram_ids(self, word: str) -> bytes:
        """Packed ids of the n-grams of ``word``, one n-gram at a time (any ``minn``)."""
        out = array("i")
        length, minn = len(word), max(self.minn, 1)
        for i in range(length):
            for n in range(minn, min(self.maxn, length - i) + 1):
                if n == 1 and (i == 0 or i + 1 == length):
                    continue  # computeSubwords: no 1-gram "<" at the start or ">" at the end
                row = self._bucket_to_id(_fnv1a(word[i : i + n].encode("utf-8")) % self.bucket)
                if row >= 0:
                    out.append(row)
        return out.tobytes()

    def _ngram_ids_batch(self, words: list[str]) -> list[bytes]:
        """Packed ids of the n-grams of each word, all words hashed together with numpy.

        Every character of every word starts a running FNV-1a hash (uint32 arithmetic wraps like C's);
        after n characters it is the hash of the n-gram of n characters from there, kept if it fits in its
        word. Kept n-grams come out by start, then by size, as in computeSubwords."""
        if self.pruneidx_size == 0 or not words:
            return [b""] * len(words)
        minn, maxn = max(self.minn, 1), self.maxn
        joined = "".join(words)
        data = joined.encode("utf-8")
        nchars = len(joined)
        chars = np.fromiter(map(len, words), dtype=np.intp, count=len(words))
        word_of = np.repeat(np.arange(len(words)), chars)  # the word of each character
        room = np.cumsum(chars)[word_of] - np.arange(nchars)  # characters from each one to its word's end
        signed = _SIGNED_U32[np.frombuffer(data + bytes(4 * maxn), dtype=np.uint8)]  # padded with zeros
        hashes = []
        if len(data) == nchars:  # ASCII: character i is byte i
            h = signed[:nchars] ^ _FNV_OFFSET
            h *= _FNV_PRIME
            for n in range(1, maxn + 1):
                if n > 1:
                    h ^= signed[n - 1 : n - 1 + nchars]
                    h *= _FNV_PRIME
                if n >= minn:
                    hashes.append(h.copy())
        else:
            starts = np.flatnonzero((signed[: len(data)] & 0xC0) != 0x80)  # first byte of each character
            sizes = np.diff(starts, append=len(data))
            starts = np.concatenate((starts, np.full(maxn, len(data))))  # past the end: zero bytes
            sizes = np.concatenate((sizes, np.zeros(maxn, dtype=sizes.dtype)))
            h = np.full(nchars, _FNV_OFFSET, dtype=np.uint32)
            for n in range(1, maxn + 1):
                first, size = starts[n - 1 : n - 1 + nchars], sizes[n - 1 : n - 1 + nchars]
                h ^= signed[first]
                h *= _FNV_PRIME
                for j in range(1, int(size.max()) if len(size) else 0):
                    more = size > j
                    h = np.where(more, (h ^ signed[first + j]) * np.uint32(_FNV_PRIME), h)
                if n >= minn:
                    hashes.append(h.copy())
        keep = room[:, None] >= np.arange(minn, maxn + 1)  # the n-gram fits in its word
        if minn <= 1:  # no 1-gram "<" at the start of a word or ">" at its end
            keep[np.cumsum(chars) - chars, 0] = False
            keep[room == 1, 0] = False
        starts_kept = np.nonzero(keep)[0]
        buckets = np.stack(hashes, axis=1)[keep] % self.bucket
        if self.pruneidx_size < 0:
            ids, owner = buckets.astype(np.int64) + self.nwords, word_of[starts_kept]
        else:
            rows = self.bucket_rows_np[buckets]
            found = rows != self.no_row
            ids, owner = rows[found].astype(np.int64) + self.nwords, word_of[starts_kept[found]]
        packed = ids.astype(np.int32).tobytes()
        ends = (np.cumsum(np.bincount(owner, minlength=len(words))) * 4).tolist()
        return [packed[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


# ---------------------------------------------------------------------------------------------------------
# hierarchical softmax


def _build_tree(counts: list[int]) -> tuple[list[int], list[int]]:
    """``HierarchicalSoftmaxLoss::buildTree``: left and right child of every node (-1 for leaves)."""
    osz = len(counts)
    size = 2 * osz - 1
    count = [10**15] * size
    count[:osz] = counts
    left, right = [-1] * size, [-1] * size
    leaf, node = osz - 1, osz
    for i in range(osz, size):
        chosen = []
        for _ in range(2):
            if leaf >= 0 and count[leaf] < count[node]:
                chosen.append(leaf)
                leaf -= 1
            else:
                chosen.append(node)
                node += 1
        left[i], right[i] = chosen
        count[i] = count[chosen[0]] + count[chosen[1]]
    return left, right


def _sequential_sum_is_reduce() -> bool:
    """Whether ``np.add.reduce(rows, axis=0)`` adds the rows one after another (it does: numpy sums pairwise
    only along the contiguous axis); checked once against ``np.cumsum``, which is sequential by definition."""
    rng = np.random.default_rng(12345)
    rows = (rng.standard_normal((1000, 16)) * 10.0 ** rng.integers(-4, 5, size=(1000, 1))).astype(np.float32)
    return bool(np.array_equal(np.add.reduce(rows, axis=0), np.cumsum(rows, axis=0)[-1]))


class _Replay:
    """Supervised prediction with a hierarchical softmax, replayed (k=1, threshold 0)."""

    def __init__(self, model: _ModelFile, labels: list[str]):
        self.subwords = _Subwords(model)
        self.rows = model.input_rows
        self.labels = labels
        osz = model.nlabels
        self.osz = osz
        self.n_internal = osz - 1
        # dotRow(hidden, i) = sum over j, in order, of wo[i, j] * hidden[j] (float32); kept transposed and
        # negated: np.add.reduce over axis 0 adds the 16 products one after another for all nodes at once,
        # and -(a * b) summed = -(sum of a * b) exactly
        self.neg_wo_t = np.ascontiguousarray(-model.output[: osz - 1].T)
        self.threshold = _libm_logf(0.0)  # std_log(threshold = 0.0)
        self.zero = np.zeros(1, dtype=np.float32)
        self.reduce_rows = _sequential_sum_is_reduce()
        left, right = _build_tree(model.counts[model.nwords :])
        self.left, self.right = left, right
        root = 2 * osz - 2
        # terms: [std_log(1 - f) of every internal node, std_log(f) of every internal node, 0.0]
        self.zero_term = 2 * self.n_internal
        term_of = [self.zero_term] * (2 * osz - 1)
        for p in range(osz, 2 * osz - 1):
            term_of[left[p]] = p - osz
            term_of[right[p]] = self.n_internal + p - osz
        self.term_of = term_of
        # depth-first order, left child first: the order fastText visits nodes in
        preorder, paths, stack = [], {root: [root]}, [root]
        while stack:
            node = stack.pop()
            preorder.append(node)
            if left[node] != -1:
                for child in (right[node], left[node]):
                    paths[child] = [*paths[node], child]
                    stack.append(child)
        self.preorder = preorder
        self.leaf_order = [n for n in preorder if left[n] == -1]  # leaves in walk order
        depth = max(len(p) for p in paths.values()) - 1
        # column c: the leaf columns[c], leaves in *reverse* walk order (np.argmax finds the first maximum,
        # i.e. the last in walk order); its path's terms from the root down, padded with zero terms, so the
        # running sums down a column are the scores of its path's nodes and the total is the leaf's score
        self.columns = self.leaf_order[::-1]
        self.path_terms = np.full((depth, osz), self.zero_term, dtype=np.intp)
        for c, leaf in enumerate(self.columns):
            nodes = paths[leaf][1:]
            self.path_terms[: len(nodes), c] = [term_of[n] for n in nodes]
        self.eos_ids = self.subwords.ids(_EOS)

    # -- per document

    def line_ids(self, line: str) -> np.ndarray:
        """The input ids fastText's ``getLine`` produces for ``line + "\\n"`` (int32)."""
        raw = line.encode("utf-8")
        if b"\0" in raw:
            raw = raw.replace(b"\0", b" ")
        tokens = raw.split()
        if _EOS in raw and _EOS in tokens:
            del tokens[tokens.index(_EOS) + 1 :]  # a "</s>" token ends the line
        else:
            tokens.append(_EOS)
        joined = self.subwords.lookup(tokens)
        return np.frombuffer(joined, dtype=np.int32)

    def hidden(self, ids: np.ndarray) -> np.ndarray:
        """``averageRowsToVector``: the float32 sum of the rows, one after another, times float32(1 / n)."""
        if len(ids) <= _ROWS_PER_BLOCK:
            rows = np.take(self.rows, ids, axis=0)
            total = np.add.reduce(rows, axis=0) if self.reduce_rows else np.cumsum(rows, axis=0)[-1]
        else:
            total = np.zeros(self.rows.shape[1], dtype=np.float32)
            for start in range(0, len(ids), _ROWS_PER_BLOCK):
                block = np.vstack(
                    [total[None, :], np.take(self.rows, ids[start : start + _ROWS_PER_BLOCK], axis=0)]
                )
                total = np.add.reduce(block, axis=0) if self.reduce_rows else np.cumsum(block, axis=0)[-1]
        return total * np.float32(1.0 / len(ids))

    def terms(self, hidden: np.ndarray) -> np.ndarray:
        """The score increment of every non-root node: ``std_log(1 - f)`` (left children), ``std_log(f)``
        (right children) of each internal node, then a 0."""
        neg_dots = np.add.reduce(self.neg_wo_t * hidden[:, None], axis=0)  # -dotRow: products summed in order
        e = _expf(neg_dots)
        e += 1  # float32
        f = (1.0 / e.astype(np.float64)).astype(np.float32)  # f = 1. / (1 + expf(-dot)), a float
        one_minus_f = (1.0 - f.astype(np.float64)).astype(np.float32)  # std_log's float argument
        terms = _std_log(np.concatenate((one_minus_f, f)))
        return np.concatenate((terms, self.zero))

    def predict(self, line: str) -> tuple[str, float]:
        """fastText's ``predict(line, k=1)``: the best label and ``expf`` of its score."""
        leaf, best = self.best_leaf(self.terms(self.hidden(self.line_ids(line))))
        return self.labels[leaf], float(_expf_scalar(best))

    def best_leaf(self, terms: np.ndarray) -> tuple[int, float]:
        """The leaf (label index) fastText's k=1 walk ends with, and its float32 score."""
        steps = terms[self.path_terms]
        leaf_scores = np.add.reduce(steps, axis=0)  # each leaf's score: its path's terms added in order
        column = int(np.argmax(leaf_scores))  # the last best leaf in walk order
        best = float(leaf_scores[column])
        # The walk prunes a node scoring below the threshold or below the best leaf found before it. Every
        # leaf found before scores <= best, so if no node on the best leaf's path scores below best (nor
        # below the threshold), the walk reaches that leaf and ends with it. Otherwise (we have not seen it
        # on real text: it needs the +1e-5 of std_log to raise a score along the path), walk.
        if np.minimum.reduce(np.cumsum(steps[:, column])) >= max(best, self.threshold):
            return self.columns[column], best
        return self.walk(terms)

    def node_scores(self, terms: np.ndarray) -> list[float]:
        """The float32 score of every node, summed from the root down (as the walk computes it)."""
        scores = [0.0] * len(self.left)
        term_values = terms.tolist()
        stack = [self.preorder[0]]
        while stack:
            node = stack.pop()
            if self.left[node] != -1:
                for child in (self.left[node], self.right[node]):
                    scores[child] = float(
                        np.float32(scores[node]) + np.float32(term_values[self.term_of[child]])
                    )
                    stack.append(child)
        return scores

    def walk(self, terms: np.ndarray) -> tuple[int, float]:
        """fastText's depth-first search for k=1 (``HierarchicalSoftmaxLoss::dfs``), node by node."""
        scores = self.node_scores(terms)
        best_leaf, best = -1, -math.inf
        stack = [self.preorder[0]]
        while stack:
            node = stack.pop()
            score = scores[node]
            if score < self.threshold or (best_leaf >= 0 and score < best):
                continue
            if self.left[node] == -1:
                best_leaf, best = node, score  # a later leaf with an equal score replaces the earlier one
                continue
            stack += (self.right[node], self.left[node])
        return best_leaf, best

    def all_probabilities(self, line: str) -> dict[str, float]:
        """What fastText's ``predict(line, k=-1)`` returns, as {label: probability} (for checks and tests)."""
        scores = self.node_scores(self.terms(self.hidden(self.line_ids(line))))
        out, stack = {}, [self.preorder[0]]
        while stack:
            node = stack.pop()
            if scores[node] < self.threshold:
                continue
            if self.left[node] == -1:
                out[self.labels[node]] = float(_expf_scalar(scores[node]))
            else:
                stack += (self.right[node], self.left[node])
        return out


# ---------------------------------------------------------------------------------------------------------
# the per-process predictor

_SELF_CHECK_TEXTS = (
    "",
    "The river town grew slowly during the nineteenth century.",
    "Hà Nội là thủ đô của Việt Nam và là một trong những thành phố có lịch sử lâu đời nhất.",
    "def main():\treturn [x ** 2 for x in range(10)]  # __label__en",
    "Добро пожаловать 東京 مرحبا 12345 !!! zzqxjv",
)


class LidPredictor:
    """fastText's ``predict(line, k=1)`` for one model: replayed when supported, else fastText's own.

    Args:
        model_path: a fastText model file.
        replay: False forces fastText's own predict (for comparisons and tests).
    """

    def __init__(self, model_path: str, replay: bool = True):
        from fasttext.FastText import _FastText

        self.model_path = model_path
        self.model = _FastText(model_path)
        self.replay: _Replay | None = None
        self.fallback_reason = "disabled" if not replay else ""
        if replay:
            try:
                self.replay = self._load_replay()
            except UnsupportedModel as exc:
                self.fallback_reason = str(exc)
                logger.info("fast LID: %s: using fastText's predict (%s)", model_path, exc)
            except Exception as exc:  # a file we misread: correct and slow beats fast and wrong
                self.fallback_reason = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "fast LID: %s: using fastText's predict (%s)", model_path, self.fallback_reason
                )

    @property
    def replaying(self) -> bool:
        return self.replay is not None

    def clear_caches(self) -> None:
        """Forget the cached token and window ids (as a freshly loaded predictor)."""
        if self.replay is not None:
            self.replay.subwords.tokens.clear()
            self.replay.subwords.windows.clear()

    def _load_replay(self) -> _Replay:
        args = self.model.f.getArgs()
        if int(args.model.value) != _MODEL_SUPERVISED:
            raise UnsupportedModel("not a supervised model")
        if int(args.loss.value) != _LOSS_HS:
            raise UnsupportedModel(f"loss {args.loss.name} (only hs is replayed)")
        if args.wordNgrams != 1:
            raise UnsupportedModel(f"wordNgrams {args.wordNgrams} (only 1 is replayed)")
        if not self.model.is_quantized() or args.qout:
            raise UnsupportedModel("input not quantized, or output quantized")
        data = _read_model(self.model_path, args.label.encode("utf-8"))
        labels, counts = self.model.get_labels(include_freq=True)
        checks = {
            "args": (data.dim, data.bucket, data.minn, data.maxn, data.loss, data.model, data.word_ngrams)
            == (args.dim, args.bucket, args.minn, args.maxn, int(args.loss.value), int(args.model.value), 1),
            "labels": [
                e.decode("utf-8", "replace")
                for e, lab in zip(data.entries, data.is_label, strict=True)
                if lab
            ]
            == list(labels)
            and data.counts[data.nwords :] == [int(c) for c in counts],
            "words": data.nwords == len(self.model.get_words(on_unicode_error="replace")),
            "output": np.array_equal(data.output, np.array(self.model.f.getOutputMatrix())),
        }
        if data.nlabels < 2 or data.output.shape[0] != data.nlabels:
            raise UnsupportedModel("fewer than two labels")
        probe_rows = sorted(
            {0, data.nwords - 1, data.nwords, len(data.input_rows) - 1, len(data.input_rows) // 2}
        )
        checks["rows"] = all(
            np.array_equal(data.input_rows[i], self.model.get_input_vector(i)) for i in probe_rows
        )
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise UnsupportedModel(f"the model file does not read as fastText reads it ({', '.join(failed)})")
        replay = _Replay(data, list(labels))
        for text in _SELF_CHECK_TEXTS:
            for token in set(text.encode("utf-8").split()):
                mine = np.frombuffer(replay.subwords.compute(token), dtype=np.int32).tolist()
                if not token.startswith(data.label_prefix) and mine != list(
                    self.model.get_subwords(token.decode())[1]
                ):
                    raise UnsupportedModel(f"self-check: the ids of {token!r} differ from fastText's")
            labels_k, probs_k = self.model.predict(text, k=-1)
            if replay.all_probabilities(text) != dict(zip(labels_k, probs_k.tolist(), strict=True)):
                raise UnsupportedModel(
                    f"self-check: the label distribution of {text!r} differs from fastText's"
                )
            if replay.predict(text) != self._fasttext_predict(text):
                raise UnsupportedModel(f"self-check: the prediction for {text!r} differs from fastText's")
        return replay

    def _fasttext_predict(self, line: str) -> tuple[str, float]:
        labels, scores = self.model.predict(line, k=1)
        return labels[0], float(scores[0])

    def predict(self, line: str) -> tuple[str, float]:
        """Best label (with its ``__label__`` prefix) and score of ``line``, as ``model.predict(line, k=1)``."""
        if self.replay is None or "\n" in line:
            return self._fasttext_predict(line)  # fastText raises its own error for "\n"
        try:
            return self.replay.predict(line)
        except UnicodeEncodeError:
            return self._fasttext_predict(line)  # fastText's error for text it cannot take


def get_predictor(model_path: str | None = None) -> LidPredictor:
    """This process's predictor for ``model_path`` (default: the shipped lid.176), loaded on first use."""
    predictor = _PREDICTORS.get(model_path)  # per document: a dict lookup, not a path resolution
    if predictor is None:
        path = model_path or default_lid_model_path()
        predictor = _PREDICTORS.get(path) or LidPredictor(path)
        _PREDICTORS[path] = _PREDICTORS[model_path] = predictor
    return predictor


def warm(model_path: str | None = None) -> LidPredictor:
    """Load the predictor in this process (e.g. in a fork server, so forked workers inherit it)."""
    predictor = get_predictor(model_path)
    predictor.predict("warm up")
    return predictor


class FastLanguageIdFilter(LanguageIdFilter):
    """``LanguageIdFilter`` with lid.176 replayed (see the module): the same label and score, so the same
    decisions and metadata, several times faster. Same arguments; the model is loaded once per process
    (``get_predictor``), never pickled. Its name is ``LanguageIdFilter``'s: reports and stats speak of the
    rule, not of how it is computed."""

    def predict(self, text: str) -> tuple[str, float]:
        label, score = get_predictor(self.model_path).predict(text.replace("\n", " "))
        return label.removeprefix(LABEL_PREFIX), score
