"""Faults of a local run, with real processes: the launcher killed with `kill -9` mid-filter and relaunched at
once, and a task that raises."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from datatrove.pipeline.base import PipelineStep

import smolprep.local_run
from smolprep.cli import main
from tests.conftest import ROOT, read_jsonl_folder, run_stage, sample_texts, write_jsonl, write_marked_copies

MARK = "SMOLPREP_TEST_RUN"  # in the environment of a launcher and of every process it starts

# Runs a command as its child and reaps every orphan it leaves, as an init process does (tini, systemd, ...):
# it exits only when none of the command's processes is left, with the command's exit code.
REAPER = """
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned descendants come to us
with open(sys.argv[1], "w") as log:
    child = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
print(child.pid, flush=True)
code = child.wait()
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
sys.exit(code if code >= 0 else 128 - code)
"""


def _read_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _final_documents(stage_dir: Path) -> dict[str, list[dict]]:
    return {p.name: _read_gz(p) for p in sorted((stage_dir / "data" / "en").glob("*.jsonl.gz"))}


@pytest.fixture(scope="module")
def long_filter_stage(tmp_path_factory):
    """A web stage whose two filter tasks run for several seconds each, and its clean run's final documents."""
    base = tmp_path_factory.mktemp("local-faults")
    write_marked_copies(base / "en", 8)
    config = base / "faults.yaml"
    config.write_text(
        "name: faults\nminhash: {num_buckets: 2}\ndatasets:\n  - {name: en, path: en, tasks: 2}\n"
    )
    clean = run_stage(config, base / "clean", extra=("--workers", "2"))
    assert clean.exit_code == 0
    return config, _final_documents(clean.layout.stage_dir)


class Launcher:
    """`launch.py` started under a reaper, with a mark in its environment that all its processes inherit."""

    def __init__(self, tmp_path: Path, config: Path, output: Path, name: str):
        self.mark = f"{name}-{uuid.uuid4().hex}"
        reaper = tmp_path / "reaper.py"
        reaper.write_text(REAPER)
        command = [sys.executable, str(ROOT / "launch.py"), "--config", str(config), "--cluster", "local"]
        self.log = tmp_path / f"{name}.out"
        self.reaper = subprocess.Popen(
            [sys.executable, str(reaper), str(self.log), *command, "--workers", "2", "--output", str(output)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, MARK: self.mark},
        )
        self.pid = int(self.reaper.stdout.readline())

    def processes(self) -> list[int]:
        """The live processes carrying this launcher's mark (the launcher, its fork server, workers, Manager)."""
        return [pid for pid in _marked(self.mark) if pid != self.reaper.pid]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGKILL)
        self.reaper.kill()
        self.reaper.wait()


def _marked(mark: str) -> list[int]:
    wanted = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _descendants(root: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, set()).add(int(entry.name))
    found, todo = set(), [root]
    while todo:
        found |= (new := children.get(todo.pop(), set()) - found)
        todo += new
    return found


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def test_kill_9_of_the_launcher_then_an_immediate_relaunch(long_filter_stage, tmp_path):
    config, clean = long_filter_stage
    output = tmp_path / "out"
    filter_logs = output / "faults" / "logs" / "en" / "filter"
    tmp = output / "faults" / "filtered" / "en" / "_tmp"

    def both_tasks_writing() -> bool:
        return len(list(tmp.glob("*.jsonl.gz"))) == 2 if tmp.is_dir() else False

    first = Launcher(tmp_path, config, output, "first")
    second = None
    try:
        _wait_for(both_tasks_writing, 120, "both filter tasks writing")
        assert not list((filter_logs / "completions").glob("*")), (
            "the filter tasks are too short for this test"
        )
        started = _descendants(first.pid)
        assert len(started) >= 4, f"expected a fork server, two workers and a Manager: {started}"
        os.kill(first.pid, signal.SIGKILL)  # the launcher alone, not its process group
        killed = time.monotonic()
        second = Launcher(tmp_path, config, output, "second")

        # within seconds, every process of the first launcher has ended and been reaped
        _wait_for(lambda: first.reaper.poll() is not None and not first.processes(), 5, "no process left")
        assert time.monotonic() - killed < 5
        assert first.reaper.returncode == 128 + signal.SIGKILL

        assert second.reaper.wait(timeout=300) == 0, second.output()
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert _final_documents(output / "faults") == clean
    for log in sorted((output / "faults" / "logs" / "en").glob("*/logs/task_*.log")):
        text = log.read_bytes()
        assert b"\0" not in text, f"{log}: written by two processes"
        assert text.count(b"Launching pipeline for rank=") == 1, f"{log}: a second writer"
        assert text.count(b"Processing done for rank=") == 1, f"{log}: a second writer"


class FailOnRank(PipelineStep):
    """Passes documents through, except on ``rank``, where it raises an error with a two-line message."""

    name = "fail on a rank"

    def __init__(self, rank: int):
        super().__init__()
        self.rank = rank

    def run(self, data, rank: int = 0, world_size: int = 1):
        if rank == self.rank:
            raise RuntimeError(f"rank {rank} read a damaged file\nno usable document in part-1.jsonl.gz")
        yield from data


def test_a_task_that_raises_leaves_a_failure_record_until_a_rerun_succeeds(tmp_path, monkeypatch, capsys):
    texts = sample_texts("en-web")[:40]
    for part in range(2):
        write_jsonl(tmp_path / "en" / f"part-{part}.jsonl", [{"text": t} for t in texts[part::2]])
    config = tmp_path / "raise.yaml"
    config.write_text("name: raise\ndatasets:\n  - {name: en, path: en, tasks: 2}\n")
    args = [
        "--config",
        str(config),
        "--cluster",
        "local",
        "--workers",
        "2",
        "--output",
        str(tmp_path / "out"),
    ]
    build = smolprep.local_run.build_step
    monkeypatch.setattr(
        smolprep.local_run,
        "build_step",
        lambda *a: (lambda steps: [steps[0], FailOnRank(1), *steps[1:]])(build(*a)),
    )

    assert main(args) == 1
    filter_logs = tmp_path / "out" / "raise" / "logs" / "en" / "filter"
    record = json.loads((filter_logs / "failures" / "00001.json").read_text())
    assert record["rank"] == 1
    assert record["error"] == "RuntimeError: no usable document in part-1.jsonl.gz"
    assert record["log"] == str(filter_logs / "logs" / "task_00001.log")
    assert "no usable document in part-1.jsonl.gz" in Path(record["log"]).read_text()
    assert time.time() - 300 < record["time"] <= time.time()
    assert not (filter_logs / "failures" / "00000.json").exists()
    said = capsys.readouterr().out
    assert f"failed en: filter: {record['error']}" in " ".join(said.split())
    assert f"(log:{record['log']})" in "".join(said.split())  # the terminal may wrap a long path

    monkeypatch.setattr(smolprep.local_run, "build_step", build)
    assert main(args) == 0
    assert not list((filter_logs / "failures").glob("*.json"))
    assert read_jsonl_folder(tmp_path / "out" / "raise" / "data" / "en")


class TwoFieldError(Exception):
    """An exception whose constructor needs two arguments: pickle rebuilds it from `args` (one) and fails."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


class FailOnRankWithTwoFieldError(FailOnRank):
    def run(self, data, rank: int = 0, world_size: int = 1):
        if rank == self.rank:
            raise TwoFieldError("part-1.jsonl.gz", "damaged")
        yield from data


def test_an_exception_that_cannot_be_unpickled_fails_the_launch_instead_of_hanging(
    tmp_path, monkeypatch, capsys
):
    texts = sample_texts("en-web")[:20]
    for part in range(2):
        write_jsonl(tmp_path / "en" / f"part-{part}.jsonl", [{"text": t} for t in texts[part::2]])
    config = tmp_path / "raise.yaml"
    config.write_text("name: raise\ndatasets:\n  - {name: en, path: en, tasks: 2}\n")
    build = smolprep.local_run.build_step
    monkeypatch.setattr(
        smolprep.local_run,
        "build_step",
        lambda *a: (lambda steps: [steps[0], FailOnRankWithTwoFieldError(1), *steps[1:]])(build(*a)),
    )
    out = tmp_path / "out"
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the launcher hung on the worker's exception"))
    signal.alarm(120)
    try:
        code = main(["--config", str(config), "--cluster", "local", "--workers", "2", "--output", str(out)])
    finally:
        signal.alarm(0)
    assert code == 1
    record = json.loads((out / "raise" / "logs" / "en" / "filter" / "failures" / "00001.json").read_text())
    assert record["error"] == "TwoFieldError: part-1.jsonl.gz: damaged"
    assert "TwoFieldError: part-1.jsonl.gz: damaged" in " ".join(capsys.readouterr().out.split())
