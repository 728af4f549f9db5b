"""Accounting on the dev Slurm (slurmdbd + MariaDB, started by cluster/dev-slurm/start.sh): sacct keeps
finished jobs with their final states (COMPLETED, OUT_OF_MEMORY past --mem, TIMEOUT past --time) and
sampled MaxRSS, sacctmgr's association limits refuse a submission, and --no-accounting turns it off."""

from __future__ import annotations

import getpass
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import DevSlurm, describe, run_start_sh

pytestmark = pytest.mark.slurm

SACCT_FORMAT = "JobID,State,ExitCode,MaxRSS,Elapsed,Timelimit,ReqMem,TotalCPU,AllocCPUS"
UNFINISHED = {"PENDING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"}
# Grows by 20 MiB every 0.1 s up to 600 MiB: far past a 100 MiB --mem, but bounded.
GREEDY = "import time\nb = []\nfor _ in range(30):\n    b.append(bytearray(20 << 20)); time.sleep(0.1)\ntime.sleep(5)\n"
# Holds 60 MiB for 4 s: long enough for the memory sampling (every 2 s) to see it.
MODEST = "import time\nb = bytearray(60 << 20)\ntime.sleep(4)\n"


def run(*cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail(describe(proc), pytrace=False)
    return proc


def sbatch(tmp_path: Path, *args: str) -> str:
    out = run(
        "sbatch", "--parsable", "--partition", "cpu", "--chdir", str(tmp_path),
        "--output", f"{tmp_path}/%x-%j.out", *args,
    ).stdout.strip()  # fmt: skip
    job_id = out.split(";")[0]
    assert job_id.isdigit(), f"sbatch --parsable printed {out!r}"
    return job_id


def python_job(tmp_path: Path, name: str, code: str) -> Path:
    script = tmp_path / f"{name}.sh"
    script.write_text(f"#!/bin/bash\nexec {sys.executable} - <<'EOF'\n{code}EOF\n")
    return script


def sacct(job_ids: list[str]) -> dict[str, list[str]]:
    """sacct's lines (-n -P) by JobID: the jobs and their steps (``123``, ``123.batch``)."""
    text = run("sacct", "-n", "-P", "-o", SACCT_FORMAT, "-j", ",".join(job_ids)).stdout
    return {line.split("|")[0]: line.split("|") for line in text.splitlines() if line}


def wait_final(job_ids: list[str], timeout: float) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = sacct(job_ids)
        states = {j: rows[j][1] if j in rows else "missing" for j in job_ids}
        if all(s != "missing" and s not in UNFINISHED for s in states.values()):
            return rows
        if time.monotonic() > deadline:
            pytest.fail(f"not finished in sacct after {timeout:.0f} s: {states}\n{rows}")
        time.sleep(2)


def mebibytes(size: str) -> float:
    """sacct's MaxRSS (``61440K``, ``60M``, ``0``) in MiB."""
    match = re.fullmatch(r"([\d.]+)([KMGT]?)", size)
    assert match, f"MaxRSS {size!r}"
    return float(match.group(1)) * {"": 2**-20, "K": 2**-10, "M": 1, "G": 2**10, "T": 2**20}[match.group(2)]


def test_sacct_keeps_completed_out_of_memory_and_timeout(dev_slurm: DevSlurm, tmp_path: Path) -> None:
    ok = sbatch(tmp_path, "--job-name", "acct-ok", "--mem=200M", str(python_job(tmp_path, "ok", MODEST)))
    oom = sbatch(tmp_path, "--job-name", "acct-oom", "--mem=100M", str(python_job(tmp_path, "oom", GREEDY)))
    late = sbatch(tmp_path, "--job-name", "acct-late", "--time=1", "--wrap", "sleep 600")
    # --time=1 is Slurm's shortest limit: the job runs 1 min, Slurm notices it within 30 s, kills it.
    rows = wait_final([ok, oom, late], timeout=180)
    states = {name: rows[j][1] for name, j in (("ok", ok), ("oom", oom), ("late", late))}
    assert states == {"ok": "COMPLETED", "oom": "OUT_OF_MEMORY", "late": "TIMEOUT"}, rows
    assert rows[late][5] == "00:01:00", rows[late]  # Timelimit
    assert mebibytes(rows[f"{ok}.batch"][3]) >= 50, f"MaxRSS not sampled: {rows[f'{ok}.batch']}"
    assert rows[ok][2] == "0:0" and rows[oom][6] == "100M", rows


def assoc_max_submit(user: str) -> set[str]:
    """The MaxSubmitJobs slurmctld enforces on the user's associations: ``2`` (printed ``2(<queued>)``),
    or ``""`` for no limit."""
    text = run("scontrol", "show", "assoc_mgr", "flags=assoc", f"users={user}").stdout
    blocks = [b for b in text.split("ClusterName=") if f" UserName={user}(" in b]
    assert blocks, f"no association of {user} in slurmctld:\n{text}"
    return {re.sub(r"\(.*", "", m) for b in blocks for m in re.findall(r"MaxSubmitJobs=(\S*)", b)}


def wait_limit(user: str, value: str) -> None:
    deadline = time.monotonic() + 30
    while assoc_max_submit(user) != {value}:
        if time.monotonic() > deadline:
            pytest.fail(f"slurmctld's MaxSubmitJobs for {user} is {assoc_max_submit(user)}, not {value}")
        time.sleep(0.5)


def test_max_submit_jobs_refuses_the_third_sbatch(dev_slurm: DevSlurm, tmp_path: Path) -> None:
    me = getpass.getuser()
    deadline = time.monotonic() + 120  # the limit counts every queued job of ours: start from none
    while queued := run("squeue", "-h", "-u", me, "-o", "%i %T").stdout.split("\n")[:-1]:
        if time.monotonic() > deadline:
            pytest.fail(f"jobs of {me} still queued, the limit would count them: {queued}")
        time.sleep(1)
    held: list[str] = []
    try:
        run("sacctmgr", "-i", "modify", "user", me, "set", "MaxSubmitJobs=2")
        wait_limit(me, "2")
        held = [sbatch(tmp_path, "--hold", "--wrap", "true") for _ in range(2)]
        third = run("sbatch", "--parsable", "--hold", "--chdir", str(tmp_path), "--wrap", "true", check=False)
        assert third.returncode != 0, describe(third)
        assert "AssocMaxSubmitJobLimit" in third.stderr, describe(third)
        assert "Job violates accounting/QOS policy" in third.stderr, describe(third)
    finally:
        if held:
            run("scancel", *held, check=False)
        run("sacctmgr", "-i", "modify", "user", me, "set", "MaxSubmitJobs=-1", check=False)
    wait_limit(me, "")
    again = [sbatch(tmp_path, "--hold", "--wrap", "true") for _ in range(3)]
    run("scancel", *again)


def test_no_accounting_stops_the_database_and_start_restores_it(dev_slurm: DevSlurm, tmp_path: Path) -> None:
    run_dir = dev_slurm.state_dir / "run"
    done = sbatch(tmp_path, "--wrap", "true")
    wait_final([done], timeout=60)
    try:
        proc = run_start_sh("--no-accounting", timeout=180)
        assert proc.returncode == 0, describe(proc)
        assert proc.stdout.splitlines()[-1] == f"export SLURM_CONF={dev_slurm.conf}"
        assert dev_slurm.conf_value("AccountingStorageType") == "accounting_storage/none"
        assert not (run_dir / "slurmdbd.pid").exists() and not (run_dir / "mariadbd.pid").exists()
        off = run("sacct", "-n", "-j", done, check=False)
        assert off.returncode != 0, describe(off)
        assert sbatch(tmp_path, "--wrap", "true").isdigit()  # the cluster itself still runs jobs
    finally:
        restored = run_start_sh(timeout=180)
    assert restored.returncode == 0, describe(restored)
    assert dev_slurm.conf_value("AccountingStorageType") == "accounting_storage/slurmdbd"
    assert sacct([done])[done][1] == "COMPLETED"  # the database kept the job across the restart
