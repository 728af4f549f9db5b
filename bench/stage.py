"""Whole-stage check: CPU seconds of a local stage (filter + the four MinHash steps), stock vs smolprep.

    python bench/stage.py                # a mixed en + vi web dataset made of the sample, 4 tasks
    python bench/stage.py --repeat 10    # the same, 10 times larger (ids made unique)

Both runs go through ``python launch.py --config ... --cluster local``. The stock run (``--stock``, see
``stock_main``) first swaps in the stock steps: ``prose_filters`` returns ``smolprep.filters.stock``'s filters
(datatrove's Gopher classes per document language) and the signature step is datatrove's
``MinhashDedupSignature``; everything else (reader, writer, buckets, cluster, dedup filter, executor) is the
same code. CPU time is the whole process tree's (``perf stat -e task-clock``, which follows the executor's
worker processes; without perf, only the launcher and the children it waits for are counted). Also reported:
the share of final documents the two runs have in common.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import build_corpus  # noqa: E402


def stock_main(argv: list[str]) -> int:
    """launch.py's main with the stock filter and signature steps swapped in."""
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    import smolprep.pipelines.build as build
    import smolprep.pipelines.minhash as minhash
    from smolprep.cli import main
    from smolprep.filters.stock import stock_prose_filters

    def prose_filters(spec, resources):  # type: ignore[no-untyped-def]
        return stock_prose_filters(spec.kind, spec.language, resources.spam_phrases, resources.lid_model)

    build.prose_filters = prose_filters  # type: ignore[assignment]
    minhash.FastMinhashDedupSignature = MinhashDedupSignature  # type: ignore[misc, assignment]
    return main(argv)


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


def final_ids(output: Path) -> set[str]:
    ids = set()
    for file in (output / "bench-stage" / "data" / "mixed").glob("*.jsonl.gz"):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            ids.update(json.loads(line)["id"] for line in f if line.strip())
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="repeat the sample this many times")
    parser.add_argument("--tasks", type=int, default=4, help="tasks of the dataset (filter, signatures, ...)")
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: a temporary folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="smolprep-stage-"))
    try:
        corpus = build_corpus(workdir, ["mixed"], args.repeat, 1)["mixed"]
        config = workdir / "stage.yaml"
        config.write_text(
            "name: bench-stage\ndatasets:\n"
            f"  - {{name: mixed, path: {corpus.folder}, kind: web, language: [en, vi], tasks: {args.tasks}}}\n"
        )
        print(f"mixed en + vi: {len(corpus.ids)} docs, {corpus.text_bytes / 1e6:.2f} MB, {args.tasks} tasks")
        results = {}
        for name, entry in (
            ("stock", [str(Path(__file__).resolve()), "--stock"]),
            ("smolprep", ["launch.py"]),
        ):
            output = workdir / name
            command = [
                sys.executable,
                *entry,
                "--config",
                str(config),
                "--cluster",
                "local",
                "--output",
                str(output),
            ]
            cpu, how = cpu_seconds(command, workdir / f"{name}.log")
            results[name] = (cpu, final_ids(output))
            print(f"{name:9} {cpu:8.1f} CPU s   final documents: {len(results[name][1])}", flush=True)
        (stock_cpu, stock_ids), (ours_cpu, our_ids) = results["stock"], results["smolprep"]
        common = len(stock_ids & our_ids) / max(1, len(stock_ids | our_ids))
        print(f"stock / smolprep CPU: {stock_cpu / ours_cpu:.2f}x ({how})")
        print(f"final documents in common: {common:.2%} of the union")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stock":
        sys.exit(stock_main(sys.argv[2:]))
    sys.exit(main())
