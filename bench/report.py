"""The stage report's cost on a stage of many tasks: reading the per-task stats (what the report does) vs
re-reading every final file (what it did before the writer recorded its bytes), in the same invocation.

    python bench/report.py                    # 2,000 tasks' stats, 256 KiB of text per final file
    python bench/report.py --tasks 27093      # stage 1's task count
    python bench/report.py --text-kib 1024    # more text per final file: the read path grows, stats do not
    python bench/report.py --quick            # smoke run (a few seconds; tests/bench runs it)

The synthetic stage is `--datasets` web datasets with the default filter + MinHash steps, tasks per dataset
chosen so the plan has about `--tasks` tasks. Every task of every step has a stats file in datatrove's
format (the block names and counters of a real run) and its completion marker; every task of the last
step wrote its final file with the real writer (`AtomicJsonlWriter`, whose counters go into its stats).
Both runs build the whole report (`write_report`: manifest.json and report.html) from that directory. The
files are in the page cache when they are read back, so the read path is measured at its fastest: on
shared storage it is slower still.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import yaml
from datatrove.data import Document

from smolprep.config.stage import parse_stage_config
from smolprep.pipelines.writers import AtomicJsonlWriter
from smolprep.plan import StagePlan, StepPlan, plan_stage
from smolprep.report import manifest as manifest_module
from smolprep.report import write_report
from smolprep.state.layout import RunLayout

ROOT = Path(__file__).resolve().parent.parent
STAGE1_TASKS = 27_093  # `python launch.py --stage 1 --dry-run`
READER = "📖 - READER: 📖 JSONL (counting corrupt lines)"
PREVIOUS = "📖 - READER: 📖 JSONL (previous step)"
WRITER = "💽 - WRITER: 🐿 Jsonl (atomic)"
FILTERS = ("🌍 Language ID (lid.176)", "👯 Gopher Repetition", "🥇 Gopher Quality", "📮 Spam (en/vi)")


def sample_texts() -> list[str]:
    texts = []
    for file in sorted((ROOT / "sample" / "en-web").glob("*.jsonl*")):
        opener = gzip.open if file.suffix == ".gz" else open
        with opener(file, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f if line.strip()]
    return texts


def _metric(total: float, n: int) -> dict:
    return {"total": total, "n": n, "mean": total / max(n, 1), "variance": 0.0, "std_dev": 0.0}


def _block(name: str, seconds: float, **stats: object) -> dict:
    return {"name": name, "time_stats": _metric(seconds, 1), "stats": stats}


def step_stats(step: StepPlan, docs: int, writer: dict | None) -> list[dict]:
    """One task's stats, shaped as a real run writes them for this step."""
    doc_len = _metric(docs * 2500.0, docs)
    if step.step == "filter":
        blocks = [_block(READER, 1.0, input_files=1, documents=_metric(docs, 1), doc_len=doc_len)]
        left = docs
        for name in FILTERS:
            dropped = left // 20
            blocks.append(
                _block(
                    f"🔻 - FILTER: {name}",
                    2.0,
                    total=left,
                    forwarded=left - dropped,
                    dropped=dropped,
                    dropped_reason=dropped,
                    doc_len=doc_len,
                )
            )
            left -= dropped
        return [*blocks, writer or _block(WRITER, 0.5, total=left, doc_len=doc_len)]
    if step.step == "minhash-signatures":
        return [
            _block(PREVIOUS, 0.5, documents=docs),
            _block("🫂 - DEDUP: 🎯 MinHash stage 1 (fast)", 3, total=docs),
        ]
    if step.step == "minhash-buckets":
        return [_block("🫂 - DEDUP: 🎯 MinHash stage 2", 1.0, total_matches=docs // 50)]
    if step.step == "minhash-cluster":
        return [_block("🫂 - DEDUP: 🎯 MinHash stage 3", 1.0, duplicates=docs // 50, to_remove=docs // 50)]
    dedup = _block("🫂 - DEDUP: 🎯 MinHash stage 4", 0.5, total=docs, forwarded=docs, dropped=0)
    return [
        _block(PREVIOUS, 0.5, documents=docs, doc_len=doc_len),
        dedup,
        writer or _block(WRITER, 0.5, total=docs),
    ]


def _one_dataset(workdir: Path, tasks: int) -> int:
    raw = {
        "name": "probe",
        "datasets": [{"name": "w", "path": "in", "kind": "web", "language": "en", "tasks": tasks}],
    }
    return plan_stage(parse_stage_config(raw, workdir / "probe.yaml")).total_tasks


def tasks_per_step(workdir: Path, tasks: int, datasets: int) -> int:
    """The `tasks:` of each dataset that gives the stage about `tasks` tasks (filter, signatures and
    MinHash filter have that many, buckets and cluster a few)."""
    best = 1
    for candidate in range(1, max(2, tasks // datasets) + 1):
        if _one_dataset(workdir, candidate) * datasets > tasks:
            break
        best = candidate
    return best


def build_stage(workdir: Path, tasks: int, datasets: int, text_kib: int) -> tuple:
    """The synthetic stage's config, layout and plan, with every task's stats, marker and final file."""
    (workdir / "in").mkdir(parents=True, exist_ok=True)
    (workdir / "in" / "a.jsonl").write_text('{"text": "x"}\n')
    per_step = tasks_per_step(workdir, tasks, datasets)
    lines = ["name: bench-report", "datasets:"]
    lines += [
        f"  - {{name: web-{i:02d}, path: in, kind: web, language: en, tasks: {per_step}}}"
        for i in range(datasets)
    ]
    config = workdir / "stage.yaml"
    config.write_text("\n".join(lines) + "\n")
    stage = parse_stage_config(yaml.safe_load(config.read_text()), config)
    layout = RunLayout(workdir / "out", stage.name)
    plan = plan_stage(stage)
    texts = sample_texts()
    per_file = text_kib * 1024
    for dataset in plan.datasets():
        final = plan.final_step(dataset)
        for step in plan.for_dataset(dataset):
            write_step(layout, step, step == final, texts, per_file)
    return stage, layout, plan


def write_step(layout: RunLayout, step: StepPlan, final: bool, texts: list[str], per_file: int) -> None:
    stats = layout.stats_dir(step.dataset, step.step)
    stats.mkdir(parents=True, exist_ok=True)
    markers = layout.completions(step.dataset, step.step)
    markers.mkdir(parents=True, exist_ok=True)
    for rank in range(step.tasks):
        writer = None
        docs = 400
        if final:
            chosen, size = [], 0
            i = rank * 7
            while size < per_file:
                text = texts[i % len(texts)]
                chosen.append(Document(text=text, id=f"{step.dataset}/{rank}/{len(chosen)}"))
                size += len(text.encode("utf-8"))
                i += 1
            out = AtomicJsonlWriter(str(layout.data(step.dataset)))
            list(out.run(iter(chosen), rank=rank))
            writer = out.stats.to_dict()
            docs = len(chosen)
        (stats / f"{rank:05d}.json").write_text(json.dumps(step_stats(step, docs, writer), indent=4))
        (markers / f"{rank:05d}").touch()


def timed(function) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def read_path(layout: RunLayout, stage, plan: StagePlan) -> None:
    """The report as it was: every final file read in full (the writer's byte counters ignored)."""
    with mock.patch.object(manifest_module, "written_files", lambda tasks: None):
        write_report(layout, stage, plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000, help="tasks of the synthetic stage (about)")
    parser.add_argument("--datasets", type=int, default=16, help="datasets of the synthetic stage")
    parser.add_argument("--text-kib", type=int, default=256, help="KiB of text in each final file")
    parser.add_argument("--runs", type=int, default=3, help="runs of each; the medians are printed")
    parser.add_argument("--quick", action="store_true", help="200 tasks, 16 KiB per file, 1 run")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    parser.add_argument("--workdir", type=Path, help="build the stage here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.datasets, args.text_kib, args.runs = 200, 4, 16, 1
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        started = time.perf_counter()
        stage, layout, plan = build_stage(workdir, args.tasks, args.datasets, args.text_kib)
        built = time.perf_counter() - started
        finals = sorted(layout.stage_dir.glob("data/*/*.jsonl.gz"))
        disk = sum(f.stat().st_size for f in finals)
        stats_runs = [timed(lambda: write_report(layout, stage, plan)) for _ in range(args.runs)]
        from_stats = json.loads(layout.manifest.read_text())
        read_runs = [timed(lambda: read_path(layout, stage, plan)) for _ in range(args.runs)]
        manifest = json.loads(layout.manifest.read_text())
        same = {k: v for k, v in from_stats.items() if k != "generated"} == {
            k: v for k, v in manifest.items() if k != "generated"
        }
        text = sum(d["bytes_out"] for d in manifest["datasets"].values())
        stats_wall = statistics.median(w for w, _ in stats_runs)
        read_wall = statistics.median(w for w, _ in read_runs)
        per_task = stats_wall / plan.total_tasks
        result = {
            "tasks": plan.total_tasks,
            "datasets": len(plan.datasets()),
            "final_files": len(finals),
            "final_text_bytes": text,
            "final_disk_bytes": disk,
            "build_seconds": round(built, 2),
            "stats_seconds": [round(w, 3) for w, _ in stats_runs],
            "stats_cpu_seconds": [round(c, 3) for _, c in stats_runs],
            "read_seconds": [round(w, 3) for w, _ in read_runs],
            "read_cpu_seconds": [round(c, 3) for _, c in read_runs],
            "ratio": round(read_wall / stats_wall, 2),
            "same_manifest": same,
            "stats_ms_per_task": round(1000 * per_task, 3),
            "stage1_projection_seconds": round(per_task * STAGE1_TASKS, 1),
            "read_mib_per_second": round(text / read_wall / 2**20, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        print(
            f"synthetic stage: {result['tasks']:,} tasks in {result['datasets']} datasets, "
            f"{len(finals):,} final files, {text / 2**20:,.1f} MiB of text ({disk / 2**20:,.1f} MiB on disk); "
            f"built in {built:.1f} s"
        )
        print(f"{'report':<34}{'wall s (median)':>16}{'CPU s':>10}")
        print(
            f"{'from the stats (now)':<34}{stats_wall:>16.3f}{statistics.median(c for _, c in stats_runs):>10.3f}"
        )
        print(
            f"{'every final file read (before)':<34}{read_wall:>16.3f}{statistics.median(c for _, c in read_runs):>10.3f}"
        )
        print(
            f"ratio {result['ratio']:.1f}x; from the stats {result['stats_ms_per_task']:.2f} ms per task "
            f"(stage 1's {STAGE1_TASKS:,} tasks: ~{result['stage1_projection_seconds']:.0f} s); reading "
            f"ran at {result['read_mib_per_second']:.0f} MiB of text per second (1 TiB: "
            f"~{2**40 / (text / read_wall) / 3600:.1f} h)"
        )
        print(f"same manifest.json from both: {'yes' if same else 'NO'}")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
