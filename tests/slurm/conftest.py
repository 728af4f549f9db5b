"""The real single-node Slurm of cluster/dev-slurm/, started once per test session.

Tests that need it take the ``dev_slurm`` fixture and are marked ``@pytest.mark.slurm``. If
``start.sh`` fails, every such test fails with the script's output: a missing cluster is never a skip.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from smolprep import launching
from smolprep.slurm import monitor

ROOT = Path(__file__).resolve().parents[2]
START_SH = ROOT / "cluster" / "dev-slurm" / "start.sh"
# The first run on a fresh machine installs slurm-wlm and munge with apt-get.
START_TIMEOUT = 900

_EXPORT_LINE = re.compile(r"^export SLURM_CONF=(\S+)$")
# `--wait` backs off to one squeue poll every 15 s; a test's stage is small, so it polls more often.
QUICK_POLL = 2.0


@dataclass(frozen=True)
class DevSlurm:
    conf: Path  # the slurm.conf written by start.sh; os.environ["SLURM_CONF"] points to it

    @property
    def state_dir(self) -> Path:
        return self.conf.parent

    def conf_value(self, key: str) -> str | None:
        """A ``Key=value`` setting of slurm.conf (first match), or None."""
        for line in self.conf.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip().lower() == key.lower():
                return value.strip()
        return None


def run_start_sh(*args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(START_SH), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return (
        f"$ {' '.join(map(str, proc.args))}\nexit {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


def conf_from_output(stdout: str) -> Path | None:
    """The slurm.conf path from start.sh's last stdout line ``export SLURM_CONF=<path>``."""
    lines = stdout.rstrip("\n").splitlines()
    match = _EXPORT_LINE.match(lines[-1]) if lines else None
    return Path(match.group(1)) if match else None


@pytest.fixture(scope="session")
def dev_slurm() -> DevSlurm:
    try:
        proc = run_start_sh()
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{START_SH} did not finish in {START_TIMEOUT} s\n{exc.stdout!r}\n{exc.stderr!r}")
    if proc.returncode != 0:
        pytest.fail(f"cluster/dev-slurm/start.sh failed:\n{describe(proc)}", pytrace=False)
    conf = conf_from_output(proc.stdout)
    if conf is None or not conf.is_file():
        pytest.fail(
            f"start.sh's last line is not 'export SLURM_CONF=<existing file>':\n{describe(proc)}",
            pytrace=False,
        )
    os.environ["SLURM_CONF"] = str(conf)
    return DevSlurm(conf=conf)


@contextmanager
def quick_wait() -> Iterator[None]:
    """While it lasts, an in-process ``--wait`` polls every ``QUICK_POLL`` seconds at most, instead of up to
    15 s after a small stage has finished. What it polls and how it decides are unchanged."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            launching, "wait_for_stage", functools.partial(monitor.wait_for_stage, max_poll=QUICK_POLL)
        )
        yield
