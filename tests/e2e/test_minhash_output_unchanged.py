"""The sample stage (every dataset `dedup: minhash`, the default) writes byte-identical final files to what it
wrote before the step registry and sentence dedup existed: tests/data/sample_data_sha256.json holds the
SHA-256 of every file under data/ of that earlier run, and its `_generated` key says how it was made.

Each record's metadata names its input folder and file by absolute path, so the inputs are copied to the
same fixed folder the recorded run read them from."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from tests.conftest import ROOT, run_stage

EXPECTED = ROOT / "tests" / "data" / "sample_data_sha256.json"
FIXED = Path("/tmp/smolprep-regression-sample")  # where the recorded run's inputs were


def _fixed_inputs() -> Path:
    (FIXED / "configs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "configs" / "sample.yaml", FIXED / "configs" / "sample.yaml")
    for dataset in ("en-web", "vi-web", "code"):
        shutil.copytree(ROOT / "sample" / dataset, FIXED / "sample" / dataset, dirs_exist_ok=True)
    return FIXED / "configs" / "sample.yaml"


def test_sample_final_files_are_byte_identical_to_before(tmp_path):
    run = run_stage(_fixed_inputs(), tmp_path / "out")
    assert run.exit_code == 0
    expected = json.loads(EXPECTED.read_text())["files"]
    data = run.layout.stage_dir / "data"
    actual = {
        str(path.relative_to(data)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(data.rglob("*"))
        if path.is_file()
    }
    assert actual == expected
