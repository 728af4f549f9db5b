"""Where the project's shipped files live (configs/, cluster/, slurm_templates/, sample/).

They sit at the top of the checkout. An editable install (and the test suite) reads them there; a
non-editable ``pip install .`` carries a copy inside the package, ``smolprep/shipped/`` (see setup.py).
The checkout wins when both exist, so an edited config is the one that runs.
"""

from __future__ import annotations

from pathlib import Path

import smolprep

SAMPLE_CONFIG = "sample.yaml"


def checkout_root() -> Path:
    """The checkout that holds ``src/smolprep`` (meaningful only for an editable install)."""
    return Path(smolprep.__file__).resolve().parents[2]


def installed_root() -> Path:
    """The copy of the shipped folders inside an installed (non-editable) package."""
    return Path(smolprep.__file__).resolve().parent / "shipped"


def project_root() -> Path:
    """The folder that holds configs/, cluster/, slurm_templates/ and sample/: the checkout, else the
    installed copy."""
    candidates = (checkout_root(), installed_root())
    for candidate in candidates:
        if (candidate / "configs").is_dir():
            return candidate
    looked = " and ".join(str(c / "configs") for c in candidates)
    raise FileNotFoundError(
        f"cannot find smolprep's shipped configs (looked in {looked}); "
        "reinstall with `pip install .` or `pip install -e .` from the repository"
    )


def configs_dir() -> Path:
    return project_root() / "configs"


def cluster_dir() -> Path:
    return project_root() / "cluster"


def sample_config() -> Path:
    """The shipped sample stage (`configs/sample.yaml`, reading `sample/`)."""
    return configs_dir() / SAMPLE_CONFIG


def default_spam_lists() -> tuple[Path, ...]:
    folder = configs_dir() / "spam"
    return tuple(sorted(folder.glob("*.txt")))
