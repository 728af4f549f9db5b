"""Filter and MinHash-signature benchmark: stock datatrove vs smolprep, same corpus, same decisions.

    python bench/run.py                 # the shipped sample, 3 runs of every job (about 8 minutes)
    python bench/run.py --repeat 4      # the sample repeated 4 times (ids made unique)
    python bench/run.py --quick         # a small slice, 1 run (the smoke test; under a minute)

Datasets: ``en-web`` and ``vi-web`` (the sample's web datasets) and ``mixed`` (both interleaved, language
``[en, vi]``). Every job runs as one datatrove task in a fresh process (``bench/task.py``), so its CPU time
includes what a real task pays: interpreter start-up, imports, model loading. Jobs:

- filter: ``stock`` (our LanguageIdFilter, datatrove's Gopher repetition and quality filters built per
  document language with smolprep's parameters, our SpamFilter), ``smolprep`` (the production filter step),
  ``io`` (read + write only: the floor);
- signatures: datatrove's ``MinhashDedupSignature`` vs smolprep's production signature step.

Reported per dataset and job: median CPU seconds over the runs, MB/s and docs/s per core (text bytes and
documents over CPU seconds), CPU of the task alone (without start-up and imports), peak RSS; the ratios
smolprep/stock and smolprep/io; keep/drop agreement between stock and smolprep (same decision per document);
and for MinHash whether the signature files and the duplicate clusters (``.remove`` files of datatrove's
buckets + cluster steps run on each) are identical. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASK = Path(__file__).with_name("task.py")
SAMPLE = ROOT / "sample"
DATASETS = {"en-web": ["en"], "vi-web": ["vi"], "mixed": ["en", "vi"]}
FILTER_JOBS = ("filter-stock", "filter-smolprep", "filter-io")
SIGNATURE_JOBS = ("signatures-stock", "signatures-smolprep")


@dataclass
class Corpus:
    name: str
    languages: list[str]
    folder: Path
    ids: list[str] = field(default_factory=list)
    text_bytes: int = 0


def read_sample(name: str) -> list[dict]:
    records = []
    for file in sorted((SAMPLE / name).glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def interleave(a: list[dict], b: list[dict]) -> list[dict]:
    out = []
    for i in range(max(len(a), len(b))):
        out += a[i : i + 1] + b[i : i + 1]
    return out


def build_corpus(workdir: Path, names: Iterable[str], repeat: int, every: int) -> dict[str, Corpus]:
    """The sample's web datasets (every ``every``-th document), repeated ``repeat`` times, as JSONL.gz."""
    en, vi = read_sample("en-web")[::every], read_sample("vi-web")[::every]
    sources = {"en-web": en, "vi-web": vi, "mixed": interleave(en, vi)}
    return {
        name: write_corpus(Corpus(name, DATASETS[name], workdir / "corpus" / name), sources[name], repeat)
        for name in names
    }


def write_corpus(corpus: Corpus, sources: list[dict], repeat: int) -> Corpus:
    """``sources`` repeated ``repeat`` times (ids made unique) as JSONL.gz shards in ``corpus.folder``."""
    corpus.folder.mkdir(parents=True, exist_ok=True)
    records = []
    for copy in range(repeat):
        for record in sources:
            record = dict(record)
            record["id"] = f"{record['id']}#copy{copy}" if repeat > 1 else record["id"]
            records.append(record)
    for shard in range(0, len(records), 400):
        with gzip.open(corpus.folder / f"part-{shard // 400:04d}.jsonl.gz", "wt", encoding="utf-8") as f:
            for record in records[shard : shard + 400]:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    corpus.ids = [r["id"] for r in records]
    corpus.text_bytes = sum(len(r["text"].encode("utf-8")) for r in records)
    return corpus


def write_config(workdir: Path, corpora: dict[str, Corpus]) -> Path:
    lines = ["name: bench", "datasets:"]
    for corpus in corpora.values():
        languages = ", ".join(corpus.languages)
        lines.append(
            f"  - {{name: {corpus.name}, path: {corpus.folder}, kind: web, language: [{languages}], tasks: 1}}"
        )
    path = workdir / "bench.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_task(config: Path, dataset: str, job: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "task.log", "w") as log:
        done = subprocess.run(
            [
                sys.executable,
                str(TASK),
                "--config",
                str(config),
                "--dataset",
                dataset,
                "--job",
                job,
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=ROOT,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{job} on {dataset} failed (exit {done.returncode}); see {out / 'task.log'}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def kept_ids(out: Path, dataset: str) -> set[str]:
    ids = set()
    for file in (out / "bench" / "filtered" / dataset).glob("*.jsonl.gz"):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            ids.update(json.loads(line)["id"] for line in f if line.strip())
    return ids


def cluster(config: Path, out: Path, dataset: str) -> tuple[list[bytes], list[bytes]]:
    """datatrove's buckets + cluster steps on the signatures in ``out``; the signature and .remove files."""
    code = f"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster
from smolprep.config.stage import load_stage_config
from smolprep.pipelines.build import minhash_config
from smolprep.state.layout import RunLayout
stage = load_stage_config({str(config)!r})
layout = RunLayout(__import__("pathlib").Path({str(out)!r}), stage.name)
cfg = minhash_config(stage)
sig, buckets, remove = (str(layout.minhash({dataset!r}, p)) for p in ("signatures", "buckets", "remove"))
LocalPipelineExecutor([MinhashDedupBuckets(sig, buckets, config=cfg)], tasks=cfg.num_buckets, workers=1,
                      logging_dir={str(out / "logs" / "buckets")!r}).run()
LocalPipelineExecutor([MinhashDedupCluster(buckets, remove, config=cfg)], tasks=1, workers=1,
                      logging_dir={str(out / "logs" / "cluster")!r}).run()
"""
    with open(out / "cluster.log", "w") as log:
        subprocess.run([sys.executable, "-c", code], check=True, stdout=log, stderr=log, cwd=ROOT)
    base = out / "bench" / "minhash" / dataset

    def files(part: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted((base / part).rglob("*")) if p.is_file()]

    return files("signatures"), files("remove")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of every job; the median is reported")
    parser.add_argument("--repeat", type=int, default=1, help="repeat the sample this many times")
    parser.add_argument(
        "--datasets", default="en-web,vi-web,mixed", help="comma-separated: en-web,vi-web,mixed"
    )
    parser.add_argument("--quick", action="store_true", help="every 8th document, mixed only, 1 run")
    parser.add_argument(
        "--jobs", type=int, default=1, help="measurements run at once (default 1: no contention)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep corpus and outputs here (default: a temporary folder)"
    )
    parser.add_argument("--json", type=Path, help="also write all measurements to this file")
    args = parser.parse_args(argv)
    names = ["mixed"] if args.quick else [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {', '.join(DATASETS)}")
    runs = 1 if args.quick else args.runs
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smolprep-bench-"))
    try:
        return _bench(workdir, names, runs, args.repeat, 8 if args.quick else 1, args.jobs, args.json)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _bench(
    workdir: Path, names: list[str], runs: int, repeat: int, every: int, jobs: int, json_out: Path | None
) -> int:
    corpora = build_corpus(workdir, names, repeat, every)
    config = write_config(workdir, corpora)
    plan = [
        (run, name, job, workdir / f"run{run}" / name / job)
        for run in range(runs)
        for name in names
        for job in (*FILTER_JOBS, *SIGNATURE_JOBS)
    ]
    print(
        f"corpus: {', '.join(f'{c.name} {len(c.ids)} docs {c.text_bytes / 1e6:.2f} MB' for c in corpora.values())}"
    )
    print(f"{len(plan)} measurements ({runs} run(s)), one fresh process each ...", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(lambda item: run_task(config, item[1], item[2], item[3]), plan))
    measured: dict[tuple[str, str], list[dict]] = {}
    for (_, name, job, _), result in zip(plan, results, strict=True):
        measured.setdefault((name, job), []).append(result)

    report: dict = {"corpus": {}, "jobs": {}, "agreement": {}, "minhash": {}}
    for name, corpus in corpora.items():
        report["corpus"][name] = {"docs": len(corpus.ids), "text_bytes": corpus.text_bytes}
        for job in (*FILTER_JOBS, *SIGNATURE_JOBS):
            rows = measured[(name, job)]
            cpu = median([r["cpu_s"] for r in rows])
            report["jobs"][f"{name}/{job}"] = {
                "cpu_s": cpu,
                "pipeline_cpu_s": median([r["pipeline_cpu_s"] for r in rows]),
                "max_rss_mb": max(r["max_rss_kb"] for r in rows) / 1024,
                "mb_per_s": corpus.text_bytes / 1e6 / cpu,
                "docs_per_s": len(corpus.ids) / cpu,
                "runs": rows,
            }
        first = workdir / "run0" / name
        stock, ours = kept_ids(first / "filter-stock", name), kept_ids(first / "filter-smolprep", name)
        same = sum((doc in stock) == (doc in ours) for doc in corpus.ids)
        report["agreement"][name] = {
            "docs": len(corpus.ids),
            "same_decision": same,
            "fraction": same / len(corpus.ids),
            "kept_stock": len(stock),
            "kept_smolprep": len(ours),
        }
        sig_a, remove_a = cluster(config, first / "signatures-stock", name)
        sig_b, remove_b = cluster(config, first / "signatures-smolprep", name)
        report["minhash"][name] = {
            "signature_files_identical": sig_a == sig_b,
            "remove_files_identical": remove_a == remove_b,
            "remove_bytes": sum(map(len, remove_a)),
        }
    print_report(report, names)
    if json_out:
        json_out.write_text(json.dumps(report, indent=1))
    return 0


def print_report(report: dict, names: list[str]) -> None:
    jobs = report["jobs"]
    print()
    header = f"{'dataset':8} {'job':20} {'CPU s':>7} {'task s':>7} {'MB/s':>6} {'docs/s':>7} {'RSS MB':>7}"
    print(header)
    print("-" * len(header))
    for name in names:
        for job in (*FILTER_JOBS, *SIGNATURE_JOBS):
            j = jobs[f"{name}/{job}"]
            print(
                f"{name:8} {job:20} {j['cpu_s']:7.2f} {j['pipeline_cpu_s']:7.2f} {j['mb_per_s']:6.2f} "
                f"{j['docs_per_s']:7.1f} {j['max_rss_mb']:7.0f}"
            )
    print("(CPU s: whole process, median; task s: the datatrove task alone, without start-up and imports)")
    print()

    def ratio(name: str, a: str, b: str, key: str = "cpu_s") -> float:
        return jobs[f"{name}/{a}"][key] / jobs[f"{name}/{b}"][key]

    for label, subset in [("", names), ("sample (en-web + vi-web)", [n for n in names if n != "mixed"])]:
        if label and len(subset) < 2:
            continue
        rows = subset if not label else [label]
        for name in rows:
            parts = subset if label else [name]

            def total(job: str, key: str = "cpu_s", parts: list[str] = parts) -> float:
                return sum(jobs[f"{p}/{job}"][key] for p in parts)

            b_a = total("filter-smolprep") / total("filter-stock")
            b_c = total("filter-smolprep") / total("filter-io")
            b_a_task = total("filter-smolprep", "pipeline_cpu_s") / total("filter-stock", "pipeline_cpu_s")
            sig = total("signatures-stock") / total("signatures-smolprep")
            sig_task = total("signatures-stock", "pipeline_cpu_s") / total(
                "signatures-smolprep", "pipeline_cpu_s"
            )
            rss = max(
                jobs[f"{p}/filter-smolprep"]["max_rss_mb"] / jobs[f"{p}/filter-stock"]["max_rss_mb"]
                for p in parts
            )
            print(
                f"{name}: filter smolprep/stock = {b_a:.3f} ({1 / b_a:.1f}x; task alone {1 / b_a_task:.1f}x), "
                f"smolprep/io = {b_c:.2f}; signatures {sig:.1f}x (task alone {sig_task:.1f}x); "
                f"peak RSS smolprep/stock {rss:.2f}"
            )
    print()
    for name in names:
        a = report["agreement"][name]
        m = report["minhash"][name]
        print(
            f"{name}: keep/drop agreement {a['same_decision']}/{a['docs']} = {a['fraction']:.2%} "
            f"(kept: stock {a['kept_stock']}, smolprep {a['kept_smolprep']}); "
            f"signature files identical: {m['signature_files_identical']}; "
            f"duplicate clusters (.remove files) identical: {m['remove_files_identical']}"
        )


if __name__ == "__main__":
    sys.exit(main())
