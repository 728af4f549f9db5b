"""The dry run (and the launch) run every filter of every dataset on a probe text in its language: a word
tokenizer whose package cannot be imported fails them with exit 2, naming the dataset, the package and the
fix, before anything is written.

The import is made to fail for real: the launcher runs in a fresh interpreter where the package is blocked
in `sys.modules` (what Python does with a package that is not installed), so nothing loaded by an earlier
test hides it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from smolprep.filters.language import LanguageIdFilter
from smolprep.filters.languages import FINEWEB2_CODES
from smolprep.pipelines.probe import probe_texts, word_tokenizer_of
from tests.conftest import ROOT, read_jsonl_folder

# language -> (module blocked, a pip package the message must name)
BLOCKED = {
    "ja": ("sudachipy", "sudachipy"),
    "ko": ("kiwipiepy", "kiwipiepy"),
    "zh": ("jieba", "jieba"),
    "th": ("pythainlp", "pythainlp"),
    "hi": ("indicnlp", "indic-nlp-library"),
}


def _folder(language: str) -> Path:
    """Real text in `language`: the sample's en-web, or its multilingual corpus."""
    if language == "en":
        return ROOT / "sample" / "en-web"
    return ROOT / "sample" / "multilingual" / FINEWEB2_CODES[language]


def _stage(tmp_path: Path, languages: list[str]) -> Path:
    lines = ["name: probe", "datasets:"]
    for language in languages:
        folder = _folder(language)
        lines.append(
            f"  - {{name: web-{language}, path: {folder}, kind: web, language: {language}, tasks: 1}}"
        )
    lines.append(f"  - {{name: code, path: {ROOT / 'sample' / 'code'}, kind: code, tasks: 1}}")
    config = tmp_path / "stage.yaml"
    config.write_text("\n".join(lines) + "\n")
    return config


def _launch(config: Path, output: Path, blocked: str | None, *extra: str) -> subprocess.CompletedProcess:
    block = f"sys.modules[{blocked!r}] = None; " if blocked else ""
    code = (
        f"import sys; {block}from smolprep.cli import main; "
        f"sys.exit(main(['--config', {str(config)!r}, '--cluster', 'local', '--output', {str(output)!r}, "
        f"*{list(extra)!r}]))"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.mark.parametrize("language", sorted(BLOCKED))
def test_a_tokenizer_that_cannot_be_imported_fails_the_dry_run(tmp_path, language) -> None:
    module, package = BLOCKED[language]
    others = [code for code in ("en", "fr") if code != language]
    config = _stage(tmp_path, [*others, language])
    result = _launch(config, tmp_path / "out", module, "--dry-run")
    assert result.returncode == 2, result.stdout + result.stderr
    err = " ".join(result.stderr.split())
    assert f"(web-{language})" in err, err
    assert package in err and "make setup" in err and "pip install" in err, err
    assert "Traceback" not in result.stderr
    for other in others:  # only the dataset whose tokenizer is missing is blamed
        assert f"(web-{other})" not in err
    assert not (tmp_path / "out").exists()


def test_a_launch_is_refused_the_same_way_before_anything_runs(tmp_path) -> None:
    config = _stage(tmp_path, ["ja"])
    result = _launch(config, tmp_path / "out", "sudachipy")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "(web-ja)" in result.stderr and "sudachipy" in result.stderr
    assert not (tmp_path / "out").exists(), "nothing is written when the launch is refused"


def test_with_everything_installed_the_dry_run_of_every_language_passes(tmp_path) -> None:
    """The control: the same stage, nothing blocked, exits 0 (so the failures above are the block's)."""
    config = _stage(tmp_path, sorted(FINEWEB2_CODES))
    result = _launch(config, tmp_path / "out", None, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "web-ja" in result.stdout and "web-th" in result.stdout


def test_every_probe_text_is_real_text_of_the_sample_in_its_language() -> None:
    """Each paragraph is in the shipped sample and lid.176 labels it as its language."""
    lid = LanguageIdFilter(["en"])
    texts = probe_texts()
    assert set(texts) == set(FINEWEB2_CODES)
    for language, text in texts.items():
        assert any(text in record["text"] for record in read_jsonl_folder(_folder(language))), language
        assert lid.predict(text)[0] == language


@pytest.mark.parametrize(("language", "packages"), [("ja", {"spacy", "sudachipy"}), ("ko", {"kiwipiepy"})])
def test_the_packages_named_are_those_datatrove_imports(language, packages) -> None:
    _, named = word_tokenizer_of(language)
    assert packages <= set(named)
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package in named:  # every package the message names is a declared dependency
        assert json.dumps(package)[1:-1].split("[")[0] in pyproject, package
