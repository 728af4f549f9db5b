"""The tokenize steps on the dev Slurm write the same shards, byte for byte, as a local run of the same
stage: the seeded shuffle does not depend on where the tasks ran."""

from __future__ import annotations

import pytest

from tests.conftest import run_stage
from tests.e2e.test_tokenize import exact_tokenizer, read_documents, tokenize_config
from tests.slurm.conftest import quick_wait

pytestmark = pytest.mark.slurm


def test_tokenized_shards_on_slurm_are_byte_identical_to_a_local_run(dev_slurm, tmp_path):
    config = tokenize_config(tmp_path, exact_tokenizer(tmp_path))
    local = run_stage(config, tmp_path / "local")
    assert local.exit_code == 0
    with quick_wait():
        slurm = run_stage(config, tmp_path / "slurm", None, "dev-slurm", ["--wait"])
    assert slurm.exit_code == 0, f"logs in {slurm.layout.stage_dir / 'logs'}"
    for name in ("en-web", "vi-web", "code"):
        here = {p.name: p.read_bytes() for p in local.layout.tokenized(name).iterdir()}
        there = {p.name: p.read_bytes() for p in slurm.layout.tokenized(name).iterdir()}
        assert here == there and len(read_documents(slurm.layout.tokenized(name))) > 0
