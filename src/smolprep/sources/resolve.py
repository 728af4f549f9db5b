"""The stage as the launcher runs it: each fetched `source:` dataset is read from its local copy.

A fetched dataset's spec gets the source folder as its `path` (its `source` stays: `metadata.source`
names the repo), the files' format, and at most one task per fetched file, so that no task has nothing
to read. Every command that plans a run directory (launch, resubmit, status, logs, report, the wave
driver and the report jobs) resolves the stage the same way, so that they agree on the plan and the pin.
A source that is not fetched is left to stream from the Hub; whether that is allowed is the launcher's
call (`unfetched`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from smolprep.config.errors import ConfigIssue
from smolprep.config.stage import DatasetSpec, StageConfig, is_hub_tokenizer
from smolprep.sources.record import SourceState, source_state, tokenizer_file

FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


def resolve_stage(stage: StageConfig, root: Path) -> StageConfig:
    """`stage` with its fetched sources read from `<root>/sources/`, and its tokenizer too when it names a
    Hub repo that was fetched."""
    datasets = tuple(_resolved(spec, root) for spec in stage.datasets)
    tokenize = stage.tokenize
    if is_hub_tokenizer(tokenize.tokenizer) and tokenize.tokenizer is not None:
        local = tokenizer_file(root, tokenize.tokenizer)
        if local.is_file():
            tokenize = dataclasses.replace(tokenize, tokenizer=str(local))
    return dataclasses.replace(stage, datasets=datasets, tokenize=tokenize)


def _resolved(spec: DatasetSpec, root: Path) -> DatasetSpec:
    if spec.source is None or spec.path is not None:
        return spec
    state = source_state(root, spec)
    if state.record is None:
        return spec
    formats = {_format(f.path) for f in state.record.files}
    fmt = formats.pop() if len(formats) == 1 else None
    if fmt is None:  # mixed files: left to stream, and `unfetched` says why
        return spec
    tasks = min(spec.tasks, len(state.record.files))
    return dataclasses.replace(spec, path=str(state.folder), format=fmt, glob=None, tasks=tasks)


def _format(path: str) -> str | None:
    name = path.lower()
    for suffix in (".gz", ".zst", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    return next((fmt for suffix, fmt in FORMATS.items() if name.endswith(suffix)), None)


def unfetched(stage: StageConfig, root: Path) -> dict[str, SourceState]:
    """The resolved stage's `source:` datasets that still stream from the Hub, with why they are not local."""
    return {
        spec.name: source_state(root, spec)
        for spec in stage.datasets
        if spec.source is not None and spec.path is None
    }


def fetch_issues(stage: StageConfig, root: Path, command: str) -> list[ConfigIssue]:
    """A launch reads no unfetched source unless the compute nodes are online: one issue per dataset, and
    one for a tokenizer that names a Hub repo not fetched yet."""
    issues = []
    if is_hub_tokenizer(stage.tokenize.tokenizer):
        issues.append(
            ConfigIssue(
                Path(stage.source_file),
                "tokenize.tokenizer",
                stage.tokenize.tokenizer,
                f"a tokenizer fetched to shared storage (not in {tokenizer_file(root, str(stage.tokenize.tokenizer))})",
                f"run `{command}` on a machine that reaches the Hub, then launch again",
            )
        )
    for name, state in unfetched(stage, root).items():
        index = next(i for i, d in enumerate(stage.datasets) if d.name == name)
        spec = stage.datasets[index]
        why = state.problem or f"not fetched to {state.folder}"
        issues.append(
            ConfigIssue(
                Path(stage.source_file),
                f"datasets[{index}] ({name}).source",
                spec.source,
                f"a dataset fetched to shared storage ({why})",
                f"run `{command}` on a machine that reaches the Hub, then launch again; or set "
                "`compute_nodes_online: true` in the cluster profile if the compute nodes reach the Hub",
            )
        )
    return issues
