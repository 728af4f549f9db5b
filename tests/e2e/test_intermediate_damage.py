"""Damage to an intermediate file never gives a different set of documents with exit 0.

A clean run of a two-dataset stage is copied; one file of `filtered/<dataset>/` is damaged (flipped bytes,
a truncated file, a garbled line, a line that stays valid JSON but changes its text, a removed line), the
markers and outputs of the steps after `filter` are removed for that dataset, and the stage is relaunched:
its final documents are exactly the clean run's, or the relaunch fails and its output names the file. Some
cases rerun only minhash-filter, so the signatures come from the intact file and the damaged one is read
by the step that removes documents by index.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from smolprep.cli import main
from tests.conftest import ROOT, read_jsonl_folder, run_stage

DATASET = "en-web"
DAMAGED = "00000.jsonl.gz"


def _flip_bytes(rng: random.Random, data: bytes) -> bytes:
    flipped = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        flipped[rng.randrange(len(flipped))] ^= rng.randint(1, 255)
    return bytes(flipped)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) // 4, len(data) - 1)]


def _edit_lines(edit: Callable[[random.Random, list[bytes]], list[bytes]]):
    def damage(rng: random.Random, data: bytes) -> bytes:
        return gzip.compress(b"".join(edit(rng, gzip.decompress(data).splitlines(keepends=True))))

    return damage


def _garble(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    i = rng.randrange(len(lines))
    cut = rng.randrange(1, len(lines[i]) - 1)
    lines[i] = lines[i][:cut] + bytes(rng.randrange(256) for _ in range(8)) + lines[i][cut + 8 :]
    return lines


def _change_text(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    i = rng.randrange(len(lines))
    record = json.loads(lines[i])
    words = record["text"].split(" ")
    words[rng.randrange(len(words))] = "changed"
    record["text"] = " ".join(words)
    lines[i] = json.dumps(record, ensure_ascii=False).encode() + b"\n"
    return lines


def _drop_line(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    del lines[rng.randrange(len(lines))]
    return lines


KINDS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "flipped bytes": _flip_bytes,
    "truncated": _truncate,
    "garbled line": _edit_lines(_garble),
    "valid JSON, changed text": _edit_lines(_change_text),
    "line removed": _edit_lines(_drop_line),
}
DAMAGES = [(kind, seed) for kind in KINDS for seed in range(3 if "line" in kind or "bytes" in kind else 2)]
# the steps rerun after the damage: every MinHash step, or only minhash-filter (signatures of the intact file)
RERUN = {"minhash": ("minhash-signatures", "minhash-buckets", "minhash-cluster", "minhash-filter")}
RERUN["filter-only"] = ("minhash-filter",)
CASES = [(kind, seed, "minhash") for kind, seed in DAMAGES]
CASES += [(kind, 9, "filter-only") for kind in ("garbled line", "valid JSON, changed text", "line removed")]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("clean")
    config = base / "stage.yaml"
    config.write_text(
        "name: damage\ndatasets:\n"
        f"  - {{name: {DATASET}, path: {ROOT / 'sample' / DATASET}, kind: web, language: en, tasks: 2}}\n"
        f"  - {{name: code, path: {ROOT / 'sample' / 'code'}, kind: code, tasks: 2}}\n"
    )
    run = run_stage(config, base / "out")
    assert run.exit_code == 0
    assert (run.layout.filtered(DATASET) / DAMAGED).is_file()
    return config, run.layout.stage_dir


def _documents(folder: Path) -> list[dict]:
    return sorted(read_jsonl_folder(folder), key=lambda record: record["id"])


def _forget(stage_dir: Path, steps: tuple[str, ...]) -> None:
    """Remove the markers and outputs of `steps` for the damaged dataset."""
    for step in steps:
        shutil.rmtree(stage_dir / "logs" / DATASET / step)
    if "minhash-signatures" in steps:
        shutil.rmtree(stage_dir / "minhash" / DATASET)
    shutil.rmtree(stage_dir / "data" / DATASET)


@pytest.mark.parametrize(("kind", "seed", "rerun"), CASES, ids=["-".join(map(str, case)) for case in CASES])
def test_damage_gives_the_clean_documents_or_a_failure_naming_the_file(
    clean_run, tmp_path, capsys, kind, seed, rerun
):
    config, clean_stage = clean_run
    clean = _documents(clean_stage / "data" / DATASET)
    copy = tmp_path / "out"
    shutil.copytree(clean_stage.parent, copy)
    stage_dir = copy / clean_stage.name
    target = stage_dir / "filtered" / DATASET / DAMAGED
    original = target.read_bytes()
    target.write_bytes(KINDS[kind](random.Random(f"{kind}-{seed}"), original))
    assert target.read_bytes() != original
    _forget(stage_dir, RERUN[rerun])
    capsys.readouterr()

    code = main(["--config", str(config), "--cluster", "local", "--output", str(copy)])
    out = capsys.readouterr().out

    if code == 0:
        assert _documents(stage_dir / "data" / DATASET) == clean, f"{kind}: other documents with exit 0"
    else:
        assert "".join(str(target).split()) in "".join(out.split()), (
            f"{kind}: the output does not name {target}"
        )
