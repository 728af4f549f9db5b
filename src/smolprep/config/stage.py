"""Stage configs: a SmolLM3-style mixture of datasets with weights, loaded from YAML and validated.

Every problem is reported at once, each naming file, key, value, what was expected and the fix, before
anything is written or submitted. A config with only `name` and `datasets` (each with `name` and
`path` or `source`) is valid: everything else has a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.schema import (
    BadValue,
    MappingReader,
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_str,
    option,
    optional,
)
from smolprep.filters.lid_model import LID176_LANGUAGES

KINDS = ("web", "code", "math")
FORMATS = ("jsonl", "parquet", "hf")
WEIGHT_TOLERANCE = 0.01
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_DEFAULT_GLOBS = {"jsonl": "**/*.jsonl*", "parquet": "**/*.parquet", "hf": None}


def as_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise BadValue(
            "a lowercase name of letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit)",
            "it is used in job names and folder names; e.g. fineweb-edu",
        )
    return value


def as_languages(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise BadValue("a language code or a list of them, e.g. en or [en, vi]")
    unknown = [x for x in items if x not in LID176_LANGUAGES]
    if unknown:
        raise BadValue(
            "ISO 639-1 codes known to the fastText lid.176 model (en, vi, fr, zh, ...)",
            f"unknown: {', '.join(unknown)}",
        )
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the mixture."""

    name: str = option("dataset name: job names, folders and reports use it", convert=as_name)
    source: str | None = option(
        "Hugging Face dataset repo id (e.g. HuggingFaceFW/fineweb-edu); or use `path`",
        None,
        convert=optional(as_str),
    )
    subset: str | None = option(
        "Hugging Face config/subset name (with `source`)", None, convert=optional(as_str)
    )
    split: str = option("dataset split to read", "train", convert=as_str)
    text_key: str = option("field that holds the document text", "text", convert=as_str)
    id_key: str = option("field that holds the document id (generated when absent)", "id", convert=as_str)
    path: str | None = option(
        "local folder with the input files (relative to the config file or the working directory)",
        None,
        convert=optional(as_str),
    )
    format: str | None = option(
        "format of the files under `path`: jsonl (default), parquet, or hf (a saved datasets folder)",
        None,
        convert=optional(as_choice(*FORMATS)),
    )
    glob: str | None = option(
        "which files under `path` to read (default **/*.jsonl* or **/*.parquet)",
        None,
        convert=optional(as_str),
    )
    kind: str = option(
        "web (language ID + Gopher + spam), math (formula-friendly quality), or code (no prose filters)",
        "web",
        convert=as_choice(*KINDS),
    )
    language: tuple[str, ...] = option(
        "language code(s) to keep, e.g. en or [en, vi]; other languages are removed",
        ("en",),
        convert=as_languages,
    )
    weight: float | None = option(
        "mixture weight; all weights sum to 1 (default: equal shares)",
        None,
        convert=optional(as_float(0.0, 1.0)),
    )
    tasks: int = option(
        "tasks of the filter step (and of MinHash signatures and filter)", 2, convert=as_int(1)
    )
    sample_rate: float = option(
        "fraction of input documents to keep at random", 1.0, convert=as_float(0.0, 1.0, low_open=True)
    )
    max_docs: int | None = option(
        "read at most this many documents per task", None, convert=optional(as_int(1))
    )
    dedup: bool = option("run MinHash near-duplicate removal", True, convert=as_bool)

    @property
    def origin(self) -> str:
        """What `metadata.source` of every output record says: the repo id or the path as configured."""
        return self.source or str(self.path)

    @property
    def input_glob(self) -> str | None:
        return self.glob if self.glob is not None else _DEFAULT_GLOBS[self.format or "jsonl"]


@dataclass(frozen=True)
class MinhashSettings:
    """MinHash near-duplicate detection (datatrove's MinhashConfig)."""

    n_grams: int = option("words per shingle", 5, convert=as_int(1))
    num_buckets: int = option("LSH bands", 20, convert=as_int(1))
    hashes_per_bucket: int = option("hashes per band", 8, convert=as_int(1))
    bucket_tasks_per_bucket: int = option(
        "tasks per band in the minhash-buckets step (its tasks = num_buckets x this)", 1, convert=as_int(1)
    )


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    """A stage: its name (the run directory's name) and its datasets."""

    name: str = option("stage name; also the run directory under the output root", convert=as_name)
    description: str = option("free text", "", convert=as_str)
    token_budget: int | None = option(
        "tokens the stage trains on (for the report)", None, convert=optional(as_int(1))
    )
    tokenizer: str | None = option(
        "local tokenizer.json for token counts (for the report)", None, convert=optional(as_str)
    )
    seed: int = option(
        "seed of every random choice (sample_rate): the same config gives the same documents",
        0,
        convert=as_int(0),
    )
    spam_lists: tuple[str, ...] | None = option(
        "spam phrase lists (default: configs/spam/*.txt)", None, convert=optional(lambda v: _as_paths(v))
    )
    minhash: MinhashSettings = option("MinHash settings", MinhashSettings(), convert=lambda v: v)  # noqa: RUF009
    datasets: tuple[DatasetSpec, ...] = option("the datasets of the mixture", convert=lambda v: v)
    source_file: str = ""
    config_hash: str = ""

    def dataset(self, name: str) -> DatasetSpec:
        for spec in self.datasets:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def select(self, names: list[str]) -> StageConfig:
        """The same stage restricted to some datasets (for --datasets)."""
        unknown = [n for n in names if n not in {d.name for d in self.datasets}]
        if unknown:
            raise ConfigError(
                [
                    ConfigIssue(
                        Path(self.source_file),
                        "--datasets",
                        ",".join(unknown),
                        "names of datasets in this config: " + ", ".join(d.name for d in self.datasets),
                        "check the spelling",
                    )
                ]
            )
        return dataclasses.replace(self, datasets=tuple(d for d in self.datasets if d.name in names))


def _as_paths(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and x for x in items):
        raise BadValue("a path or a list of paths")
    return tuple(items)


def load_stage_config(path: str | Path) -> StageConfig:
    """Read and validate a stage config; raises ConfigError listing every problem."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError([ConfigIssue(file, "(file)", str(file), "an existing YAML file", "check the path")])
    raw_bytes = file.read_bytes()
    try:
        raw = yaml.safe_load(raw_bytes)
    except yaml.YAMLError as err:
        raise ConfigError(
            [ConfigIssue(file, "(syntax)", str(err).splitlines()[0], "valid YAML", str(err))]
        ) from None
    return parse_stage_config(raw, file, hashlib.sha256(raw_bytes).hexdigest())


def parse_stage_config(raw: Any, file: Path, config_hash: str = "") -> StageConfig:
    reader = MappingReader(file)
    top = reader.fields(StageConfig, raw, "")
    if top is None and not isinstance(raw, Mapping):
        raise ConfigError(reader.issues)
    raw = raw or {}
    minhash = MinhashSettings()
    if "minhash" in raw:
        minhash_fields = reader.fields(MinhashSettings, raw["minhash"], "minhash")
        if minhash_fields is not None:
            minhash = MinhashSettings(**minhash_fields)
    datasets = _parse_datasets(reader, raw.get("datasets"), file)
    if top is not None:
        _check_report_options(reader, top, file)
    if reader.issues or top is None:
        raise ConfigError(reader.issues)
    top.update(minhash=minhash, datasets=datasets, source_file=str(file), config_hash=config_hash)
    return StageConfig(**top)


def _check_report_options(reader: MappingReader, top: dict[str, Any], file: Path) -> None:
    """`tokenizer` (for the report's token counts) must be a local file; a relative path is relative to the
    config file. It is replaced by its absolute path, so that a job started elsewhere finds it."""
    tokenizer = top.get("tokenizer")
    if tokenizer is None:
        return
    path = Path(tokenizer).expanduser()
    path = path if path.is_absolute() else file.parent / path
    if not path.is_file():
        reader.issue(
            "tokenizer",
            tokenizer,
            "a local tokenizer.json file (relative paths are relative to the config file)",
            f"no file {path.resolve()}; put the tokenizer.json there or remove the key (nothing is downloaded)",
        )
        return
    top["tokenizer"] = str(path.resolve())


def _parse_datasets(reader: MappingReader, raw: Any, file: Path) -> tuple[DatasetSpec, ...]:
    if raw is None:
        return ()  # the missing key is reported by the top-level reader
    if not isinstance(raw, list) or not raw:
        reader.issue(
            "datasets", raw, "a non-empty list of datasets", "see configs/sample.yaml for an example"
        )
        return ()
    specs: list[DatasetSpec] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw):
        key = f"datasets[{index}]"
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            key = f"datasets[{index}] ({entry['name']})"
        values = reader.fields(DatasetSpec, entry, key)
        if values is None:
            continue
        spec = _check_dataset(reader, DatasetSpec(**values), key, file)
        if spec is None:
            continue
        if spec.name in seen:
            reader.issue(
                f"{key}.name",
                spec.name,
                "a name used by one dataset only",
                f"datasets[{seen[spec.name]}] has the same name; rename one",
            )
            continue
        seen[spec.name] = index
        specs.append(spec)
    if reader.issues:
        return ()
    return _resolve_weights(reader, specs)


def _check_dataset(reader: MappingReader, spec: DatasetSpec, key: str, file: Path) -> DatasetSpec | None:
    before = len(reader.issues)
    if (spec.source is None) == (spec.path is None):
        reader.issue(
            key,
            {"source": spec.source, "path": spec.path},
            "exactly one of `source` (a Hugging Face repo id) or `path` (a local folder)",
            "set one of them",
        )
        return None
    if spec.source is not None:
        if spec.format is not None or spec.glob is not None:
            reader.issue(
                f"{key}.format", spec.format or spec.glob, "no format/glob with `source`", "remove it"
            )
        return spec if len(reader.issues) == before else None
    if spec.subset is not None:
        reader.issue(f"{key}.subset", spec.subset, "no subset with a local `path`", "remove it")
    folder = _resolve_local(spec.path or "", file)
    if folder is None:
        reader.issue(
            f"{key}.path",
            spec.path,
            "an existing folder",
            f"looked in {(file.parent / (spec.path or '')).resolve()} and {(Path.cwd() / (spec.path or '')).resolve()}",
        )
        return None
    spec = dataclasses.replace(spec, path=str(folder), format=spec.format or "jsonl")
    pattern = spec.input_glob
    if pattern is not None and folder.is_dir() and not any(p.is_file() for p in folder.glob(pattern)):
        reader.issue(
            f"{key}.path",
            str(folder),
            f"a folder with input files matching {pattern!r}",
            "put the files there or set `glob:`",
        )
    return spec if len(reader.issues) == before else None


def _resolve_local(path: str, file: Path) -> Path | None:
    """A relative path is looked up next to the config file first, then in the working directory."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate if candidate.exists() else None
    for base in (file.parent, Path.cwd()):
        if (base / candidate).exists():
            return (base / candidate).resolve()
    return None


def _resolve_weights(reader: MappingReader, specs: list[DatasetSpec]) -> tuple[DatasetSpec, ...]:
    given = [s for s in specs if s.weight is not None]
    if not given:
        share = 1.0 / len(specs)
        return tuple(dataclasses.replace(s, weight=share) for s in specs)
    if len(given) != len(specs):
        missing = [s.name for s in specs if s.weight is None]
        reader.issue(
            "datasets[].weight",
            missing,
            "a weight on every dataset, or on none (then they share equally)",
            "add `weight:` to " + ", ".join(missing),
        )
        return ()
    total = sum(s.weight or 0.0 for s in specs)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        reader.issue(
            "datasets[].weight",
            round(total, 6),
            f"weights summing to 1 (± {WEIGHT_TOLERANCE})",
            "rescale the weights so that they sum to 1",
        )
        return ()
    return tuple(specs)
