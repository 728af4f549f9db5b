"""Fixtures of the report tests: the shipped tokenizer.json, a held-out-style stage run, headless Chromium.

Chromium is Debian's package: when it is missing, the `chromium` fixture installs it with apt-get (the
suite runs as root on CI); if that fails, the tests that need it fail with apt's output (never a skip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, StageRun, read_jsonl_folder, run_held_out_stage, write_jsonl

TOKENIZER = ROOT / "tests" / "data" / "tokenizer" / "tokenizer.json"
INSTALL_TIMEOUT = 900


@pytest.fixture(scope="session")
def tokenizer_path() -> Path:
    return TOKENIZER


def _install_chromium() -> str:
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    packages = ["chromium", "fonts-liberation"]  # the fonts are only recommended, and the page has text
    steps = (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages])
    for command in steps:
        proc = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            env=env,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"cannot install Debian's chromium for the report rendering test: $ {' '.join(command)} "
                f"exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("apt-get installed chromium but there is no `chromium` on PATH")
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of Debian's chromium, installed with apt-get when missing."""
    return shutil.which("chromium") or _install_chromium()


@dataclass
class HeldOut:
    run: StageRun
    config: Path
    inputs: dict[str, int]  # dataset -> documents written to its input folder


def _copies(records: list[dict], prefix: str, every: int) -> list[dict]:
    return [{"id": f"{prefix}-copy-{i}", "text": r["text"]} for i, r in enumerate(records[::every])]


@pytest.fixture(scope="session")
def held_out(sample_run, tmp_path_factory) -> HeldOut:
    """The held-out evaluation shape: a config with only `name` and `datasets`, three local JSONL datasets
    (web en, web vi, code) made of documents the sample run kept, with planted exact duplicates, English
    documents inside the Vietnamese dataset and repetition junk."""
    base = tmp_path_factory.mktemp("held-out")
    en = [{"id": r["id"], "text": r["text"]} for r in read_jsonl_folder(sample_run.layout.data("en-web"))]
    vi = [{"id": r["id"], "text": r["text"]} for r in read_jsonl_folder(sample_run.layout.data("vi-web"))]
    code = [{"id": r["id"], "text": r["text"]} for r in read_jsonl_folder(sample_run.layout.data("code"))]
    junk = [
        {"id": f"junk-{i}", "text": "\n".join([r["text"].splitlines()[0]] * 40)} for i, r in enumerate(en[:3])
    ]
    inputs = {
        "en": en + _copies(en, "en", 5) + junk,
        "vi": vi
        + _copies(vi, "vi", 10)
        + [{"id": f"vi-en-{i}", "text": r["text"]} for i, r in enumerate(en[:6])],
        "code": code + _copies(code, "code", 20),
    }
    write_jsonl(base / "data" / "en" / "part-0.jsonl", inputs["en"])
    write_jsonl(base / "data" / "vi" / "part-0.jsonl.gz", inputs["vi"][::2])
    write_jsonl(base / "data" / "vi" / "part-1.jsonl.gz", inputs["vi"][1::2])
    write_jsonl(base / "data" / "code" / "part-0.jsonl", inputs["code"])
    config, run = run_held_out_stage(base, "held-out.yaml")
    return HeldOut(run, config, {name: len(records) for name, records in inputs.items()})


CHROMIUM_TIMEOUT = 120
WINDOW = (1200, 2000)


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless chromium with `args` (a fresh profile in `profile`, a fixed window); fails with its stderr."""
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
    ]
    proc = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, f"$ {' '.join(command)}\nexit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc
