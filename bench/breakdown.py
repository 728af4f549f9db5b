"""Where the CPU time goes, stock datatrove vs smolprep, component by component (in one process).

    python bench/breakdown.py            # the sample's en-web and vi-web
    python bench/breakdown.py --runs 5   # best of 5 instead of 3

Each component is timed on its own (CPU time, best of the runs) over the documents that reach it in the filter
step (language ID: all; the others: the documents lid.176 keeps for the dataset's language). "cold" is a fresh
tokenizer (empty caches), as in a task's first documents; "warm" is the same documents again. The Gopher rows
exclude tokenization (the words are computed before the timer starts). Start-up and imports are not included:
bench/run.py measures whole tasks.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def texts_of(dataset: str) -> list[str]:
    out = []
    for file in sorted((ROOT / "sample" / dataset).glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            out += [json.loads(line)["text"] for line in f if line.strip()]
    return out


def best(fn: Callable[[], object], runs: int, setup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def profile(dataset: str, language: str, runs: int) -> list[tuple[str, float, float]]:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.filters.gopher_quality_filter import GopherQualityFilter
    from datatrove.pipeline.filters.gopher_repetition_filter import GopherRepetitionFilter
    from datatrove.utils.text import simplify_text as stock_simplify
    from datatrove.utils.text import split_into_words
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from smolprep.filters import (
        FastLanguageIdFilter,
        LanguageIdFilter,
        SpamFilter,
        load_phrase_lists,
        quality_params,
        repetition_params,
    )
    from smolprep.filters.fast_gopher import FastGopherQualityFilter, FastGopherRepetitionFilter
    from smolprep.filters.fast_lid import get_predictor
    from smolprep.paths import default_spam_lists
    from smolprep.pipelines.minhash import FastMinhashDedupSignature
    from smolprep.text import words as shared
    from smolprep.text.simplify import simplify_text

    texts = texts_of(dataset)
    lid, fast_lid = LanguageIdFilter([language]), FastLanguageIdFilter([language])
    lid.predict("warm up")
    fast_lid.predict("warm up")  # loads the model once, as in a task
    kept = [t for t in texts if lid.predict(t)[0] == language]
    stock_tok = load_word_tokenizer(language)
    stock_tok.word_tokenize("warm up")  # loads spaCy / pyvi: not part of the per-document cost

    def fresh() -> None:
        shared.word_tokenizer.cache_clear()
        tok = shared.word_tokenizer(language)
        getattr(tok, "rules", None)
        getattr(tok, "model", None)

    fresh()
    # language ID: fastText's predict (no caches: cold = warm) vs the replay, with empty caches and again
    stock_lid = best(lambda: [lid.predict(t) for t in texts], runs)
    cold_lid = best(lambda: [fast_lid.predict(t) for t in texts], runs, setup=get_predictor().clear_caches)
    warm_lid = best(lambda: [fast_lid.predict(t) for t in texts], runs)
    rows = [("language ID (all documents), cold", stock_lid, cold_lid)]
    rows.append(("language ID (all documents), warm", stock_lid, warm_lid))
    stock_words = best(lambda: [stock_tok.word_tokenize(t) for t in kept], runs)
    cold = best(lambda: [shared.word_tokenizer(language).word_tokenize(t) for t in kept], runs, setup=fresh)
    warm = best(lambda: [shared.word_tokenizer(language).word_tokenize(t) for t in kept], runs)
    rows += [("word tokenization, cold", stock_words, cold), ("word tokenization, warm", stock_words, warm)]

    words = [shared.word_tokenizer(language).word_tokenize(t) for t in kept]
    rep_kwargs, quality_kwargs = repetition_params(language).as_kwargs(), quality_params(language).as_kwargs()
    for label, stock_cls, fast_cls, kwargs in (
        ("Gopher repetition (without words)", GopherRepetitionFilter, FastGopherRepetitionFilter, rep_kwargs),
        ("Gopher quality (without words)", GopherQualityFilter, FastGopherQualityFilter, quality_kwargs),
    ):
        stock_filter, fast_filter = (
            stock_cls(**kwargs, language=language),
            fast_cls(**kwargs, language=language),
        )

        def run_stock(stock_filter=stock_filter) -> float:
            total = 0.0
            for text in kept:
                split_into_words(text, language)  # datatrove's cache: the filter finds the words
                start = time.process_time()
                stock_filter.filter(Document(text=text, id="x"))
                total += time.process_time() - start
            return total

        def run_fast(fast_filter=fast_filter) -> float:
            total = 0.0
            for text, doc_words in zip(kept, words, strict=True):
                shared._recent[:] = [(text, language, doc_words)]
                start = time.process_time()
                fast_filter.filter(Document(text=text, id="x"))
                total += time.process_time() - start
            return total

        rows.append((label, min(run_stock() for _ in range(runs)), min(run_fast() for _ in range(runs))))
    spam = SpamFilter(load_phrase_lists(default_spam_lists()))
    spam_time = best(lambda: [spam.filter(Document(text=t, id="x")) for t in kept], runs)
    rows.append(("spam phrases (same filter)", spam_time, spam_time))

    config = MinhashConfig(n_grams=5, num_buckets=20, hashes_per_bucket=8)
    stock_sig = MinhashDedupSignature("/tmp/unused", config=config, language=language)
    fast_sig = FastMinhashDedupSignature("/tmp/unused", config=config, language=language)
    simple = [stock_simplify(t) for t in texts]
    rows.append(
        (
            "MinHash: simplify_text",
            best(lambda: [stock_simplify(t) for t in texts], runs),
            best(lambda: [simplify_text(t) for t in texts], runs),
        )
    )
    rows.append(
        (
            "MinHash: words of simplified text",
            best(lambda: [stock_tok.word_tokenize(t) for t in simple], runs),
            best(lambda: [shared.word_tokenizer(language).word_tokenize(t) for t in simple], runs),
        )
    )
    shingles = [stock_sig.get_shingles(t) for t in texts]
    shingles = [s for s in shingles if s.size]
    rows.append(
        (
            "MinHash: signatures from shingles",
            best(lambda: [stock_sig.get_signature(s) for s in shingles], runs),
            best(lambda: [fast_sig.get_signature(s) for s in shingles], runs),
        )
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    for dataset, language in (("en-web", "en"), ("vi-web", "vi")):
        rows = profile(dataset, language, args.runs)
        print(f"\n{dataset} ({language})  CPU seconds, best of {args.runs}")
        print(f"{'component':45} {'stock':>8} {'smolprep':>9} {'ratio':>6}")
        for label, stock, fast in rows:
            if fast < 0:
                print(f"{label:45} {stock:8.3f} {stock:9.3f} {'same':>6}")
            else:
                print(f"{label:45} {stock:8.3f} {fast:9.3f} {stock / max(fast, 1e-9):5.1f}x")


if __name__ == "__main__":
    main()
