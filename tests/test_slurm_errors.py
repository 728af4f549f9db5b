"""Slurm failures at the command line: one line on stderr, no traceback, and the exit code of the case:
2 when the command line chose a Slurm profile on a machine without Slurm (launch, resubmit: nothing is
written or submitted), 1 when a Slurm command failed or a submitted run's jobs cannot be asked about."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from smolprep.cli import main
from smolprep.slurm.errors import NO_SLURM
from tests.fakes.slurm import FakeSlurm
from tests.fakes.stage import write_stage

CONTROLLER_DOWN = "slurm_load_jobs error: Unable to contact slurm controller (connect failure)"


def _stub(folder, name: str, body: str):
    """A Slurm command on PATH that runs `body` (POSIX sh, builtins only)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return folder


def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def submitted(tmp_path):
    """A stage launched on the fake Slurm: run.json and a ledger of queued jobs."""
    files = write_stage(tmp_path)
    fake = FakeSlurm()
    assert main(files.argv(), slurm=fake) == 0
    assert fake.queued_tasks() > 0
    return files


def test_no_slurm_on_the_machine_is_one_line_for_every_command(submitted, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    capsys.readouterr()
    for command, expected in (("launch", 2), ("resubmit", 2), ("status", 1), ("logs", 1), ("cancel", 1)):
        argv = submitted.argv() if command == "launch" else submitted.argv(command)
        code = main(argv)
        line = _one_line(capsys.readouterr().err)
        assert (code, line) == (expected, f"error: {NO_SLURM}"), command


def test_a_first_launch_without_slurm_writes_nothing_and_local_needs_no_slurm(tmp_path, monkeypatch, capsys):
    files = write_stage(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(files.argv()) == 2
    assert _one_line(capsys.readouterr().err) == f"error: {NO_SLURM}"
    assert not files.output.exists()
    assert main([*files.argv()[:2], "--cluster", "local", "--output", str(files.output), "--dry-run"]) == 0
    assert main(files.argv("--dry-run")) == 0  # a Slurm dry run prints the scripts without Slurm
    assert main(files.argv("--dry-run", "--test-only")) == 2  # ... but --test-only needs it
    assert _one_line(capsys.readouterr().err) == f"error: {NO_SLURM}"


def test_squeue_failing_is_one_line_and_exit_1(submitted, tmp_path, monkeypatch, capsys):
    bin_dir = _stub(tmp_path / "bin", "squeue", f"echo '{CONTROLLER_DOWN}' >&2; exit 1")
    _stub(bin_dir, "sbatch", 'echo "sbatch: Job 7 to start at 2026-01-01T00:00:00" >&2; exit 0')
    monkeypatch.setenv("PATH", str(bin_dir))
    capsys.readouterr()
    for command in ("cancel", "logs", "status", "resubmit", "launch"):
        code = main(submitted.argv() if command == "launch" else submitted.argv(command))
        line = _one_line(capsys.readouterr().err)
        assert code == 1 and line.startswith("error: ") and CONTROLLER_DOWN in line, command


def test_sbatch_refusing_the_driver_job_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    refusal = "sbatch: error: Batch job submission failed: Invalid qos specification"
    script = (
        'case "$*" in *--test-only*) echo "sbatch: Job 7 to start" >&2; exit 0;; esac\n'
        f'echo "{refusal}" >&2; exit 1'
    )
    bin_dir = _stub(tmp_path / "bin", "sbatch", script)
    _stub(bin_dir, "scontrol", "echo 'MaxArraySize = 1001'; echo 'MaxJobCount = 10000'")
    monkeypatch.setenv("PATH", str(bin_dir))
    files = write_stage(tmp_path, "max_array_size: 1001\nmax_queued_tasks: 3\nmax_tasks_per_job: 1\n")
    assert main(files.argv()) == 1  # does not fit at once: a driver job would submit the waves
    assert _one_line(capsys.readouterr().err) == f"error: sbatch refused the job: {refusal}"


def test_sbatch_refusing_the_arrays_names_the_failed_steps_and_exits_1(tmp_path, monkeypatch, capsys):
    fake = FakeSlurm()
    fake.refuse_next = ["sbatch: error: Batch job submission failed: Invalid account"] * 2
    files = write_stage(tmp_path)
    assert main(files.argv(), slurm=fake) == 1
    out = capsys.readouterr().out
    assert "Traceback" not in out and out.count("Invalid account") == 2  # each dataset's first step
    assert {job.name for job in fake.jobs.values()} == set()  # a dataset stops at its first failed step


def test_a_busy_controller_past_the_preflight_wait_is_a_config_issue(tmp_path, monkeypatch, capsys):
    import smolprep.slurm.submit as submit

    clock = iter(range(0, 10_000, 100))  # each look at the clock: 100 s later, past the 180 s wait soon
    monkeypatch.setattr(submit, "time", SimpleNamespace(monotonic=lambda: next(clock), sleep=lambda s: None))
    busy = "sbatch: error: Batch job submission failed: Resource temporarily unavailable"
    bin_dir = _stub(tmp_path / "bin", "sbatch", f"echo '{busy}' >&2; exit 1")
    monkeypatch.setenv("PATH", str(bin_dir))
    files = write_stage(tmp_path)
    assert main(files.argv()) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and busy in err and not files.output.exists()


def test_the_real_client_on_stub_commands(tmp_path, monkeypatch):
    from smolprep.slurm.client import RealSlurm
    from smolprep.slurm.errors import SbatchBusy, SbatchError, SlurmNotFound

    seen = tmp_path / "seen"
    body = (
        f'echo "$*" > {seen}/args\n'
        f'while IFS= read -r line; do echo "$line"; done > {seen}/stdin\n'
        f'echo "${{SLURM_JOB_ID:-none}} ${{SLURM_CONF:-none}}" > {seen}/env\n'
        'case "$*" in *afterok:9*) echo "sbatch: error: Resource temporarily unavailable" >&2; exit 1;; '
        '*afterok:8*) echo "sbatch: error: Invalid account" >&2; exit 1;; esac\necho "4242;cluster"'
    )
    seen.mkdir()
    monkeypatch.setenv("PATH", str(_stub(tmp_path / "bin", "sbatch", body)))
    monkeypatch.setenv("SLURM_JOB_ID", "77")  # as inside the wave driver's own job
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/dev.conf")
    slurm = RealSlurm()
    assert slurm.sbatch("#!/bin/bash\ntrue\n", ["12", "13"]) == "4242"
    assert (seen / "args").read_text() == "--parsable --dependency=afterok:12:13\n"
    assert (seen / "stdin").read_text() == "#!/bin/bash\ntrue\n"
    assert (seen / "env").read_text() == "none /etc/slurm/dev.conf\n"  # the job's SLURM_* stay behind
    with pytest.raises(SbatchBusy):
        slurm.sbatch("x", ["9"])
    with pytest.raises(SbatchError) as refused:
        slurm.sbatch("x", ["8"])
    assert refused.value.said == "sbatch: error: Invalid account" and not isinstance(
        refused.value, SbatchBusy
    )
    with pytest.raises(SlurmNotFound) as missing:
        slurm.scancel(["4242"])
    assert missing.value.command == "scancel" and str(missing.value) == NO_SLURM
    assert slurm.accounting(["4242"]) is None  # no sacct: no accounting, not an error
