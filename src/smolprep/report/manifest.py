"""The stage manifest: per dataset the accounting of every step, what is on disk, tokens, and the mixture
(weight × token budget against the tokens available: epochs), with warnings.

`build_manifest` reads the run directory (merged stats, completion markers, the sizes of the output files:
their documents, text bytes and sizes come from the writer's stats, see `smolprep.report.output`);
`mixture` and `dataset_warnings` are pure. See docs/report.md for the schema.

`efficiency` lists, per step, how much of the CPU, memory and time its Slurm tasks asked for they used, from
the exit records the tasks wrote (`smolprep.slurm.efficiency`): no Slurm command is run.

A dataset is complete when every task of every step has its completion marker and every final file its
writer wrote is on disk. Input files a reader skipped are named (`skipped_files`) with a warning.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smolprep import __version__
from smolprep.config.stage import DatasetSpec, StageConfig
from smolprep.plan import StagePlan
from smolprep.report.accounting import StepAccount, account_step
from smolprep.report.output import output_from_stats, written_files
from smolprep.report.tokens import MAX_TOKENIZED_BYTES, ByteEstimate, OutputScan, TokenCounter, scan_output
from smolprep.slurm.efficiency import stage_efficiency_from_exits
from smolprep.sources.record import source_state
from smolprep.state.layout import RunLayout
from smolprep.state.run import read_pinned
from smolprep.summary import (
    BlockCounters,
    SkippedFile,
    final_output,
    merge_blocks,
    missing_output_note,
    task_stats,
)

DEFAULT_MAX_EPOCHS = 4.0
SCHEMA_VERSION = 1
FILES_NAMED = 5  # skipped input files named in a warning (all of them: the dataset's `skipped_files`)
BUDGET_DEFAULT = "no token_budget in the config: the stage's total tokens"


@dataclass(frozen=True)
class DatasetAccount:
    name: str
    kind: str
    language: tuple[str, ...]
    weight: float
    steps: tuple[StepAccount, ...]
    output: OutputScan
    missing_outputs: dict[str, int] = field(default_factory=dict)  # missing final file -> its documents
    missing_note: str = ""  # which final files are missing and what to do
    stray_files: tuple[str, ...] = ()  # final files no finished task of the last step wrote

    @property
    def complete(self) -> bool:
        return all(s.complete for s in self.steps) and not self.missing_outputs

    @property
    def skipped_files(self) -> tuple[SkippedFile, ...]:
        return tuple(dict.fromkeys(f for s in self.steps for f in s.skipped_files))

    @property
    def docs_in(self) -> int:
        return self.steps[0].docs_in

    @property
    def skipped_lines(self) -> dict[str, int]:
        return self.steps[0].skipped_lines

    def removed_in(self, step: str) -> int:
        return sum(sum(s.removed.values()) for s in self.steps if s.step == step)

    @property
    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds for s in self.steps)


@dataclass(frozen=True)
class MixtureRow:
    tokens_target: int | None  # weight × budget
    epochs: float | None  # tokens_target / tokens_out; None when the dataset has no tokens


def mixture(weights: dict[str, float], tokens: dict[str, int], budget: int) -> dict[str, MixtureRow]:
    rows = {}
    for name, weight in weights.items():
        target = round(weight * budget)
        rows[name] = MixtureRow(target, target / tokens[name] if tokens[name] > 0 else None)
    return rows


def dataset_warnings(account: DatasetAccount, row: MixtureRow, max_epochs: float) -> list[str]:
    return [
        *_completion_warnings(account),
        *_skipped_file_warnings(account),
        *_mixture_warnings(account, row, max_epochs),
    ]


def _completion_warnings(account: DatasetAccount) -> list[str]:
    warnings: list[str] = []
    name = account.name
    unfinished = [f"{s.step} ({s.completed}/{s.tasks} tasks)" for s in account.steps if not s.complete]
    if unfinished:
        warnings.append(
            f"{name}: incomplete, the numbers cover finished tasks only: " + ", ".join(unfinished)
        )
    for step in account.steps:
        if step.unaccounted:
            warnings.append(
                f"{name}/{step.step}: {step.unaccounted} documents in minus out are not explained by removal "
                "counters (stats of a task missing or from another run?)"
            )
    last = account.steps[-1]
    mismatch = (
        f"{name}: {account.output.docs} documents in data/{name}/ but the last step wrote {last.docs_out}"
    )
    if account.missing_outputs:
        lost = sum(account.missing_outputs.values())
        warnings.append(f"{mismatch}: {account.missing_note} ({lost} documents lost)")
    elif not unfinished and last.docs_out != account.output.docs:
        warnings.append(mismatch)
    if account.stray_files:
        named = ", ".join(account.stray_files[:FILES_NAMED])
        more = (
            f" and {len(account.stray_files) - FILES_NAMED} more"
            if len(account.stray_files) > FILES_NAMED
            else ""
        )
        warnings.append(
            f"{name}: data/{name}/ holds {len(account.stray_files)} file(s) that no finished task of "
            f"{last.step} wrote ({named}{more}), not counted: remove them, or finish the step's tasks"
        )
    return warnings


def _skipped_file_warnings(account: DatasetAccount) -> list[str]:
    files = account.skipped_files
    if not files:
        return []
    named = "; ".join(f"{f.file} ({f.reason})" for f in files[:FILES_NAMED])
    if len(files) > FILES_NAMED:
        named += f"; and {len(files) - FILES_NAMED} more (skipped_files in manifest.json)"
    count, its, it = (
        (f"{len(files)} input files", "their", "them") if len(files) > 1 else ("1 input file", "its", "it")
    )
    return [
        f"{account.name}: {count} skipped as unreadable, none of {its} documents are in the output: {named}. "
        f"Replace {it} and run the dataset again to include {it}"
    ]


def _mixture_warnings(account: DatasetAccount, row: MixtureRow, max_epochs: float) -> list[str]:
    name = account.name
    if account.weight > 0 and account.output.tokens == 0:
        return [f"{name}: weight {account.weight:g} but no tokens left: the mixture cannot be met"]
    if row.epochs is not None and row.epochs > max_epochs:
        return [
            f"{name}: would be repeated {row.epochs:.1f} times (weight {account.weight:g} × budget asks "
            f"{row.tokens_target:,} tokens, {account.output.tokens:,} available; limit {max_epochs:g} epochs)"
        ]
    return []


def account_dataset(
    layout: RunLayout, stage: StageConfig, plan: StagePlan, name: str, counter: TokenCounter, max_bytes: int
) -> DatasetAccount:
    spec = stage.dataset(name)
    steps: list[StepAccount] = []
    upstream = 0
    last = plan.final_step(name).step  # the step writing data/<name>/
    final_tasks: dict[int, list[BlockCounters]] = {}
    for step in plan.for_dataset(name):
        done = len(layout.done_ranks(name, step.step, step.tasks))
        tasks = task_stats(layout, name, step.step)
        account = account_step(
            step.step, merge_blocks(tasks.values()), step.tasks, done, upstream, step.reads_documents
        )
        steps.append(account)
        upstream = account.docs_out
        if step.step == last:
            final_tasks = tasks
    final = final_output(layout, name, final_tasks)
    missing = {layout.final_file(name, rank).name: docs for rank, docs in final.missing.items()}
    note = missing_output_note(layout, name, last, final.missing) if final.missing else ""
    tokenized = tokenized_tokens(layout, name, plan)
    if tokenized is not None:  # the tokenize steps counted them: no text is tokenized again
        counter = ByteEstimate()
    written = written_files(final_tasks)
    stray: tuple[str, ...] = ()
    if written is not None:  # the writer's own record: no final file is read
        recorded = output_from_stats(layout, name, last, written, counter, max_bytes)
        scan, stray = recorded.scan, recorded.stray
    else:  # a run whose writers did not record their bytes yet
        scan = scan_output(layout.data(name), counter, max_bytes, layout.completions(name, last))
    if tokenized is not None:  # the tokenizer's own count of what it wrote (EOS included), not an estimate
        scan = dataclasses.replace(
            scan, tokens=tokenized, tokenized_bytes=scan.text_bytes, method="tokenized"
        )
    return DatasetAccount(
        name, spec.kind, spec.language, spec.weight or 0.0, tuple(steps), scan, missing, note, stray
    )


def build_manifest(
    layout: RunLayout,
    stage: StageConfig,
    plan: StagePlan,
    counter: TokenCounter,
    max_epochs: float = DEFAULT_MAX_EPOCHS,
    max_tokenized_bytes: int = MAX_TOKENIZED_BYTES,
) -> tuple[dict, list[DatasetAccount]]:
    accounts = [
        account_dataset(layout, stage, plan, n, counter, max_tokenized_bytes) for n in plan.datasets()
    ]
    tokens = {a.name: a.output.tokens for a in accounts}
    total = sum(tokens.values())
    budget = stage.token_budget if stage.token_budget is not None else total
    rows = mixture({a.name: a.weight for a in accounts}, tokens, budget)
    datasets = {}
    warnings: list[str] = []
    for account in accounts:
        found = dataset_warnings(account, rows[account.name], max_epochs)
        warnings += found
        datasets[account.name] = _dataset_json(account, rows[account.name], total, found)
        datasets[account.name]["source"] = _source(layout, stage.dataset(account.name))
    manifest = {
        "schema": SCHEMA_VERSION,
        "stage": stage.name,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "smolprep_version": __version__,
        "config": str(Path(stage.source_file).resolve()) if stage.source_file else "",
        "config_file_hash": stage.config_hash,
        "config_hash": _pinned_config_hash(layout),
        "stage_dir": str(layout.stage_dir),
        "complete": all(a.complete for a in accounts),
        "tokens": tokens_description(counter, accounts),
        "tokens_total": total,
        "token_budget": budget,
        "token_budget_source": "config" if stage.token_budget is not None else BUDGET_DEFAULT,
        "max_epochs": max_epochs,
        "cpu_seconds": round(sum(a.cpu_seconds for a in accounts), 3),
        "warnings": warnings,
        "datasets": datasets,
        "efficiency": [e.as_json() for e in stage_efficiency_from_exits(layout, plan)],
    }
    return manifest, accounts


EXACT_LABELS = ("exact", "exact (tokenized)")


def tokens_description(counter: TokenCounter, accounts: list[DatasetAccount]) -> dict:
    """How the stage's tokens were counted: the report counter's description, unless datasets were counted
    by their tokenize steps (all of them: that count; some: the label says which are estimated)."""
    described = counter.describe()
    tokenized = [a.name for a in accounts if a.output.method == "tokenized"]
    if not tokenized:
        return described
    exact = "exact: counted by the tokenize steps (tokenized/<dataset>/<dataset>.ds.metadata, EOS included)"
    others = [a.name for a in accounts if a.output.label not in EXACT_LABELS]
    if len(tokenized) == len(accounts):
        return {"method": "tokenized", "label": exact}
    if not others:
        return {**described, "label": f"{exact}, the others {described['label']}"}
    named = ", ".join(others[:FILES_NAMED]) + (" …" if len(others) > FILES_NAMED else "")
    return {**described, "method": "mixed", "label": f"{exact}; ESTIMATED for {named}: {described['label']}"}


def tokenized_tokens(layout: RunLayout, dataset: str, plan: StagePlan) -> int | None:
    """Tokens the tokenize-merge step wrote for `dataset` (its `<dataset>.ds.metadata`, the merger's total),
    once the step completed; None otherwise."""
    merge = [s for s in plan.for_dataset(dataset) if s.step == "tokenize-merge"]
    if not merge or not layout.step_done(dataset, "tokenize-merge", merge[0].tasks):
        return None
    metadata = layout.tokenized(dataset) / f"{dataset}.ds.metadata"
    try:
        return int(metadata.read_text(encoding="utf-8").splitlines()[1])
    except (OSError, IndexError, ValueError):
        return None


def _source(layout: RunLayout, spec: DatasetSpec) -> dict[str, Any]:
    """Where the dataset's input came from: a folder, or a Hub repo with the revision fetched (none when
    it streamed from the Hub)."""
    if spec.source is None:
        return {"path": spec.path}
    record = source_state(layout.root, dataclasses.replace(spec, path=None)).record
    return {
        "repo": spec.source,
        "subset": spec.subset,
        "split": spec.split,
        "revision": record.revision if record else None,
        "files": len(record.files) if record else None,
    }


def _pinned_config_hash(layout: RunLayout) -> str | None:
    """run.json's hash of the resolved, output-affecting config: the one a relaunch is compared with."""
    pinned = read_pinned(layout)
    return pinned.data.get("config_hash") if pinned is not None else None


def _dataset_json(account: DatasetAccount, row: MixtureRow, total: int, warnings: list[str]) -> dict:
    out = account.output
    return {
        "kind": account.kind,
        "language": list(account.language) if account.kind != "code" else [],
        "weight": account.weight,
        "complete": account.complete,
        "docs_in": account.docs_in,
        "skipped_lines": account.skipped_lines,
        "files_read": account.steps[0].files_read,
        "corrupt_files": account.steps[0].corrupt_files,
        "skipped_files": [f.as_json() for f in account.skipped_files],
        "docs_out": out.docs,
        "missing_files": sorted(account.missing_outputs),
        "bytes_out": out.text_bytes,
        "disk_bytes": out.disk_bytes,
        "files_out": out.files,
        "tokens_out": out.tokens,
        "tokens_counted": out.label,
        "tokens_share": out.tokens / total if total else 0.0,
        "tokens_target": row.tokens_target,
        "epochs": None if row.epochs is None else round(row.epochs, 4),
        "cpu_seconds": round(account.cpu_seconds, 3),
        "warnings": warnings,
        "steps": {s.step: s.as_json() for s in account.steps},
    }
