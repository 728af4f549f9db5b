"""Which files of a dataset repo hold a subset's split: the dataset card's `configs:` and the Hub's default
layout, as the Hub's dataset viewer reads them."""

from __future__ import annotations

import pytest

from smolprep.sources.patterns import ConfigNotFound, card_configs, glob_regex, split_files

CARD = """---
license: odc-by
configs:
  - config_name: vie_Latn
    data_files:
      - split: train
        path: data/vie_Latn/train/*
      - split: test
        path: [data/vie_Latn/test/*]
  - config_name: default
    default: true
    data_files: "data/*/train/*"
  - config_name: listed
    data_files: [extra/a.parquet, extra/b.parquet]
---
# FineWeb-2-like card
"""

FILES = [
    "README.md",
    "data/vie_Latn/train/000_00000.parquet",
    "data/vie_Latn/train/000_00001.parquet",
    "data/vie_Latn/train/000_00001.parquet.md5",
    "data/vie_Latn/test/000_00000.parquet",
    "data/fra_Latn/train/000_00000.parquet",
    "extra/a.parquet",
    "extra/b.parquet",
]


def test_a_card_names_its_configs_splits_and_patterns():
    configs = {c.name: c for c in card_configs(CARD)}
    assert configs["vie_Latn"].splits == {
        "train": ("data/vie_Latn/train/*",),
        "test": ("data/vie_Latn/test/*",),
    }
    assert configs["default"].default and configs["default"].splits == {"train": ("data/*/train/*",)}
    assert configs["listed"].splits == {"train": ("extra/a.parquet", "extra/b.parquet")}
    assert card_configs("# no front matter\n") == [] and card_configs("---\n: [\n---\n") == []


@pytest.mark.parametrize(
    ("subset", "split", "expected"),
    [
        (
            "vie_Latn",
            "train",
            ["data/vie_Latn/train/000_00000.parquet", "data/vie_Latn/train/000_00001.parquet"],
        ),
        ("vie_Latn", "test", ["data/vie_Latn/test/000_00000.parquet"]),
        (
            None,
            "train",
            [
                "data/fra_Latn/train/000_00000.parquet",
                *[f"data/vie_Latn/train/000_0000{i}.parquet" for i in (0, 1)],
            ],
        ),
        ("listed", "train", ["extra/a.parquet", "extra/b.parquet"]),
    ],
)
def test_the_files_of_a_subset_and_split_are_its_data_files_in_name_order(subset, split, expected):
    assert split_files(FILES, card_configs(CARD), subset, split, "org/repo") == expected


def test_a_missing_subset_or_split_names_the_ones_there_are():
    with pytest.raises(
        ConfigNotFound, match="org/repo has no subset 'fra'; its subsets: vie_Latn, default, listed"
    ):
        split_files(FILES, card_configs(CARD), "fra", "train", "org/repo")
    with pytest.raises(
        ConfigNotFound, match="subset 'vie_Latn' has no split 'validation'; its splits: train, test"
    ):
        split_files(FILES, card_configs(CARD), "vie_Latn", "validation", "org/repo")


def test_a_repo_without_configs_uses_the_hubs_default_layout():
    files = [
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
        "data/test-00000.parquet",
    ]
    assert split_files(files, [], None, "train", "org/repo") == files[:2]
    with pytest.raises(ConfigNotFound, match="declares no configs"):
        split_files(files, [], "en", "train", "org/repo")


def test_globs_keep_single_stars_within_a_folder():
    assert glob_regex("data/*.parquet").match("data/a.parquet")
    assert not glob_regex("data/*.parquet").match("data/x/a.parquet")
    assert glob_regex("data/**/*.parquet").match("data/x/y/a.parquet")
    assert glob_regex("data/**/*.parquet").match("data/a.parquet")
