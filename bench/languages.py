"""Per-language filter benchmark: stock datatrove vs smolprep on the multilingual sample, one row a language.

    python bench/languages.py                  # every language + the en/vi reference, 3 runs (about 10 min)
    python bench/languages.py --runs 1         # 1 run of every job (about 4 minutes)
    python bench/languages.py --languages fra_Latn,kor_Hang --copies 20 --no-reference
    python bench/languages.py --quick          # three languages, half their documents once, 1 run (< 30 s)

smolprep replays datatrove's word tokenizers only where it has a replay (spaCy's rule-based languages, pyvi
for Vietnamese); every other language splits its words with datatrove's own tokenizer in both pipelines.
This benchmark says what that means per language. Each language of ``sample/multilingual/<code>/`` (60
documents) becomes one web dataset in that language, its documents repeated ``--copies`` times (ids made
unique) so that the task's own work is not hidden by start-up; ``en`` and ``vi`` rows (as many documents,
spread over the sample's ``en-web`` and ``vi-web``) are the reference for the two languages the fast paths
were written for. Every job is one datatrove task in a fresh process (``bench/task.py``, the ``filter-stock``
and ``filter-smolprep`` jobs of ``bench/run.py``), one at a time, so its CPU includes start-up, imports and
tokenizer loading; the CPU of the task alone is reported as well.

Printed per language: the word tokenizer of stock (datatrove's, as its Gopher filters build it) and of
smolprep (what ``smolprep.text.words`` gives the production filters), documents, MB, median CPU seconds of
stock and smolprep (whole process and task alone), the ratio stock/smolprep (how many times cheaper
smolprep is), the keep/drop agreement (same decision per document) with the documents each kept, and
whether every filter dropped as many documents for each reason.
Repeated copies let per-process caches (spaCy's and smolprep's chunk caches, the per-word quality measures)
hit more often than on fresh text. No threshold is asserted; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import SAMPLE, Corpus, kept_ids, median, read_sample, run_task, write_config, write_corpus

MULTILINGUAL = SAMPLE / "multilingual"
# the reference rows: the sample's English and Vietnamese web text, as many documents as a language folder
REFERENCE = {"en": "en-web", "vi": "vi-web"}
JOBS = ("filter-stock", "filter-smolprep")
QUICK_LANGUAGES = ("fra_Latn", "cmn_Hani", "kor_Hang")


@dataclass
class Language:
    code: str  # the FineWeb-2 code or lid.176 label the dataset names
    source: str  # where its documents come from
    corpus: Corpus
    stock_words: str = ""
    smolprep_words: str = ""


def multilingual_codes() -> list[str]:
    """The language folders of the multilingual sample (FineWeb-2 codes), sorted."""
    return sorted(p.name for p in MULTILINGUAL.iterdir() if p.is_dir() and any(p.glob("*.jsonl.gz")))


def describe(tokenizer: Any) -> str:
    """A datatrove word tokenizer as its class and arguments: ``SpaCyTokenizer(zh, segmenter=jieba)``."""
    args = [tokenizer.language] if getattr(tokenizer, "language", None) else []

    def leaves(value: Any, key: str = "") -> list[str]:
        if isinstance(value, dict):
            return [leaf for k, v in value.items() for leaf in leaves(v, k)]
        return [f"{key.lstrip('@')}={value}"]

    args += leaves(getattr(tokenizer, "config", None) or {})
    return f"{type(tokenizer).__name__}({', '.join(args)})"


def word_tokenizers(language: str) -> tuple[str, str]:
    """The word tokenizer the stock filters and the production filters use for documents in ``language``,
    read from the filters themselves (the Gopher repetition filter's delegate for that language)."""
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from smolprep.filters.gopher import LanguageAwareGopherRepetitionFilter
    from smolprep.filters.stock import StockGopherRepetitionFilter
    from smolprep.text.words import word_tokenizer

    stock = StockGopherRepetitionFilter(default_language=language).delegate_for(language)
    ours = LanguageAwareGopherRepetitionFilter(default_language=language).delegate_for(language)
    assert stock is not None and ours is not None  # every web language has a repetition filter
    theirs = load_word_tokenizer(stock.language)
    mine = word_tokenizer(ours.language)
    if type(mine) is type(theirs) and mine.language == theirs.language:
        return describe(theirs), "datatrove's (same)"
    replayed = getattr(mine, "language", None) or ours.language
    return describe(theirs), f"{type(mine).__name__}({replayed}) replay"


def build_languages(
    workdir: Path, codes: list[str], reference: bool, copies: int, every: int
) -> list[Language]:
    """One dataset per language: the folder's documents (every ``every``-th), ``copies`` times."""
    sources: list[tuple[str, str, list[dict]]] = [
        (code, f"multilingual/{code}", read_sample(f"multilingual/{code}")[::every]) for code in codes
    ]
    size = max((len(records) for _, _, records in sources), default=60)
    if reference:  # spread over the whole dataset (its files are sorted by source)
        for label, name in REFERENCE.items():
            records = read_sample(name)
            sources.append((label, name, records[:: max(1, len(records) // size)][:size]))
    languages = []
    for code, source, records in sources:
        name = code.lower().replace("_", "-")  # dataset names are lowercase: fra_Latn -> fra-latn
        corpus = Corpus(name, [code], workdir / "corpus" / name)
        languages.append(Language(code, source, write_corpus(corpus, records, copies)))
    return languages


def drop_reasons(out: Path) -> list[dict[str, int]]:
    """Per filter of a finished filter job, in pipeline order: documents dropped for each reason (datatrove's
    ``dropped_<reason>`` stats) and documents forwarded."""
    stats = json.loads(next((out / "logs").glob("*/stats.json")).read_text())

    def count(value: Any) -> int:
        return value if isinstance(value, int) else int(value.get("total", 0))

    return [
        {
            key: count(value)
            for key, value in step["stats"].items()
            if key.startswith(("dropped_", "forwarded"))
        }
        for step in stats
        if "FILTER" in step["name"]
    ]


def measure(workdir: Path, languages: list[Language], runs: int) -> dict:
    """Every job of every language, ``runs`` times, one process at a time (stock and smolprep alternate)."""
    config = write_config(workdir, {lang.corpus.name: lang.corpus for lang in languages})
    total = runs * len(languages) * len(JOBS)
    print(f"{total} measurements ({runs} run(s)), one fresh process each ...", flush=True)
    measured: dict[tuple[str, str], list[dict]] = {}
    for run in range(runs):
        for lang in languages:
            for job in JOBS:
                out = workdir / f"run{run}" / lang.corpus.name / job
                measured.setdefault((lang.code, job), []).append(run_task(config, lang.corpus.name, job, out))
    report: dict = {"languages": {}}
    for lang in languages:
        first = workdir / "run0" / lang.corpus.name
        stock = kept_ids(first / "filter-stock", lang.corpus.name)
        ours = kept_ids(first / "filter-smolprep", lang.corpus.name)
        same = sum((doc in stock) == (doc in ours) for doc in lang.corpus.ids)
        row: dict[str, Any] = {
            "source": lang.source,
            "dataset": lang.corpus.name,
            "stock_tokenizer": lang.stock_words,
            "smolprep_tokenizer": lang.smolprep_words,
            "docs": len(lang.corpus.ids),
            "text_bytes": lang.corpus.text_bytes,
            "same_decision": same,
            "agreement": same / len(lang.corpus.ids),
            "kept_stock": len(stock),
            "kept_smolprep": len(ours),
            "drop_reasons": drop_reasons(first / "filter-stock"),
            "same_reasons": drop_reasons(first / "filter-stock") == drop_reasons(first / "filter-smolprep"),
        }
        for job in JOBS:
            rows = measured[(lang.code, job)]
            side = job.removeprefix("filter-")
            row[f"cpu_s_{side}"] = median([r["cpu_s"] for r in rows])
            row[f"task_cpu_s_{side}"] = median([r["pipeline_cpu_s"] for r in rows])
            row[f"max_rss_mb_{side}"] = max(r["max_rss_kb"] for r in rows) / 1024
            row[f"runs_{side}"] = rows
        row["ratio"] = row["cpu_s_stock"] / row["cpu_s_smolprep"]
        row["task_ratio"] = row["task_cpu_s_stock"] / row["task_cpu_s_smolprep"]
        report["languages"][lang.code] = row
    return report


# title, alignment, cell of a language's row
COLUMNS: list[tuple[str, str, Callable[[str, dict], str]]] = [
    ("language", "<", lambda code, r: code),
    ("datatrove tokenizer", "<", lambda code, r: r["stock_tokenizer"]),
    ("smolprep words", "<", lambda code, r: r["smolprep_tokenizer"]),
    ("docs", ">", lambda code, r: str(r["docs"])),
    ("MB", ">", lambda code, r: f"{r['text_bytes'] / 1e6:.2f}"),
    ("CPU stock", ">", lambda code, r: f"{r['cpu_s_stock']:.2f}"),
    ("CPU smolprep", ">", lambda code, r: f"{r['cpu_s_smolprep']:.2f}"),
    ("stock/smolprep", ">", lambda code, r: f"{r['ratio']:.2f}x"),
    ("task stock", ">", lambda code, r: f"{r['task_cpu_s_stock']:.2f}"),
    ("task smolprep", ">", lambda code, r: f"{r['task_cpu_s_smolprep']:.2f}"),
    ("task ratio", ">", lambda code, r: f"{r['task_ratio']:.2f}x"),
    ("agreement", ">", lambda code, r: f"{r['agreement']:.2%}"),
    ("kept", ">", lambda code, r: f"{r['kept_stock']}/{r['kept_smolprep']}"),
    ("reasons", ">", lambda code, r: "same" if r["same_reasons"] else "DIFFER"),
]


def print_report(report: dict) -> None:
    cells = [[cell(code, row) for _, _, cell in COLUMNS] for code, row in report["languages"].items()]
    widths = [max(len(title), *(len(line[i]) for line in cells)) for i, (title, _, _) in enumerate(COLUMNS)]
    header = " ".join(
        f"{title:{align}{width}}" for (title, align, _), width in zip(COLUMNS, widths, strict=True)
    )
    print()
    print(header)
    print("-" * len(header))
    for line in cells:
        print(" ".join(f"{text:{c[1]}{w}}" for text, c, w in zip(line, COLUMNS, widths, strict=True)))
    print(
        "(CPU: whole process, median seconds; task: the datatrove task alone, without start-up and imports; "
        "stock/smolprep: how many times cheaper smolprep is; kept: documents kept by stock/smolprep; "
        "reasons: every filter dropped as many documents for each reason)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every job; the median is reported")
    parser.add_argument("--copies", type=int, default=6, help="copies of each language's documents")
    parser.add_argument(
        "--languages", help="comma-separated FineWeb-2 codes of sample/multilingual (default: all)"
    )
    parser.add_argument("--no-reference", action="store_true", help="leave out the en and vi rows")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"every 2nd document, once, 1 run, no reference rows; --languages default {','.join(QUICK_LANGUAGES)}",
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep corpus and outputs here (default: a temporary folder)"
    )
    parser.add_argument("--json", type=Path, help="also write all measurements to this file")
    args = parser.parse_args(argv)
    available = multilingual_codes()
    default = [c for c in QUICK_LANGUAGES if c in available] if args.quick else available
    codes = [c.strip() for c in args.languages.split(",") if c.strip()] if args.languages else default
    unknown = sorted(set(codes) - set(available))
    if unknown:
        parser.error(f"unknown languages {unknown}; sample/multilingual has {', '.join(available)}")
    runs, copies = (1, 1) if args.quick else (args.runs, args.copies)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smolprep-bench-languages-"))
    try:
        languages = build_languages(
            workdir, codes, not (args.quick or args.no_reference), copies, 2 if args.quick else 1
        )
        for lang in languages:
            lang.stock_words, lang.smolprep_words = word_tokenizers(lang.code)
        print(
            "corpus: "
            + ", ".join(f"{lang.code} {len(lang.corpus.ids)} docs" for lang in languages)
            + f" ({copies} copies)"
        )
        report = measure(workdir, languages, runs)
        report.update(runs=runs, copies=copies)
        print_report(report)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
