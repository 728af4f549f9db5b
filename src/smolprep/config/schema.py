"""A small declarative schema for YAML configs: dataclass fields carry their help text and converter.

The same field metadata feeds validation (here), error messages and the config reference in docs/.
A converter takes the raw YAML value and returns the typed value or raises `BadValue`. `load_yaml` parses
a file and refuses a key written twice in one mapping, which plain YAML loading silently resolves to the
last one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from smolprep.config.errors import ConfigError, ConfigIssue

T = TypeVar("T")
Converter = Callable[[Any], Any]


class BadValue(Exception):
    """Raised by a converter: what was expected and, optionally, how to fix it."""

    def __init__(self, expected: str, fix: str = ""):
        super().__init__(expected)
        self.expected = expected
        self.fix = fix


def option(help: str, default: Any = dataclasses.MISSING, *, convert: Converter) -> Any:
    """A config field: `help` is the one-line description shown in docs and errors."""
    metadata = {"help": help, "convert": convert}
    if isinstance(default, list | dict):
        raise TypeError("use a tuple or None as a default, not a mutable value")
    return dataclasses.field(default=default, metadata=metadata)


# --- converters -------------------------------------------------------------------------------


def as_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadValue("a non-empty string")
    return value


def as_int(minimum: int | None = None) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue("an integer" + (f" >= {minimum}" if minimum is not None else ""))
        if minimum is not None and value < minimum:
            raise BadValue(f"an integer >= {minimum}")
        return value

    return convert


def as_float(low: float, high: float, *, low_open: bool = False) -> Converter:
    bracket = "(" if low_open else "["

    def convert(value: Any) -> float:
        expected = f"a number in {bracket}{low}, {high}]"
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadValue(expected)
        if not math.isfinite(value):  # NaN compares false with every bound, so it must be caught first
            raise BadValue(expected, "write a plain number; .nan and .inf are not numbers of this kind")
        if value > high or value < low or (low_open and value == low):
            raise BadValue(expected)
        return float(value)

    return convert


def as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue("true or false")
    return value


def as_choice(*choices: str) -> Converter:
    def convert(value: Any) -> str:
        if value not in choices:
            raise BadValue("one of " + ", ".join(choices), _did_you_mean(value, choices))
        return str(value)

    return convert


def optional(convert: Converter) -> Converter:
    def wrapped(value: Any) -> Any:
        return None if value is None else convert(value)

    return wrapped


def _did_you_mean(value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


# --- building dataclasses from mappings ---------------------------------------------------------


def field_help(cls: type) -> dict[str, str]:
    """Field name -> help text, for docs and --help."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(cls) if "help" in f.metadata}


class MappingReader:
    """Collects every problem of one file instead of stopping at the first."""

    def __init__(self, file: Path):
        self.file = file
        self.issues: list[ConfigIssue] = []

    def issue(self, key: str, value: Any, expected: str, fix: str = "") -> None:
        self.issues.append(ConfigIssue(self.file, key, value, expected, fix))

    def fields(self, cls: type, raw: Any, prefix: str) -> dict[str, Any] | None:
        """Convert `raw` (a YAML mapping) into keyword arguments for `cls`; None if anything is wrong."""
        where = prefix or "(top level)"
        if not isinstance(raw, Mapping):
            self.issue(where, raw, "a mapping of keys to values", "see docs/config.md for the keys")
            return None
        known = {f.name: f for f in dataclasses.fields(cls) if "convert" in f.metadata}
        before = len(self.issues)
        for key in raw:
            if key not in known:
                fix = _did_you_mean(key, list(known)) or "remove it"
                self.issue(_join(prefix, str(key)), raw[key], "one of the keys " + ", ".join(known), fix)
        values: dict[str, Any] = {}
        for name, fld in known.items():
            if name in raw:
                try:
                    values[name] = fld.metadata["convert"](raw[name])
                except BadValue as bad:
                    self.issue(_join(prefix, name), raw[name], bad.expected, bad.fix)
            elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                self.issue(_join(prefix, name), None, f"a value ({fld.metadata['help']})", f"add `{name}:`")
        return values if len(self.issues) == before else None


# --- YAML without silently repeated keys -------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that records every key written twice in one mapping (plain YAML keeps the last)."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.repeated: list[tuple[Any, int, int]] = []  # key, line of the first, line of the repeat

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue  # `<<:` merges may be overridden by the mapping's own keys: that is YAML's rule
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.repeated.append((key, first_line[key], line))
            first_line.setdefault(key, line)
        return super().construct_mapping(node, deep=deep)


def load_yaml(data: bytes | str, file: Path) -> Any:
    """Parse YAML; a syntax error or a key written twice in one mapping is a ConfigError naming the line(s)."""
    loader = _UniqueKeyLoader(data)
    try:
        raw = loader.get_single_data()
    except yaml.YAMLError as err:
        raise ConfigError(
            [ConfigIssue(file, "(syntax)", str(err).splitlines()[0], "valid YAML", str(err))]
        ) from None
    finally:
        loader.dispose()
    if loader.repeated:
        raise ConfigError([_repeated_issue(file, *repeat) for repeat in loader.repeated])
    return raw


def _repeated_issue(file: Path, key: Any, first: int, again: int) -> ConfigIssue:
    return ConfigIssue(
        file,
        str(key),
        f"written on line {first} and again on line {again}",
        "each key once per mapping (YAML would silently keep the last one)",
        f"keep one of lines {first} and {again}",
    )


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
