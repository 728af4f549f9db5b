"""docs/config.md and the config classes cannot drift: every key of each section's table is a field of the
class that section documents and every field is in its table, and a field's plain default (a string,
number or boolean) is the one the table's default column shows."""

from __future__ import annotations

import dataclasses
import re

import pytest

from smolprep.config.profile import ClusterProfile
from smolprep.config.schema import field_help
from smolprep.config.stage import (
    DatasetSpec,
    MinhashSettings,
    SentenceSettings,
    StageConfig,
    TokenizeSettings,
)

# section heading of docs/config.md -> the class whose fields its table lists
SECTIONS = {
    "### Top level": StageConfig,
    "### `minhash`": MinhashSettings,
    "### `sentence`": SentenceSettings,
    "### `tokenize`": TokenizeSettings,
    "### A dataset": DatasetSpec,
    "## Cluster profiles (`cluster/*.yaml`)": ClusterProfile,
}
_ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]*) \|", re.MULTILINE)


def _tables(root) -> dict[str, dict[str, str]]:
    """heading -> key -> the default column, for each section of SECTIONS (up to the next heading)."""
    text = (root / "docs" / "config.md").read_text()
    tables = {}
    for heading in SECTIONS:
        start = text.index(heading + "\n") + len(heading)
        following = re.search(r"^#{2,3} ", text[start:], re.MULTILINE)
        body = text[start : start + following.start()] if following else text[start:]
        tables[heading] = {key: default.strip() for key, default in _ROW.findall(body)}
    return tables


@pytest.mark.parametrize("heading", list(SECTIONS))
def test_each_table_lists_exactly_the_fields_of_its_class(root, heading) -> None:
    documented = set(_tables(root)[heading])
    fields = set(field_help(SECTIONS[heading]))
    assert documented - fields == set(), f"{heading}: documented keys that are not config keys"
    assert fields - documented == set(), f"{heading}: config keys missing from docs/config.md"


def _shown(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("heading", list(SECTIONS))
def test_plain_defaults_are_the_documented_ones(root, heading) -> None:
    table = _tables(root)[heading]
    for field in dataclasses.fields(SECTIONS[heading]):
        default = field.default
        if "help" not in field.metadata or isinstance(default, tuple) or default in (None, ""):
            continue
        if isinstance(default, str | int | float | bool):
            cell = table[field.name].replace("`", "")
            assert re.search(rf"(^|\W){re.escape(_shown(default))}($|\W)", cell), (
                f"docs/config.md {heading}: {field.name} defaults to {default!r}, the table says {cell!r}"
            )
