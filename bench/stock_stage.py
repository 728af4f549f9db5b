"""The stock baseline of ``bench/stage.py``: a whole local stage written with stock datatrove only.

    python bench/stock_stage.py --input DIR --output DIR --languages en,vi [--tasks 4] [--workers 2]

This is the script a datatrove user writes for one mixed English + Vietnamese web dataset: datatrove's
``JsonlReader`` -> language ID -> datatrove's ``GopherRepetitionFilter`` and ``GopherQualityFilter`` with
per-language settings -> the spam filter -> ``JsonlWriter``, then datatrove's four MinHash steps, each a
``LocalPipelineExecutor`` (datatrove's defaults: ``forkserver`` workers) depending on the one before.
Per-language settings need a filter per document language: ``smolprep.filters.stock`` wraps datatrove's own
Gopher classes that way (same parameters as smolprep, from ``smolprep.filters.params``), and holds the
language-ID filter (lid.176 from a local file; datatrove's ``LanguageFilter`` downloads it) and the spam
filter; they are the same in both runs. MinHash: datatrove's classes with smolprep's settings (5-grams,
20 bands x 8 hashes). Same tasks and workers as the smolprep run it is compared with.
"""

import argparse

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from smolprep.filters import load_phrase_lists
from smolprep.filters.stock import stock_prose_filters
from smolprep.paths import default_spam_lists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder of *.jsonl.gz with text and id")
    parser.add_argument("--output", required=True)
    parser.add_argument("--languages", default="en,vi")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    out = args.output.rstrip("/")
    languages = args.languages.split(",")
    config = MinhashConfig(n_grams=5, num_buckets=20, hashes_per_bucket=8)
    filters = stock_prose_filters("web", languages, load_phrase_lists(list(default_spam_lists())))

    def executor(pipeline, name, tasks, depends=None):  # type: ignore[no-untyped-def]
        workers = min(args.workers, tasks)
        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=workers, logging_dir=f"{out}/logs/{name}", depends=depends
        )

    filtering = executor(
        [JsonlReader(args.input, glob_pattern="*.jsonl.gz"), *filters, JsonlWriter(f"{out}/filtered")],
        "filter",
        args.tasks,
    )
    signatures = executor(
        [
            JsonlReader(f"{out}/filtered"),
            MinhashDedupSignature(f"{out}/minhash/signatures", config=config, language=languages[0]),
        ],
        "signatures",
        args.tasks,
        filtering,
    )
    buckets = executor(
        [MinhashDedupBuckets(f"{out}/minhash/signatures", f"{out}/minhash/buckets", config=config)],
        "buckets",
        config.num_buckets,
        signatures,
    )
    cluster = executor(
        [MinhashDedupCluster(f"{out}/minhash/buckets", f"{out}/minhash/remove", config=config)],
        "cluster",
        1,
        buckets,
    )
    dedup = executor(
        [
            JsonlReader(f"{out}/filtered"),
            MinhashDedupFilter(f"{out}/minhash/remove"),
            JsonlWriter(f"{out}/data"),
        ],
        "minhash-filter",
        args.tasks,
        cluster,
    )
    dedup.run()


if __name__ == "__main__":
    main()
