"""Whole-stage check: CPU seconds of a local stage (filter + the four MinHash steps), stock vs smolprep.

    python bench/stage.py                # a mixed en + vi web dataset made of the sample, 4 tasks
    python bench/stage.py --repeat 10    # the same, 10 times larger (ids made unique)
    python bench/stage.py --runs 3       # medians of 3 runs of each
    python bench/stage.py --every 8      # every 8th document only (the smoke test in tests/bench)

The stock run is ``bench/stock_stage.py``: the stage written with stock datatrove (its reader, Gopher
filters per document language, writer, MinHash steps and ``LocalPipelineExecutor``), as a datatrove user
would write it. The smolprep run is ``python launch.py --config ... --cluster local`` (everything it does:
progress, summary, report included). Same tasks, same workers (the number of CPUs, smolprep's default). CPU
time is the whole process tree's (``perf stat -e task-clock``, which follows the executors' worker
processes; without perf, only the children that are waited for are counted). Also reported: the share of
final documents the two runs have in common.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import build_corpus  # noqa: E402


def cpu_seconds(command: list[str], log: Path) -> tuple[float, str]:
    """CPU seconds of ``command`` and all its descendants."""
    perf = shutil.which("perf")
    if perf:
        stats = log.with_suffix(".perf")
        with open(log, "w") as out:
            subprocess.run(
                [perf, "stat", "-x,", "-e", "task-clock", "-o", str(stats), *command],
                check=True,
                stdout=out,
                stderr=out,
                cwd=ROOT,
            )
        for line in stats.read_text().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("task-clock"):
                return float(fields[0]) / 1000, "perf task-clock (whole process tree)"
        raise RuntimeError(f"no task-clock in {stats}")
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "w") as out:
        subprocess.run(command, check=True, stdout=out, stderr=out, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, "getrusage of waited-for children (perf not found: worker processes may be missed)"


def final_ids(folder: Path) -> set[str]:
    ids = set()
    for file in folder.glob("*.jsonl.gz"):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            ids.update(json.loads(line)["id"] for line in f if line.strip())
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="repeat the sample this many times")
    parser.add_argument("--tasks", type=int, default=4, help="tasks of the dataset (filter, signatures, ...)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each; the medians are printed")
    parser.add_argument("--every", type=int, default=1, help="keep every Nth document of the sample")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temporary folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smolprep-stage-"))
    workers = os.cpu_count() or 1
    try:
        corpus = build_corpus(workdir, ["mixed"], args.repeat, args.every)["mixed"]
        config = workdir / "stage.yaml"
        config.write_text(
            "name: bench-stage\ndatasets:\n"
            f"  - {{name: mixed, path: {corpus.folder}, kind: web, language: [en, vi], tasks: {args.tasks}}}\n"
        )
        print(
            f"mixed en + vi: {len(corpus.ids)} docs, {corpus.text_bytes / 1e6:.2f} MB, "
            f"{args.tasks} tasks, {workers} workers"
        )
        runs: dict[str, list[float]] = {"stock": [], "smolprep": []}
        ids: dict[str, set[str]] = {}
        how = ""
        for run in range(args.runs):
            for name in runs:
                output = workdir / f"{name}-{run}"
                if name == "stock":
                    command = [
                        sys.executable,
                        str(Path(__file__).with_name("stock_stage.py")),
                        "--input",
                        str(corpus.folder),
                        "--output",
                        str(output),
                        "--languages",
                        "en,vi",
                        "--tasks",
                        str(args.tasks),
                        "--workers",
                        str(workers),
                    ]
                    data = output / "data"
                else:
                    command = [
                        sys.executable,
                        "launch.py",
                        "--config",
                        str(config),
                        "--cluster",
                        "local",
                        "--output",
                        str(output),
                    ]
                    data = output / "bench-stage" / "data" / "mixed"
                cpu, how = cpu_seconds(command, workdir / f"{name}-{run}.log")
                runs[name].append(cpu)
                ids[name] = final_ids(data)
                print(f"{name:9} {cpu:8.1f} CPU s   final documents: {len(ids[name])}", flush=True)
        stock_cpu, ours_cpu = statistics.median(runs["stock"]), statistics.median(runs["smolprep"])
        common = len(ids["stock"] & ids["smolprep"]) / max(1, len(ids["stock"] | ids["smolprep"]))
        print(f"median CPU s: stock {stock_cpu:.1f}, smolprep {ours_cpu:.1f} ({how})")
        print(f"stock / smolprep CPU: {stock_cpu / ours_cpu:.2f}x")
        print(f"final documents in common: {common:.2%} of the union")
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "docs": len(corpus.ids),
                        "text_mb": corpus.text_bytes / 1e6,
                        "cpu_s": runs,
                        "cpu_how": how,
                        "ratio": stock_cpu / ours_cpu,
                        "final_documents": {name: len(found) for name, found in ids.items()},
                        "in_common": common,
                    },
                    indent=2,
                )
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
