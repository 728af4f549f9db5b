"""Local worker start-up: the fork server preloads our modules and models; datatrove/loguru caches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from datatrove.utils import _import_utils
from loguru._better_exceptions import ExceptionFormatter

import smolprep.pipelines  # noqa: F401  (applies the speedups)
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
            "modules": sorted(m for m in ("smolprep.cli", "datatrove.executor", "numpy") if m in sys.modules),
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
    assert worker["modules"] == ["datatrove.executor", "numpy", "smolprep.cli"]
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
