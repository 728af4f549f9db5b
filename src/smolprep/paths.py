"""Where the project's shipped files live (configs/, cluster/, slurm_templates/)."""

from __future__ import annotations

from pathlib import Path

import smolprep


def project_root() -> Path:
    """The checkout that holds configs/ and cluster/ (smolprep is installed editable from it)."""
    here = Path(smolprep.__file__).resolve().parents[2]
    if (here / "configs").is_dir():
        return here
    cwd = Path.cwd()
    if (cwd / "configs").is_dir():
        return cwd
    raise FileNotFoundError(
        f"cannot find the smolprep checkout (looked for configs/ in {here} and {cwd}); "
        "run from the repository root or install smolprep editable (`pip install -e .`)"
    )


def configs_dir() -> Path:
    return project_root() / "configs"


def cluster_dir() -> Path:
    return project_root() / "cluster"


def default_spam_lists() -> tuple[Path, ...]:
    folder = configs_dir() / "spam"
    return tuple(sorted(folder.glob("*.txt")))
