"""The dev Slurm of cluster/dev-slurm/ is a real cluster: idempotent start, arrays, dependencies."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .conftest import DevSlurm, conf_from_output, describe, run_start_sh

pytestmark = pytest.mark.slurm


def run(*cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail(describe(proc), pytrace=False)
    return proc


def sbatch(*args: str) -> str:
    """Submit with ``sbatch --parsable``; return the job id."""
    out = run("sbatch", "--parsable", *args).stdout.strip()
    job_id = out.split(";")[0]
    assert job_id.isdigit(), f"sbatch --parsable printed {out!r}"
    return job_id


def queued(job_ids: set[str]) -> list[str]:
    """squeue lines (base job id, job, state, reason) of those jobs still pending or running."""
    lines = run("squeue", "-h", "-o", "%F %i %T %r").stdout.splitlines()
    return [line for line in lines if line.split(" ", 1)[0] in job_ids]


def wait_gone(job_ids: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while remaining := queued(job_ids):
        if time.monotonic() > deadline:
            pytest.fail(f"jobs still in squeue after {timeout:.0f} s: {remaining}\n{jobs_info(job_ids)}")
        time.sleep(1)


def jobs_info(job_ids: set[str]) -> str:
    return "\n".join(run("scontrol", "show", "job", j, check=False).stdout for j in sorted(job_ids))


def pids(dev_slurm: DevSlurm) -> dict[str, str]:
    out = {}
    for daemon, key in (("slurmctld", "SlurmctldPidFile"), ("slurmd", "SlurmdPidFile")):
        pidfile = dev_slurm.conf_value(key)
        assert pidfile, f"no {key} in {dev_slurm.conf}"
        out[daemon] = Path(pidfile).read_text().strip()
    return out


def test_start_twice_is_fast_and_keeps_the_cluster(dev_slurm: DevSlurm) -> None:
    before = pids(dev_slurm)
    for _ in range(2):
        started = time.monotonic()
        proc = run_start_sh(timeout=120)
        elapsed = time.monotonic() - started
        assert proc.returncode == 0, describe(proc)
        assert conf_from_output(proc.stdout) == dev_slurm.conf, describe(proc)
        assert proc.stdout.splitlines()[-1] == f"export SLURM_CONF={dev_slurm.conf}"
        assert elapsed < 10, f"second start.sh took {elapsed:.1f} s:\n{describe(proc)}"
    assert pids(dev_slurm) == before, "start.sh with unchanged settings restarted the daemons"
    assert run("sinfo", "-h", "-p", "cpu", "-o", "%a").stdout.strip() == "up"


def test_array_then_afterok_dependency(dev_slurm: DevSlurm, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    common = ["--partition", "cpu", "--chdir", str(tmp_path), "--export", f"ALL,OUT={out}"]
    array_script = tmp_path / "array.sh"
    array_script.write_text('#!/bin/bash\nset -eu\nsleep 1\ntouch "$OUT/task-$SLURM_ARRAY_TASK_ID"\n')
    after_script = tmp_path / "after.sh"
    after_script.write_text(
        '#!/bin/bash\nset -eu\nfor i in 0 1 2; do test -f "$OUT/task-$i"; done\ntouch "$OUT/after-all"\n'
    )

    array_id = sbatch(
        *common,
        "--job-name",
        "dev-array",
        "--array=0-2",
        "--output",
        f"{tmp_path}/%x-%A_%a.out",
        str(array_script),
    )
    after_id = sbatch(
        *common,
        "--job-name",
        "dev-after",
        f"--dependency=afterok:{array_id}",
        "--output",
        f"{tmp_path}/%x-%j.out",
        str(after_script),
    )
    wait_gone({array_id, after_id}, timeout=120)

    written = sorted(p.name for p in out.iterdir())
    assert written == ["after-all", "task-0", "task-1", "task-2"], (
        f"{written}\n{jobs_info({array_id, after_id})}\nlogs: {sorted(p.name for p in tmp_path.glob('*.out'))}"
    )


def test_afterok_on_a_failed_job_never_runs(dev_slurm: DevSlurm, tmp_path: Path) -> None:
    common = ["--partition", "cpu", "--chdir", str(tmp_path), "--output", f"{tmp_path}/%x-%j.out"]
    failing = sbatch(*common, "--job-name", "dev-fails", "--wrap", "exit 1")
    dependent = sbatch(
        *common, "--job-name", "dev-never", f"--dependency=afterok:{failing}", "--wrap", "true"
    )
    try:
        deadline = time.monotonic() + 60
        reason = state = ""
        while time.monotonic() < deadline:
            state, _, reason = (
                run("squeue", "-h", "-j", dependent, "-o", "%T %r").stdout.strip().partition(" ")
            )
            if reason == "DependencyNeverSatisfied":
                break
            time.sleep(1)
        assert (state, reason) == ("PENDING", "DependencyNeverSatisfied"), jobs_info({failing, dependent})
    finally:
        run("scancel", dependent, check=False)
    wait_gone({failing, dependent}, timeout=30)


def test_test_only_checks_the_partition(dev_slurm: DevSlurm) -> None:
    ok = run("sbatch", "--test-only", "--partition", "cpu", "--wrap", "true", check=False)
    assert ok.returncode == 0, describe(ok)
    assert "to start at" in ok.stderr, describe(ok)

    bad = run("sbatch", "--test-only", "--partition", "no-such", "--wrap", "true", check=False)
    assert bad.returncode != 0, describe(bad)
    assert "invalid partition" in bad.stderr.lower(), describe(bad)


def config_value(key: str) -> str:
    for line in run("scontrol", "show", "config").stdout.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    pytest.fail(f"{key} not in 'scontrol show config'")


def test_other_limits_restart_the_daemons(dev_slurm: DevSlurm) -> None:
    """start.sh with other settings rewrites slurm.conf and restarts; without them it restores."""
    session_limits = {key: dev_slurm.conf_value(key) for key in ("MaxArraySize", "MaxJobCount")}
    session_age = f"{dev_slurm.conf_value('MinJobAge')} sec"
    try:
        proc = run_start_sh(
            "--max-array-size", "7", "--max-job-count", "777", "--min-job-age", "5", timeout=180
        )  # fmt: skip
        assert proc.returncode == 0, describe(proc)
        assert conf_from_output(proc.stdout) == dev_slurm.conf
        assert config_value("MaxArraySize") == "7"
        assert config_value("MaxJobCount") == "777"
        assert config_value("MinJobAge") == "5 sec"
        too_big = run("sbatch", "--test-only", "--array=0-9", "--wrap", "true", check=False)
        assert too_big.returncode != 0, describe(too_big)
    finally:
        restored = run_start_sh(timeout=180)
    assert restored.returncode == 0, describe(restored)
    assert {key: config_value(key) for key in session_limits} == session_limits
    assert config_value("MinJobAge") == session_age
    avail, state = run("sinfo", "-h", "-p", "cpu", "-o", "%a %T").stdout.split()
    assert (avail, state in {"idle", "mixed", "allocated"}) == ("up", True), state
