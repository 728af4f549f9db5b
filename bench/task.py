"""One measured job of the benchmark, in its own process (what one datatrove task costs, imports included).

    python bench/task.py --config STAGE.yaml --dataset NAME --job JOB --out DIR

JOB is one of:
  filter-stock      reader -> stock filters (datatrove's Gopher classes per language) -> writer
  filter-smolprep   smolprep's production filter step (pipelines.build.build_step(..., "filter", ...))
  filter-io         reader -> writer (the I/O floor)
  signatures-stock     reader -> datatrove's MinhashDedupSignature
  signatures-smolprep  reader -> smolprep's production signature step

The pipeline runs as one datatrove task (LocalPipelineExecutor, 1 task, in this process). The last line printed
is a JSON object: cpu_s (user + system CPU of the whole process), pipeline_cpu_s (CPU of the task alone,
without interpreter start-up and imports), wall_s, max_rss_kb.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

JOBS = ("filter-stock", "filter-smolprep", "filter-io", "signatures-stock", "signatures-smolprep")


def build_pipeline(config: str, dataset: str, job: str, out: Path) -> list:
    """The production pipeline of the step, with the filters or the signature step swapped for stock ones."""
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    from smolprep.config.stage import load_stage_config
    from smolprep.filters.stock import stock_prose_filters
    from smolprep.pipelines.build import FilterResources, build_step, minhash_config
    from smolprep.pipelines.guards import FilterGuard
    from smolprep.pipelines.readers import input_reader
    from smolprep.state.layout import RunLayout

    stage = load_stage_config(config)
    spec = stage.dataset(dataset)
    resources = FilterResources.load(stage)
    layout = RunLayout(out, stage.name)
    if job.startswith("filter-"):
        pipeline = build_step(stage, spec, "filter", layout, resources)  # reader, guarded filters, writer
        if job == "filter-io":
            return [pipeline[0], pipeline[-1]]
        if job == "filter-stock":
            stock = iter(
                stock_prose_filters(spec.kind, spec.language, resources.spam_phrases, resources.lid_model)
            )
            pipeline = [FilterGuard(next(stock)) if isinstance(s, FilterGuard) else s for s in pipeline]
        return pipeline
    signatures = build_step(stage, spec, "minhash-signatures", layout, resources)[-1]
    if job == "signatures-stock":
        signatures = MinhashDedupSignature(
            str(layout.minhash(dataset, "signatures")),
            config=minhash_config(stage),
            language=signatures.language,
        )
    return [input_reader(stage, spec), signatures]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--job", required=True, choices=JOBS)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    wall = time.perf_counter()

    from datatrove.executor import LocalPipelineExecutor

    pipeline = build_pipeline(args.config, args.dataset, args.job, args.out)
    executor = LocalPipelineExecutor(
        pipeline, tasks=1, workers=1, logging_dir=str(args.out / "logs" / args.job), skip_completed=False
    )
    start = time.process_time()
    executor.run()
    pipeline_cpu = time.process_time() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "pipeline_cpu_s": pipeline_cpu,
                "wall_s": time.perf_counter() - wall,
                "max_rss_kb": usage.ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
