"""The benchmark runs end to end in its quick mode (no timing is asserted: only that it measures, and that
stock and smolprep agree on every decision, signature and duplicate cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "keep/drop agreement" in done.stdout
    report = json.loads(out.read_text())
    assert set(report["jobs"]) == {
        f"mixed/{job}"
        for job in ("filter-stock", "filter-smolprep", "filter-io", "signatures-stock", "signatures-smolprep")
    }
    for job in report["jobs"].values():
        assert job["cpu_s"] > 0 and job["max_rss_mb"] > 0
    assert report["agreement"]["mixed"]["fraction"] == 1.0
    assert report["minhash"]["mixed"] == {
        "signature_files_identical": True,
        "remove_files_identical": True,
        "remove_bytes": report["minhash"]["mixed"]["remove_bytes"],
    }
