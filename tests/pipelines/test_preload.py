"""Local worker start-up: the fork server preloads our modules and models; datatrove/loguru caches; the
workers, the fork server and datatrove's Manager die with their launcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from datatrove.utils import _import_utils
from loguru._better_exceptions import ExceptionFormatter

import smolprep.pipelines  # noqa: F401  (applies the speedups)
from smolprep.state.lock import pid_alive
from tests.conftest import ROOT

WORKER_PROBE = textwrap.dedent(
    """
    import json, os, sys

    import multiprocess

    from smolprep.pipelines.preload import warm_fork_server


    def probe(_):
        import sys
        from smolprep.filters import fast_lid
        from smolprep.pipelines import preload
        from smolprep.text import words

        return {
            "pid": os.getpid(),
            "preload_loaded_by": preload.LOADED_BY,
            "modules": sorted(m for m in ("smolprep.cli", "smolprep.pipelines.steps", "datatrove.executor", "numpy") if m in sys.modules),
            "tokenizers": words.word_tokenizer.cache_info().currsize,
            "vi_model_loaded": words.word_tokenizer("vi")._model is not None,
            "lid_loaded": bool(fast_lid._PREDICTORS),
        }


    if __name__ == "__main__":
        warm_fork_server(["en", "vi"])
        with multiprocess.get_context("forkserver").Pool(1) as pool:
            print(json.dumps({"launcher": os.getpid(), **pool.map(probe, [0])[0]}))
    """
)


def test_fork_server_workers_start_with_modules_and_tokenizers_loaded(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(WORKER_PROBE)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    worker = json.loads(done.stdout.strip().splitlines()[-1])
    # a worker forked from the preloaded server finds everything imported and both tokenizers built
    # the pipelines, not the command line
    assert worker["modules"] == ["datatrove.executor", "numpy", "smolprep.pipelines.steps"]
    assert worker["tokenizers"] == 2
    assert worker["vi_model_loaded"]
    assert worker["lid_loaded"]
    # inherited from the fork server, not imported by the worker itself (that costs ~1 s of CPU per worker)
    assert worker["preload_loaded_by"] not in (worker["pid"], worker["launcher"]), worker


def test_distribution_check_answers_like_datatrove():
    check = _import_utils._is_distribution_available
    assert getattr(check, "smolprep_direct", False), "smolprep.pipelines.speedups was not applied"
    for name in ("orjson", "pyahocorasick", "fasttext-numpy2-wheel", "pyyaml", "PyYAML", "no-such-dist-x"):
        assert check(name) == check.scan(name), name


def test_loguru_lib_dirs_cached_with_loguru_answer():
    lib_dirs = ExceptionFormatter._get_lib_dirs
    assert getattr(lib_dirs, "smolprep_cached", False), "smolprep.pipelines.speedups was not applied"
    assert lib_dirs() == lib_dirs.compute()
    lib_dirs().append("changed by a caller")
    assert lib_dirs() == lib_dirs.compute()


def test_a_failing_warm_up_does_not_stop_the_fork_server_import():
    """The fork server swallows only ImportError from its preload list: anything else raised while warming up
    would kill it. Warming is a head start only; the workers meet the real error themselves."""
    done = subprocess.run(
        [sys.executable, "-c", "import smolprep.pipelines.preload as p; print(p.LOADED_BY)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "SMOLPREP_WARM_LANGUAGES": "no-such-language"},
    )
    assert done.returncode == 0, done.stderr
    assert "warming up failed (ValueError" in done.stderr


LAUNCHER = textwrap.dedent(
    """
    import json, os, sys, time

    import multiprocess
    from multiprocess import forkserver

    from smolprep.pipelines.preload import children_die_with_me, warm_fork_server


    def write_on(path):
        with open(path, "ab", buffering=0) as out:
            while True:  # a task that would write for ever
                out.write(b"x")
                time.sleep(0.02)


    if __name__ == "__main__":
        warm_fork_server([], lid=False)
        with children_die_with_me():
            manager = multiprocess.Manager()  # as datatrove's LocalPipelineExecutor.run does
            pool = multiprocess.get_context("forkserver").Pool(2)
            pool.map_async(write_on, [sys.argv[1] + "-0", sys.argv[1] + "-1"], chunksize=1)
            while not all(os.path.exists(sys.argv[1] + f"-{rank}") for rank in (0, 1)):
                time.sleep(0.01)
            workers = [p.pid for p in pool._pool]
            server = forkserver._forkserver._forkserver_pid
            print(json.dumps({"workers": workers, "fork_server": server, "manager": manager._process.pid}))
            sys.stdout.flush()
            time.sleep(600)
    """
)


def test_workers_fork_server_and_manager_die_with_a_killed_launcher(tmp_path):
    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER)
    outputs = tmp_path / "task"
    launcher = subprocess.Popen(
        [sys.executable, str(script), str(outputs)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    helpers: list[int] = []
    try:
        started = json.loads(launcher.stdout.readline())
        helpers += [*started["workers"], started["fork_server"], started["manager"]]
        assert len(started["workers"]) == 2 and all(map(pid_alive, helpers)), started
        os.kill(launcher.pid, signal.SIGKILL)  # the launcher alone, not its process group
        launcher.wait()
        deadline = time.monotonic() + 5
        while any(map(pid_alive, helpers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in helpers if pid_alive(p)], f"outlived their launcher: {started}"
        written = [path.stat().st_size for path in sorted(tmp_path.glob("task-*"))]
        time.sleep(0.3)
        assert [path.stat().st_size for path in sorted(tmp_path.glob("task-*"))] == written, "tasks wrote on"
    finally:
        launcher.kill()
        for leftover in filter(pid_alive, helpers):
            os.kill(leftover, signal.SIGKILL)


def test_a_process_whose_parent_has_already_ended_ends_itself():
    """The parent may end before a child asks for the parent-death signal: it then has another parent, and the
    signal would never come. die_with_parent checks and ends the process at once."""
    code = (
        "from smolprep.pipelines.preload import die_with_parent\n"
        "die_with_parent(1 if __import__('os').getppid() != 1 else 2)\n"
        "print('still running')"
    )
    env = {**os.environ, "SMOLPREP_WARM_LANGUAGES": "", "SMOLPREP_WARM_LID": ""}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    assert "still running" not in done.stdout


def test_a_local_run_in_process_leaves_no_launcher_variables_behind(tmp_path, monkeypatch):
    """The fork server's variables are the run's only: a process that ran a stage in-process and then starts
    a launcher must not hand it its own pid as SMOLPREP_LAUNCHER_PID (that launcher would take itself for a
    fork server, armed to die with its parent)."""
    from tests.conftest import run_stage, write_jsonl

    keys = ("SMOLPREP_LAUNCHER_PID", "SMOLPREP_WARM_LANGUAGES", "SMOLPREP_WARM_LID", "HF_HOME")
    for key in keys:
        monkeypatch.delenv(key, raising=False)
    write_jsonl(tmp_path / "code" / "a.jsonl", [{"text": "def f():\n    return 1\n", "id": "1"}])
    config = tmp_path / "s.yaml"
    config.write_text(
        "name: s\ndatasets:\n  - {name: code, path: code, kind: code, tasks: 1, dedup: false}\n"
    )
    assert run_stage(config, tmp_path / "out").exit_code == 0
    assert {key: os.environ.get(key) for key in keys} == dict.fromkeys(keys)
