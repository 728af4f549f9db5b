"""The benchmark runs end to end in its quick mode (no timing is asserted: only that it measures, and that
stock and smolprep agree on every decision, signature and duplicate cluster)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench(script: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run bench/<script> with the test's Python; fails with its output unless it exits 0."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_quick_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = _bench("run.py", "--quick", "--json", str(out))
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


def test_stage_benchmark_smoke(tmp_path: Path) -> None:
    """bench/stage.py runs a stock-datatrove stage and launch.py on the same data and compares their output
    (no timing asserted: only that both ran, were measured, and kept the same documents)."""
    out = tmp_path / "stage.json"
    _bench("stage.py", "--every", "8", "--json", str(out), timeout=600)
    report = json.loads(out.read_text())
    assert report["docs"] == 113  # every 8th of the 299 English and 597 Vietnamese documents (38 + 75)
    assert all(cpu > 0 for runs in report["cpu_s"].values() for cpu in runs)
    assert report["final_documents"]["stock"] > 0
    assert report["final_documents"]["stock"] == report["final_documents"]["smolprep"]
    assert report["in_common"] == 1.0


def test_report_benchmark_smoke(tmp_path: Path) -> None:
    """bench/report.py builds a synthetic stage and reports it from the stats and by reading every final
    file (no timing asserted: only that both ran, were measured, and wrote the same manifest)."""
    out = tmp_path / "report.json"
    _bench("report.py", "--quick", "--json", str(out))
    report = json.loads(out.read_text())
    assert report["tasks"] > 100 and report["final_files"] > 10 and report["final_text_bytes"] > 0
    assert report["same_manifest"] is True
    assert all(s > 0 for s in report["stats_seconds"] + report["read_seconds"])
