"""datatrove's MinHash signature step with the same signatures, computed faster.

``FastMinhashDedupSignature`` subclasses datatrove's ``MinhashDedupSignature``: same constructor, same
``run`` (so the same ``bucket_XXX/<rank>.minhash.sig`` files, sorted and verified the same way), and the
buckets, cluster and filter steps stay datatrove's. It replaces the two per-document computations:

- ``get_shingles``: datatrove's ``simplify_text`` (diacritics removed per distinct character instead of per
  character, ``smolprep.text.simplify``), datatrove's words (``smolprep.text.words``: the same words as its
  spaCy/pyvi tokenizers, several times faster), the same ``" "``-joined n-grams and the same hash function;
- ``get_signature``: the same ``(shingle * a + b) mod (2**61 - 1)`` and minimum per hash function, on the
  distinct shingles only, in blocks that fit the CPU cache, with the modulo done by the Mersenne-prime
  identity (``x mod p = (x & p) + (x >> 61)``, minus p once if needed), which gives the same integers.

``tests/pipelines/test_minhash.py`` checks bit-identical signatures and signature files against datatrove's.

The four MinHash steps' pipelines (``*_pipeline``) follow datatrove's ``examples/minhash_deduplication.py``;
the step registry (``steps``) says which folders they read and write.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.utils.hashing import create_hash_func
from datatrove.utils.typeshelper import Languages
from datatrove.utils.word_tokenizers import load_word_tokenizer

from smolprep.config.stage import MinhashSettings
from smolprep.pipelines.intermediate import intermediate_reader
from smolprep.pipelines.writers import AtomicJsonlWriter
from smolprep.text.simplify import simplify_text
from smolprep.text.words import word_tokenizer as fast_word_tokenizer

_MERSENNE = np.uint64((1 << 61) - 1)
_SHIFT = np.uint64(61)
_BLOCK_ROWS = 256  # shingles per block: 256 x hashes uint64 stays in the CPU cache


class FastMinhashDedupSignature(MinhashDedupSignature):
    """``MinhashDedupSignature`` with the same signatures, several times faster (same arguments)."""

    name = "🎯 MinHash stage 1 (fast)"

    def __init__(
        self,
        output_folder: DataFolderLike,
        config: MinhashConfig | None = None,
        language: str = Languages.english,
        skip_existing_sigs: bool = False,
    ):
        # MinhashDedupSignature.__init__ minus building datatrove's word tokenizer (unused here; its
        # dependency check costs about 0.25 s of CPU per process): tests compare the attributes.
        PipelineStep.__init__(self)
        self.output_folder = get_datafolder(output_folder)
        self.config = config or MinhashConfig()
        self.num_hashes = self.config.num_buckets * self.config.hashes_per_bucket
        self._parameters = None
        self._hash_func = create_hash_func(self.config.hash_config)
        self.language = language
        self.skip_existing_sigs = skip_existing_sigs
        fast_word_tokenizer(language)  # fail now for a language datatrove has no tokenizer for

    @property
    def word_tokenizer(self) -> Any:
        """datatrove's tokenizer for the language (built on first access; this step does not use it)."""
        return load_word_tokenizer(self.language)

    def _hash_function(self) -> Any:
        config = self.config.hash_config
        if config.hash_fc == "xxhash" and config.precision == 64:
            import xxhash

            return xxhash.xxh64_intdigest  # what datatrove's xxhash64 calls
        return self._hash_func

    def get_shingles(self, text: str) -> np.ndarray:
        words = fast_word_tokenizer(self.language).word_tokenize(simplify_text(text, self.config.norm_config))
        n = self.config.n_grams
        count = len(words) - n + 1
        if count <= 0:
            return np.empty((0, 1), dtype=np.uint64)
        grams = map(" ".join, zip(*(words[i:] for i in range(n)), strict=False))
        return np.fromiter(map(self._hash_function(), grams), dtype=np.uint64, count=count).reshape((-1, 1))

    def get_signature(self, shingles: np.ndarray) -> list[list[int]]:
        a, b = self.parameters
        mask = self.config.hash_config.max if self.config.hash_config.precision == 32 else None
        distinct = np.unique(shingles.ravel()).reshape((-1, 1))  # the minimum ignores repeats
        lowest = np.full(a.shape[1], np.iinfo(np.uint64).max, dtype=np.uint64)
        rows = min(_BLOCK_ROWS, len(distinct))
        values = np.empty((rows, a.shape[1]), dtype=np.uint64)
        high = np.empty_like(values)
        wrap = np.empty(values.shape, dtype=bool)
        with np.errstate(over="ignore"):
            for start in range(0, len(distinct), rows):
                block = distinct[start : start + rows]
                x, h, w = values[: len(block)], high[: len(block)], wrap[: len(block)]
                np.multiply(block, a, out=x)  # wraps modulo 2**64, as datatrove's does
                x += b
                np.right_shift(x, _SHIFT, out=h)  # x mod (2**61 - 1), exactly
                x &= _MERSENNE
                x += h
                np.greater_equal(x, _MERSENNE, out=w)
                np.subtract(x, _MERSENNE, out=x, where=w)
                if mask is not None:
                    x &= np.uint64(mask)  # datatrove masks before taking the minimum
                np.minimum(lowest, x.min(axis=0), out=lowest)
        return [
            part.tolist()
            for part in np.split(lowest.astype(self.config.hash_config.np_dtype), self.config.num_buckets)
        ]


def minhash_config(settings: MinhashSettings) -> MinhashConfig:
    return MinhashConfig(
        n_grams=settings.n_grams,
        num_buckets=settings.num_buckets,
        hashes_per_bucket=settings.hashes_per_bucket,
    )


def signatures_pipeline(
    settings: MinhashSettings, documents: str, repair: str, signatures: str, language: str
) -> list[PipelineStep]:
    """minhash-signatures: the documents' signatures, words split as `language` (a FineWeb-2 code) splits them."""
    return [
        intermediate_reader(documents, repair),
        FastMinhashDedupSignature(signatures, config=minhash_config(settings), language=language),
    ]


def buckets_pipeline(settings: MinhashSettings, signatures: str, buckets: str) -> list[PipelineStep]:
    return [MinhashDedupBuckets(signatures, buckets, config=minhash_config(settings))]


def cluster_pipeline(settings: MinhashSettings, buckets: str, remove: str) -> list[PipelineStep]:
    return [MinhashDedupCluster(buckets, remove, config=minhash_config(settings))]


def filter_pipeline(documents: str, repair: str, remove: str, output: str) -> list[PipelineStep]:
    """minhash-filter: the same documents as the signatures step read, rank by rank, minus the duplicates."""
    return [intermediate_reader(documents, repair), MinhashDedupFilter(remove), AtomicJsonlWriter(output)]
