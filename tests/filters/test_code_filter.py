"""CodeSanityFilter: one literal file per rule."""

from __future__ import annotations

import pytest
from filter_samples import make_doc, run_step

from smolprep.filters import CodeSanityFilter

PYTHON_FILE = '''\
"""Small utilities for reading configuration files."""

from __future__ import annotations

import json
from pathlib import Path


class ConfigError(ValueError):
    """Raised when a configuration file cannot be used."""


def load_config(path: str | Path) -> dict:
    """Read a JSON configuration file and check its required keys."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: invalid JSON at line {err.lineno}") from err
    missing = {"name", "version"} - set(data)
    if missing:
        raise ConfigError(f"{path}: missing keys {sorted(missing)}")
    return data


if __name__ == "__main__":
    print(load_config("config.json"))
'''

MINIFIED_JS = "/*! lib v1.2 | MIT */\n" + "!function(e,t){var n=e.document,r=t(n);" * 200 + "}(window);\n"


@pytest.fixture(scope="module")
def step() -> CodeSanityFilter:
    return CodeSanityFilter()


def test_normal_python_file_is_kept(step: CodeSanityFilter) -> None:
    assert step.filter(make_doc(PYTHON_FILE)) is True


def test_file_with_one_long_string_among_normal_lines_is_kept(step: CodeSanityFilter) -> None:
    long_literal = 'ALPHABET = "' + "abcdefghij" * 120 + '"\n'
    text = PYTHON_FILE * 10 + long_literal  # about 13 % of the characters in the long line
    assert len(long_literal) > 1000
    assert step.filter(make_doc(text)) is True


@pytest.mark.parametrize("text", ["", "   \n\t\n  "])
def test_empty_file_is_dropped(step: CodeSanityFilter, text: str) -> None:
    assert step.filter(make_doc(text)) == (False, "empty")


def test_file_above_max_bytes_is_too_large(step: CodeSanityFilter) -> None:
    text = "value = compute(1, 2)\n" * 50_000  # 1.1 MB of normal-looking lines
    assert step.filter(make_doc(text)) == (False, "too_large")


def test_size_counts_utf8_bytes_not_characters() -> None:
    small = CodeSanityFilter(max_bytes=100)
    assert small.filter(make_doc("x" * 60)) is True
    assert small.filter(make_doc("đ" * 60)) == (False, "too_large")  # 60 characters, 120 bytes


def test_minified_file_is_long_lines(step: CodeSanityFilter) -> None:
    assert step.filter(make_doc(MINIFIED_JS)) == (False, "long_lines")


def test_zero_fraction_drops_any_long_line() -> None:
    strict = CodeSanityFilter(max_long_line_char_fraction=0.0)
    text = PYTHON_FILE * 6 + 'X = "' + "a" * 1200 + '"\n'
    assert strict.filter(make_doc(text)) == (False, "long_lines")


def test_symbol_dump_is_low_alnum(step: CodeSanityFilter) -> None:
    text = "{}[]();;::<>==--++ \n" * 200
    assert step.filter(make_doc(text)) == (False, "low_alnum")


def test_stats_count_each_reason(step: CodeSanityFilter) -> None:
    fresh = CodeSanityFilter()
    docs = [make_doc(PYTHON_FILE, "ok"), make_doc("", "empty"), make_doc(MINIFIED_JS, "min")]
    kept, stats = run_step(fresh, docs)
    assert [doc.id for doc in kept] == ["ok"]
    assert (stats["dropped_empty"], stats["dropped_long_lines"]) == (1, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bytes": 0}, "max_bytes must be an integer >= 1"),
        ({"max_line_length": 10.5}, "max_line_length must be an integer >= 1"),
        ({"min_alnum_fraction": 2}, "min_alnum_fraction must be a number between 0 and 1"),
        ({"max_long_line_char_fraction": -1}, "max_long_line_char_fraction must be a number between 0 and 1"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CodeSanityFilter(**kwargs)
