"""Which files of a dataset repo hold one config's split (pure).

A Hub dataset card (README.md) declares its configs in its YAML front matter:

    configs:
      - config_name: vie_Latn
        data_files:
          - split: train
            path: data/vie_Latn/train/*

`data_files` may also be one pattern or a list of patterns (all in split `train`), and `path` one pattern or
a list. Patterns are globs on the repo's paths: `*` and `?` stay within one folder, `**` crosses folders.
A repo without `configs:` gets the Hub's conventional layout: files named after the split (`train-*`,
`train/…`, `data/train-*`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

DATA_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz")


class ConfigNotFound(ValueError):
    """The repo declares no such config, or the config has no such split."""


@dataclass(frozen=True)
class RepoConfig:
    name: str
    splits: Mapping[str, tuple[str, ...]]  # split -> glob patterns
    default: bool = False


def card_configs(readme: str) -> list[RepoConfig]:
    """The configs a dataset card declares (none when it has no front matter or no `configs:`)."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme, flags=re.S)
    if not match:
        return []
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return []
    entries = meta.get("configs") if isinstance(meta, dict) else None
    if not isinstance(entries, list):
        return []
    return [c for c in (_config(e) for e in entries if isinstance(e, dict)) if c is not None]


def _config(entry: Mapping[str, Any]) -> RepoConfig | None:
    name = entry.get("config_name")
    files = entry.get("data_files")
    if not isinstance(name, str) or files is None:
        return None
    splits: dict[str, tuple[str, ...]] = {}
    if isinstance(files, str):
        splits["train"] = (files,)
    elif isinstance(files, list):
        for item in files:
            if isinstance(item, str):
                splits["train"] = (*splits.get("train", ()), item)
            elif isinstance(item, dict) and isinstance(item.get("split"), str):
                path = item.get("path")
                paths = (
                    (path,) if isinstance(path, str) else tuple(p for p in path or () if isinstance(p, str))
                )
                splits[item["split"]] = (*splits.get(item["split"], ()), *paths)
    return RepoConfig(name, splits, bool(entry.get("default")))


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A repo-path glob as a regex: `**/` any folders (or none), `**` anything, `*` and `?` within a folder."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def conventional_patterns(split: str) -> tuple[str, ...]:
    """The Hub's default layout for a repo whose card declares no configs."""
    return (
        f"{split}-*",
        f"{split}/**",
        f"data/{split}-*",
        f"data/{split}/**",
        f"**/{split}-*",
        f"**/{split}/**",
    )


def split_files(
    paths: Iterable[str], configs: list[RepoConfig], config: str | None, split: str, repo: str
) -> list[str]:
    """The data files of `config` (None: the default one) and `split`, in name order."""
    patterns = _patterns(configs, config, split, repo)
    regexes = [glob_regex(p.lstrip("/")) for p in patterns]
    found = [p for p in paths if p.endswith(DATA_SUFFIXES) and any(r.match(p) for r in regexes)]
    return sorted(found)


def _patterns(configs: list[RepoConfig], config: str | None, split: str, repo: str) -> tuple[str, ...]:
    if not configs:
        if config is not None:
            raise ConfigNotFound(
                f"{repo} declares no configs in its dataset card, so there is no subset {config!r}: "
                "remove `subset`"
            )
        return conventional_patterns(split)
    names = [c.name for c in configs]
    if config is None:
        chosen = next((c for c in configs if c.default), None) or next(
            (c for c in configs if c.name == "default"), None
        )
        if chosen is None:
            raise ConfigNotFound(
                f"{repo} has several configs and no default: set `subset` to one of {_some(names)}"
            )
    else:
        chosen = next((c for c in configs if c.name == config), None)
        if chosen is None:
            raise ConfigNotFound(f"{repo} has no subset {config!r}; its subsets: {_some(names)}")
    if split not in chosen.splits:
        raise ConfigNotFound(
            f"{repo} subset {chosen.name!r} has no split {split!r}; its splits: {', '.join(chosen.splits)}"
        )
    return chosen.splits[split]


def _some(names: list[str], limit: int = 12) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
