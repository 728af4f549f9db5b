"""Stage configs: a SmolLM3-style mixture of datasets with weights, loaded from YAML and validated.

Every problem is reported at once, each naming file, key, value, what was expected and the fix, before
anything is written or submitted. A config with only `name` and `datasets` (each with `name` and
`path` or `source`) is valid: everything else has a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.schema import (
    BadValue,
    MappingReader,
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_str,
    load_yaml,
    option,
    optional,
)
from smolprep.filters.chain import (
    ALL_FILTERS,
    FILTER_NAMES,
    NO_FILTERS,
    WORD_FILTERS,
    chain_of,
    chains_text,
    kinds_running,
)
from smolprep.filters.languages import fineweb2_code, known_codes, lid_label
from smolprep.input_files import is_input_file

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


DEDUP_METHODS = ("minhash", "sentence")  # in the order they run when a dataset has both
_DEDUP_CHOICES = {
    "minhash": ("minhash",),
    "sentence": ("sentence",),
    "minhash+sentence": ("minhash", "sentence"),
    "sentence+minhash": ("minhash", "sentence"),
    "none": (),
}


def as_dedup(value: Any) -> tuple[str, ...]:
    """`dedup:` as written -> the methods a dataset runs, in run order: `true` (the key's meaning before
    sentence dedup existed) is `minhash`, `false` is `none`."""
    if isinstance(value, bool):
        return ("minhash",) if value else ()
    if not isinstance(value, str) or value not in _DEDUP_CHOICES:
        raise BadValue(
            "one of minhash, sentence, minhash+sentence, none (or true = minhash, false = none)",
            "e.g. dedup: minhash+sentence",
        )
    return _DEDUP_CHOICES[value]


@dataclass(frozen=True)
class ContentsSettings:
    """Where an ID-only dataset's text lives: `contents: {from: s3://bucket/prefix/{blob_id}, ...}`."""

    url_template: str  # `from`: an s3:// URL with {blob_id}
    compression: str | None = "gzip"  # gzip, or none: objects stored as they are
    encoding_key: str | None = "src_encoding"  # the row field naming its encoding (none: all UTF-8)
    id_key: str = "blob_id"  # the row field with the blob id

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CONTENTS_EXPECTED = (
    "a mapping {from: s3://bucket/prefix/{blob_id}, compression: gzip|none, encoding_key: <field>|none, "
    "id_key: <field>}"
)


def as_contents(value: Any) -> ContentsSettings:
    """`contents:` as written -> ContentsSettings; `from` is required, the others have defaults."""
    if not isinstance(value, dict) or not isinstance(value.get("from"), str):
        raise BadValue(_CONTENTS_EXPECTED, "e.g. contents: {from: s3://softwareheritage/content/{blob_id}}")
    unknown = sorted(set(value) - {"from", "compression", "encoding_key", "id_key"})
    if unknown:
        raise BadValue(_CONTENTS_EXPECTED, f"remove {', '.join(unknown)}")
    url = value["from"]
    if not url.startswith("s3://") or "{blob_id}" not in url or len(url.split("/")) < 4:
        raise BadValue(
            _CONTENTS_EXPECTED, "`from` is an s3:// URL of a bucket and key with {blob_id} in the key"
        )
    compression = value.get("compression", "gzip")
    if compression not in ("gzip", "none", None):
        raise BadValue(_CONTENTS_EXPECTED, "compression: gzip or none")
    encoding_key = value.get("encoding_key", "src_encoding")
    id_key = value.get("id_key", "blob_id")
    if not (encoding_key is None or isinstance(encoding_key, str)) or not isinstance(id_key, str):
        raise BadValue(_CONTENTS_EXPECTED, "encoding_key and id_key are field names")
    return ContentsSettings(
        url,
        None if compression in ("none", None) else "gzip",
        None if encoding_key in ("none", None) else encoding_key,
        id_key,
    )


def dedup_text(methods: tuple[str, ...]) -> str:
    """How a dataset's `dedup` is written: minhash, sentence, minhash+sentence or none."""
    return "+".join(methods) or "none"


def as_languages(value: Any) -> tuple[str, ...]:
    """Language codes, ISO 639-1 (``fr``) or FineWeb-2 (``fra_Latn``), as lid.176 labels (``fr``)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise BadValue("a language code or a list of them, e.g. en or [en, vi]")
    unknown = [x for x in items if fineweb2_code(x) is None]
    if unknown:
        raise BadValue(
            f"language codes smolprep has filter settings for: {', '.join(known_codes())}",
            f"unknown: {', '.join(unknown)}",
        )
    return tuple(dict.fromkeys(lid_label(x) for x in items))


_FILTERS_EXPECTED = (
    f"a list of filter names of the dataset's kind ({chains_text()}), `{NO_FILTERS}` (no filter) "
    f"or `{ALL_FILTERS}` (the kind's full chain, the default)"
)


def as_filters(value: Any) -> tuple[str, ...] | None:
    """`filters:` as written: a name or a list of names (checked against the kind later), `none` -> (),
    `all` -> None (the kind's full chain)."""
    if value == NO_FILTERS:
        return ()
    if value == ALL_FILTERS:
        return None
    items = [value] if isinstance(value, str) else value
    if value is None or (isinstance(items, list) and not items):
        raise BadValue(
            _FILTERS_EXPECTED,
            f"write `filters: {NO_FILTERS}` to run no filter, or remove the key for the kind's full chain",
        )
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise BadValue(_FILTERS_EXPECTED, "e.g. filters: [language]")
    if {NO_FILTERS, ALL_FILTERS} & set(items):
        raise BadValue(_FILTERS_EXPECTED, f"write `{NO_FILTERS}` or `{ALL_FILTERS}` alone, not in a list")
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
    filters: tuple[str, ...] | None = option(
        f"filters the `filter` step runs, in the chain's order ({chains_text()}); `{NO_FILTERS}` for none; "
        f"absent or `{ALL_FILTERS}`: the kind's full chain",
        None,
        convert=as_filters,
    )
    language: tuple[str, ...] = option(
        "language code(s) to keep, ISO 639-1 or FineWeb-2, e.g. en, [en, vi] or cmn_Hani; other languages are removed",
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
    dedup: tuple[str, ...] = option(
        "deduplication: minhash (near-duplicate documents), sentence (repeated 3-sentence spans), "
        "minhash+sentence (both, MinHash first) or none; true = minhash, false = none",
        ("minhash",),
        convert=as_dedup,
    )
    tokenize: bool = option(
        "false: no tokenize steps for this dataset (when the stage has `tokenize.tokenizer`)",
        True,
        convert=as_bool,
    )
    contents: ContentsSettings | None = option(  # noqa: RUF009 (a frozen dataclass: immutable)
        "ID-only rows: where each row's text is, {from: s3://bucket/prefix/{blob_id}, compression: gzip|none, "
        "encoding_key: src_encoding, id_key: blob_id}; a `contents` step fetches it before `filter`",
        None,
        convert=optional(as_contents),
    )

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


@dataclass(frozen=True)
class SentenceSettings:
    """Sentence-level deduplication (datatrove's SentDedupConfig), for datasets with `dedup: sentence`."""

    n_sentences: int = option(
        "sentences per span: a span seen before is removed from every later document", 3, convert=as_int(1)
    )
    min_doc_words: int = option(
        "a document with spans removed is dropped when fewer words remain", 50, convert=as_int(0)
    )
    min_num_sentences: int = option(
        "a document with spans removed is dropped when fewer sentences remain", 3, convert=as_int(0)
    )
    find_tasks: int = option(
        "tasks of the sentence-find step (each takes one range of span hashes)", 1, convert=as_int(1)
    )


@dataclass(frozen=True)
class TokenizeSettings:
    """Tokenization for training: datatrove's DocumentTokenizer per task, then DocumentTokenizerMerger."""

    tokenizer: str | None = option(
        "tokenizer.json to tokenize with (relative to the config file); unset: no tokenization",
        None,
        convert=optional(as_str),
    )
    eos_token: str | None = option(
        "text of the token written after every document (e.g. <|end_of_text|>); unset: the tokenizer's own "
        "post-processor",
        None,
        convert=optional(as_str),
    )
    shard_tokens: int = option(
        "at most this many tokens per final shard of a dataset", 10_000_000_000, convert=as_int(1000)
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
    sentence: SentenceSettings = option("sentence dedup settings", SentenceSettings(), convert=lambda v: v)  # noqa: RUF009
    tokenize: TokenizeSettings = option("tokenization for training", TokenizeSettings(), convert=lambda v: v)  # noqa: RUF009
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


MAX_TASKS_PER_STEP = 100_000


def task_count_issues(
    stage: StageConfig, counts: Mapping[str, Mapping[str, int]], tasks_from: Mapping[str, tuple[str, ...]]
) -> list[ConfigIssue]:
    """Steps of the plan (dataset -> step -> tasks) with more than MAX_TASKS_PER_STEP tasks: each is
    refused unless the launch says --force. `tasks_from` gives, per step, the settings its task count comes
    from (the step registry's `tasks_from`): the dataset's `tasks`, or stage keys such as
    `minhash.num_buckets`; the issue names them."""
    issues: dict[str, ConfigIssue] = {}
    for dataset, steps in counts.items():
        for step, tasks in steps.items():
            if tasks > MAX_TASKS_PER_STEP:
                key, value = _tasks_setting(stage, dataset, step, tasks, tasks_from.get(step, ("tasks",)))
                issues.setdefault(key, _too_many_tasks(stage, key, value))
    return list(issues.values())


def _tasks_setting(
    stage: StageConfig, dataset: str, step: str, tasks: int, keys: tuple[str, ...]
) -> tuple[str, Any]:
    """The config key(s) that set a step's task count, and their value as the message shows it."""
    if keys == ("tasks",):
        index = next(i for i, spec in enumerate(stage.datasets) if spec.name == dataset)
        return f"datasets[{index}] ({dataset}).tasks", tasks
    values = [str(getattr(getattr(stage, key.split(".")[0]), key.split(".")[1])) for key in keys]
    return " x ".join(keys), f"{' x '.join(values)} = {tasks:,} tasks of {step}"


def _too_many_tasks(stage: StageConfig, key: str, value: Any) -> ConfigIssue:
    return ConfigIssue(
        Path(stage.source_file),
        key,
        value,
        f"at most {MAX_TASKS_PER_STEP:,} tasks per step: every task is a process with its own output "
        "files, log, stats and completion marker, so more swamp the file system and the scheduler",
        "use fewer, larger tasks, or add --force to the launch if you really mean it",
    )


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
    try:
        raw_bytes = file.read_bytes()
    except OSError as err:
        raise ConfigError(
            [ConfigIssue(file, "(file)", str(file), "a readable YAML file", err.strerror or str(err))]
        ) from None
    raw = load_yaml(raw_bytes, file)
    return parse_stage_config(raw, file, hashlib.sha256(raw_bytes).hexdigest())


def parse_stage_config(raw: Any, file: Path, config_hash: str = "") -> StageConfig:
    reader = MappingReader(file)
    top = reader.fields(StageConfig, raw, "")
    if top is None and not isinstance(raw, Mapping):
        raise ConfigError(reader.issues)
    raw = raw or {}
    minhash = _section(reader, raw, "minhash", MinhashSettings)
    sentence = _section(reader, raw, "sentence", SentenceSettings)
    tokenize = _tokenize_section(reader, raw, file)
    datasets = _parse_datasets(reader, raw.get("datasets"), file)
    if top is not None:
        _check_report_options(reader, top, file)
    if reader.issues or top is None:
        raise ConfigError(reader.issues)
    if tokenize.tokenizer is None:  # no tokenization in this stage: no dataset has the tokenize steps
        datasets = tuple(dataclasses.replace(d, tokenize=False) for d in datasets)
    top.update(
        minhash=minhash,
        sentence=sentence,
        tokenize=tokenize,
        datasets=datasets,
        source_file=str(file),
        config_hash=config_hash,
    )
    return StageConfig(**top)


def _section(reader: MappingReader, raw: Mapping[str, Any], key: str, cls: Any) -> Any:
    """A stage-level settings section (`minhash:`, `sentence:`): its dataclass, defaults for what is unset."""
    if key not in raw:
        return cls()
    fields = reader.fields(cls, raw[key], key)
    return cls(**fields) if fields is not None else cls()


HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def config_relative(value: str, file: Path) -> Path:
    """A path the config names: `~` expanded, a relative one taken from the config file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else file.parent / path


def _tokenize_section(reader: MappingReader, raw: Mapping[str, Any], file: Path) -> TokenizeSettings:
    """`tokenize:`, its tokenizer a local file (made absolute, so that a job started elsewhere finds it) or
    a Hub model repo id (`launch.py fetch` brings its tokenizer.json to shared storage)."""
    settings = _section(reader, raw, "tokenize", TokenizeSettings)
    if settings.tokenizer is None:
        return settings
    path = config_relative(settings.tokenizer, file)
    if path.is_file():
        return dataclasses.replace(settings, tokenizer=str(path.resolve()))
    if HUB_REPO_ID.match(settings.tokenizer) and not settings.tokenizer.endswith(".json"):
        return settings
    reader.issue(
        "tokenize.tokenizer",
        settings.tokenizer,
        "a local tokenizer.json file (relative paths are relative to the config file) or a Hub model repo id",
        f"no file {path.resolve()}; put the tokenizer.json there, name a repo id (owner/name), or remove `tokenize`",
    )
    return TokenizeSettings()


def is_hub_tokenizer(value: str | None) -> bool:
    """A `tokenize.tokenizer` that names a Hub repo (not fetched yet) rather than a local file."""
    return value is not None and not Path(value).is_absolute()


def _check_report_options(reader: MappingReader, top: dict[str, Any], file: Path) -> None:
    """`tokenizer` (for the report's token counts) must be a local file; a relative path is relative to the
    config file. It is replaced by its absolute path, so that a job started elsewhere finds it."""
    tokenizer = top.get("tokenizer")
    if tokenizer is None:
        return
    path = config_relative(tokenizer, file)
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
    spec = _check_filters(reader, spec, key)
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
    local = _check_local(reader, spec, key, file)
    return local if local is not None and len(reader.issues) == before else None


def _check_filters(reader: MappingReader, spec: DatasetSpec, key: str) -> DatasetSpec:
    """`filters` must name filters of the dataset's kind. Returns the spec with them in the chain's order,
    and None (the default) when they are the whole chain."""
    if spec.filters is None:
        return spec
    chain = chain_of(spec.kind)
    foreign = [name for name in spec.filters if name not in chain]
    if foreign:
        reader.issue(
            f"{key}.filters",
            list(spec.filters),
            f"names of the filters a {spec.kind} dataset runs: {', '.join(chain)}; or `{NO_FILTERS}`",
            "; ".join(_foreign_filter_fix(name) for name in foreign),
        )
        return spec
    chosen = tuple(name for name in chain if name in spec.filters)
    if len(spec.language) > 1 and WORD_FILTERS & set(chosen) and "language" not in chosen:
        reader.issue(
            f"{key}.filters",
            list(spec.filters),
            f"`language` among the filters of a dataset of several languages ({', '.join(spec.language)}): "
            "repetition, fineweb-quality and gopher-quality judge each document by the language it tags",
            "add `language` (without it every document would be judged as "
            f"{spec.language[0]!r}), or give the dataset one language",
        )
    return dataclasses.replace(spec, filters=None if chosen == chain else chosen)


def _foreign_filter_fix(name: str) -> str:
    kinds = kinds_running(name)
    if kinds:
        return f"{name!r} runs only on {' and '.join(kinds)} datasets: remove it"
    close = difflib.get_close_matches(name, list(FILTER_NAMES), n=1)
    return f"{name!r} is no filter" + (f": did you mean {close[0]!r}?" if close else "")


def _check_local(reader: MappingReader, spec: DatasetSpec, key: str, file: Path) -> DatasetSpec | None:
    """A local `path`: an existing, readable folder holding files of the dataset's `format`."""
    if spec.subset is not None:
        reader.issue(f"{key}.subset", spec.subset, "no subset with a local `path`", "remove it")
    glob_ok = _check_glob(reader, spec, key)
    folder = _local_folder(reader, spec, key, file)
    if folder is None:
        return None
    spec = dataclasses.replace(spec, path=str(folder), format=spec.format or "jsonl")
    problem = _input_problem(folder, spec) if glob_ok else None
    if problem is not None:
        reader.issue(f"{key}.path", str(folder), *problem)
    return spec


def _check_glob(reader: MappingReader, spec: DatasetSpec, key: str) -> bool:
    """`glob` is relative to `path` (datatrove cannot use an absolute pattern)."""
    if spec.glob is None or not (spec.glob.startswith(("/", "~")) or Path(spec.glob).is_absolute()):
        return True
    reader.issue(
        f"{key}.glob",
        spec.glob,
        "a pattern relative to `path`, e.g. **/*.jsonl.gz",
        "put the folder in `path:` and the pattern below it in `glob:`",
    )
    return False


def _looked_in(path: str, file: Path) -> str:
    """'looked in A and B' for a relative path (next to the config, then the working directory), 'looked
    in A' when both are one folder (an absolute path, or a config in the working directory)."""
    places = dict.fromkeys(str((base / path).resolve()) for base in (file.parent, Path.cwd()))
    return "looked in " + " and ".join(places)


def _local_folder(reader: MappingReader, spec: DatasetSpec, key: str, file: Path) -> Path | None:
    folder = _resolve_local(spec.path or "", file)
    if folder is None:
        reader.issue(
            f"{key}.path",
            spec.path,
            "an existing folder",
            _looked_in(spec.path or "", file),
        )
        return None
    if not folder.is_dir():
        reader.issue(
            f"{key}.path",
            str(folder),
            "a folder (every input file under it is read), not a file",
            "set `path:` to the folder that holds the file and, to read only that file, `glob:` to its name",
        )
        return None
    return folder


def _input_problem(folder: Path, spec: DatasetSpec) -> tuple[str, str] | None:
    """(what was expected, the fix) when `folder` cannot be read as the dataset's `format`; None when it can."""
    try:
        names = os.listdir(folder)
    except OSError as err:
        return "a readable folder", _unreadable_fix(folder, err)
    if spec.format == "hf":
        return _hf_problem(folder, names)
    return _files_problem(folder, spec)


def _unreadable_fix(folder: Path, err: OSError) -> str:
    if isinstance(err, PermissionError):
        return (
            f"{folder} exists but cannot be read (permission denied): give the user that runs smolprep "
            "read and execute access to it (chmod, ACL or group)"
        )
    return f"{folder} cannot be read ({err.strerror or err}); check the storage it lives on"


_HF_MARKERS = ({"dataset_info.json", "state.json"}, {"dataset_dict.json"})


def _hf_problem(folder: Path, names: list[str]) -> tuple[str, str] | None:
    if any(marker <= set(names) for marker in _HF_MARKERS):
        return None
    return (
        "a folder written by datasets' save_to_disk (dataset_info.json and state.json, or dataset_dict.json)",
        _format_hint(folder)
        or "save the dataset with Dataset.save_to_disk, or set `format:` to jsonl or parquet",
    )


def _files_problem(folder: Path, spec: DatasetSpec) -> tuple[str, str] | None:
    pattern = spec.input_glob or ""
    default = spec.glob is None
    try:
        if any(_is_input(p, spec.format or "jsonl", default) for p in folder.glob(pattern)):
            return None
    except ValueError as err:  # e.g. `**` inside a path component
        return f"a usable `glob:` pattern relative to the folder (got {pattern!r})", str(err)
    denied = _unreadable_subfolders(folder)
    if denied:
        more = f" (and {len(denied) - 1} more)" if len(denied) > 1 else ""
        return "a folder whose subfolders can be read", _unreadable_fix(
            Path(denied[0]), PermissionError()
        ) + more
    side = " (side files such as .md5 are not input)" if default else ""
    fix = _format_hint(folder, exclude=spec.format) or "put the files there or set `glob:`"
    return f"a folder with input files matching {pattern!r}{side}", fix


def _is_input(path: Path, fmt: str, default_glob: bool) -> bool:
    """A file the reader will read; with the default glob, side files (`.md5`, ...) do not count."""
    return path.is_file() and (not default_glob or is_input_file(path.name, fmt))


def _unreadable_subfolders(folder: Path) -> list[str]:
    denied: list[str] = []

    def record(err: OSError) -> None:
        if isinstance(err, PermissionError):
            denied.append(str(err.filename))

    for _ in os.walk(folder, onerror=record):
        pass
    return denied


def _format_hint(folder: Path, exclude: str | None = None) -> str:
    """`set format: X` when the folder holds data of another format than the one configured."""
    names = set(os.listdir(folder))
    if exclude != "hf" and any(marker <= names for marker in _HF_MARKERS):
        return "this folder was written by datasets' save_to_disk: set `format: hf`"
    for fmt in ("jsonl", "parquet"):
        pattern = _DEFAULT_GLOBS[fmt] or ""
        if fmt != exclude and any(_is_input(p, fmt, True) for p in folder.glob(pattern)):
            return f"this folder holds {fmt} files: set `format: {fmt}`"
    return ""


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
