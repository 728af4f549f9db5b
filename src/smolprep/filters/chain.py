"""Which filters a dataset's `filter` step runs: the names a config's `filters:` uses and each kind's chain.

One place for both, so that config validation (``smolprep.config.stage``) and the pipeline builder
(``smolprep.pipelines.build.prose_filters``) agree. A kind's chain lists its filters in run order; a dataset
that names some of them runs those, still in that order; ``none`` runs no filter (reader -> writer).

- ``language``: language ID (lid.176) to the dataset's language(s); it also writes ``metadata.language``,
  which the word-based filters after it read;
- ``repetition``: Gopher repetition, per document language;
- ``fineweb-quality``: FineWeb quality, per document language; it passes documents of a language without
  FineWeb-2 values (English) and every document of a math dataset;
- ``gopher-quality``: Gopher quality, per document language (math: the formula-friendly settings);
- ``spam``: the spam phrase lists;
- ``code-sanity``: the cheap checks for source files.
"""

from __future__ import annotations

from collections.abc import Sequence

NO_FILTERS = "none"  # the config word for an empty selection
ALL_FILTERS = "all"  # the config word for the kind's full chain (the default)

CHAINS: dict[str, tuple[str, ...]] = {
    "web": ("language", "repetition", "fineweb-quality", "gopher-quality", "spam"),
    "math": ("language", "repetition", "fineweb-quality", "gopher-quality"),
    "code": ("code-sanity",),
}
FILTER_NAMES: tuple[str, ...] = tuple(dict.fromkeys(name for chain in CHAINS.values() for name in chain))
# filters that judge a document by its language: without `language` before them, every document is taken
# to be in the dataset's first language
WORD_FILTERS = frozenset({"repetition", "fineweb-quality", "gopher-quality"})


def chain_of(kind: str) -> tuple[str, ...]:
    """The full chain of a dataset kind, in run order."""
    return CHAINS[kind]


def selected_filters(kind: str, selection: Sequence[str] | None) -> tuple[str, ...]:
    """The filters a dataset runs, in the chain's order: the kind's full chain when `selection` is None."""
    chain = chain_of(kind)
    return chain if selection is None else tuple(name for name in chain if name in selection)


def kinds_running(name: str) -> list[str]:
    """The kinds whose chain has filter `name`."""
    return [kind for kind, chain in CHAINS.items() if name in chain]


def chains_text() -> str:
    """'web: language, repetition, ...; math: ...; code: code-sanity', for help texts and messages."""
    return "; ".join(f"{kind}: {', '.join(chain)}" for kind, chain in CHAINS.items())
