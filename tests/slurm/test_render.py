"""sbatch rendering: a pure function of its parameters, checked against golden files in golden/.

Refresh the records after an intended change: ``SMOLPREP_UPDATE_GOLDEN=1 pytest tests/slurm/test_render.py``,
then read the diff of tests/slurm/golden/ before committing it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smolprep.config.profile import ClusterProfile, StepResources
from smolprep.slurm.render import ArrayChunk, _ranks_text, job_name, render_preamble, render_sbatch

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
TEMPLATES = ROOT / "slurm_templates"
UPDATE_VAR = "SMOLPREP_UPDATE_GOLDEN"

LOGS = Path("/shared/run/stage1/logs")
HF_HOME = "/shared/run/.cache/huggingface"
TAG = "smolprep:stage1:en:filter:0:0123456789ab"


def _tag(chunk: ArrayChunk) -> str:
    """A submission tag as submit.submission_tag makes it, with a fixed random part."""
    return f"smolprep:stage1:{chunk.dataset}:{chunk.step}:{chunk.index}:0123456789ab"


def assert_golden(name: str, text: str, golden_dir: Path = GOLDEN) -> None:
    """Compare `text` with golden_dir/name; with SMOLPREP_UPDATE_GOLDEN=1 write it instead."""
    path = golden_dir / name
    if os.environ.get(UPDATE_VAR) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    refresh = f"If the change is intended, refresh the record: {UPDATE_VAR}=1 pytest tests/slurm/{Path(__file__).name} and review the diff of {path}."
    if not path.is_file():
        pytest.fail(f"golden file {path} does not exist. {refresh}", pytrace=False)
    expected = path.read_text()
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path} (recorded)",
                tofile=f"{name} (rendered now)",
            )
        )
        pytest.fail(f"rendered script differs from {path}:\n{diff}\n{refresh}", pytrace=False)


def _steps(**steps: StepResources) -> tuple[tuple[str, StepResources], ...]:
    return tuple((name.replace("_", "-"), res) for name, res in steps.items())


FULL = ClusterProfile(
    executor="slurm",
    storage_root="/shared/run",
    partition="cpu",
    account="proj-42",
    qos="normal",
    max_array_size=1001,
    array_throttle=16,
    steps=_steps(
        default=StepResources("04:00:00", 1, "2G"),
        filter=StepResources("12:00:00", 2, "3G"),
    ),
    preamble="venv",
    venv="/shared/venv",
    requeue_grace=120,
    name="site",
)

MINIMAL = ClusterProfile(executor="slurm", venv="/shared/venv", name="bare")

MODULES = ClusterProfile(
    executor="slurm",
    partition="batch",
    array_throttle=8,
    steps=_steps(default=StepResources("1-00:00:00", 4, "500M")),
    preamble="modules",
    venv="/shared/venv",
    modules=("python/3.11", "gcc/12.2"),
    env=(("OMP_NUM_THREADS", "1"), ("GREETING", "hello world; $HOME")),
    mail_user="me@example.org",
    requeue_grace=300,
    name="hpc",
)

CASES = {
    # name: (profile, template, chunk, logging_dir)
    "full-filter-chunk1": (
        FULL,
        "venv",
        ArrayChunk("en", "filter", 1, 3, (3, 4, 5)),
        LOGS / "en" / "filter",
    ),
    "minimal-buckets": (
        MINIMAL,
        "venv",
        ArrayChunk("vi", "minhash-buckets", 0, 5, (0, 1, 2, 3, 7)),
        LOGS / "vi" / "minhash-buckets",
    ),
    "modules-env-mail": (
        MODULES,
        "modules",
        ArrayChunk("code", "minhash-signatures", 0, 2, (0, 1)),
        LOGS / "code" / "minhash-signatures",
    ),
}


def _render(case: str) -> str:
    profile, template, chunk, logging_dir = CASES[case]
    preamble = render_preamble(
        (TEMPLATES / f"{template}.sh").read_text(), profile, HF_HOME, "stage1", chunk.dataset, chunk.step
    )
    return render_sbatch("stage1", chunk, profile, preamble, logging_dir, _tag(chunk))


def _directives(script: str) -> dict[str, str]:
    found = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line.removeprefix("#SBATCH --").partition("=")
            found[key] = value
    return found


@pytest.mark.parametrize("case", sorted(CASES))
def test_sbatch_matches_golden(case):
    assert_golden(f"{case}.sbatch", _render(case))


@pytest.mark.parametrize("case", sorted(CASES))
def test_sbatch_essentials(case):
    """What the golden files must say, independent of their exact layout."""
    profile, _, chunk, logging_dir = CASES[case]
    script = _render(case)
    lines = script.splitlines()
    directives = _directives(script)
    assert lines[0] == "#!/bin/bash"
    assert script.endswith("\n")
    # every directive comes before the first command, or sbatch ignores it
    first_command = next(i for i, line in enumerate(lines[1:], 1) if line and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(lines) if line.startswith("#SBATCH"))
    assert directives["job-name"] == f"smolprep-stage1-{chunk.dataset}-{chunk.step}"
    throttle = f"%{profile.array_throttle}" if profile.array_throttle else ""
    assert directives["array"] == f"0-{chunk.size - 1}{throttle}"
    assert directives["open-mode"] == "append"
    assert directives["requeue"] == ""
    assert directives["signal"] == f"USR1@{profile.requeue_grace}"
    assert directives["kill-on-invalid-dep"] == "yes"
    assert directives["output"] == directives["error"] == f"{logging_dir}/slurm_logs/%A_%a.out"
    assert directives["comment"] == _tag(chunk)
    res = profile.resources(chunk.step)
    assert (directives["time"], directives["cpus-per-task"], directives["mem-per-cpu"]) == (
        res.time,
        str(res.cpus),
        res.mem_per_cpu,
    )
    for key in ("partition", "account", "qos", "mail-user"):
        value = getattr(profile, key.replace("-", "_"))
        assert directives.get(key) == value, key  # absent (None) when unset
    assert f"export RUN_OFFSET={chunk.index}" in lines
    assert (
        lines[-1]
        == f"srun --ntasks=1 --kill-on-bad-exit=1 launch_pickled_pipeline {logging_dir}/executor.pik"
    )
    assert 'source "/shared/venv/bin/activate"' in lines
    assert f'export HF_HOME="{HF_HOME}"' in lines
    # the environment is set up before the task runs
    assert lines.index('source "/shared/venv/bin/activate"') < lines.index(f"export RUN_OFFSET={chunk.index}")


def test_unset_partition_account_qos_are_omitted():
    directives = _directives(_render("minimal-buckets"))
    assert not {"partition", "account", "qos", "mail-user", "mail-type"} & set(directives)
    assert directives["array"] == "0-4"  # no throttle


def test_modules_env_and_mail():
    script = _render("modules-env-mail")
    lines = script.splitlines()
    assert "module purge" in lines
    assert (
        lines.index("module purge")
        < lines.index("module load python/3.11")
        < lines.index("module load gcc/12.2")
    )
    assert "export OMP_NUM_THREADS=1" in lines
    assert "export GREETING='hello world; $HOME'" in lines  # quoted: no word splitting or expansion
    directives = _directives(script)
    assert (directives["mail-user"], directives["mail-type"]) == ("me@example.org", "FAIL")
    assert directives["array"] == "0-1%8"


def test_logging_dir_with_space_is_quoted():
    profile, _, chunk, _ = CASES["minimal-buckets"]
    script = render_sbatch("s", chunk, profile, "true\n", Path("/shared/my run/logs"), TAG)
    assert script.splitlines()[-1].endswith("launch_pickled_pipeline '/shared/my run/logs/executor.pik'")


def test_preamble_without_modules_or_env():
    text = render_preamble((TEMPLATES / "venv.sh").read_text(), MINIMAL, HF_HOME, "s", "d", "filter")
    commands = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert commands == [
        'source "/shared/venv/bin/activate"',
        f'export HF_HOME="{HF_HOME}"',
        "export PYTHONUNBUFFERED=TRUE",
    ]
    assert text.endswith("PYTHONUNBUFFERED=TRUE\n")


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_script_is_valid_bash(case):
    proc = subprocess.run(["bash", "-n"], input=_render(case), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_venv_preamble_with_several_modules_and_env_is_valid_bash():
    profile = dataclasses.replace(MODULES, preamble="venv")
    preamble = render_preamble((TEMPLATES / "venv.sh").read_text(), profile, HF_HOME, "s", "d", "filter")
    script = render_sbatch("s", ArrayChunk("d", "filter", 0, 1, (0,)), profile, preamble, LOGS, TAG)
    proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert [line for line in preamble.splitlines() if line.startswith("export")] == [
        f'export HF_HOME="{HF_HOME}"',
        "export PYTHONUNBUFFERED=TRUE",
        "export OMP_NUM_THREADS=1",
        "export GREETING='hello world; $HOME'",
    ]


def test_preamble_defaults_to_running_interpreter_prefix():
    profile = ClusterProfile(executor="slurm")
    text = render_preamble((TEMPLATES / "venv.sh").read_text(), profile, HF_HOME, "s", "d", "filter")
    assert f'source "{sys.prefix}/bin/activate"' in text.splitlines()


def test_job_name():
    assert job_name("stage1", "en", "minhash-cluster") == "smolprep-stage1-en-minhash-cluster"


@pytest.mark.parametrize(
    ("ranks", "text"),
    [
        ((0, 1, 2, 3, 7), "0-3,7"),
        ((), "none"),
        ((5,), "5"),
        ((1, 3, 5), "1,3,5"),
        ((0, 1, 4, 5, 6, 9, 11, 12), "0-1,4-6,9,11-12"),
        ((998, 999, 1000), "998-1000"),
    ],
)
def test_ranks_text(ranks, text):
    assert _ranks_text(ranks) == text


def test_golden_mismatch_shows_diff_and_how_to_refresh(tmp_path, monkeypatch):
    monkeypatch.delenv(UPDATE_VAR, raising=False)
    (tmp_path / "x.sbatch").write_text("#!/bin/bash\necho old\n")
    with pytest.raises(pytest.fail.Exception) as info:
        assert_golden("x.sbatch", "#!/bin/bash\necho new\n", tmp_path)
    message = str(info.value)
    assert "-echo old" in message and "+echo new" in message
    assert f"{UPDATE_VAR}=1" in message
    with pytest.raises(pytest.fail.Exception, match=f"does not exist.*{UPDATE_VAR}=1"):
        assert_golden("missing.sbatch", "x", tmp_path)
    assert_golden("x.sbatch", "#!/bin/bash\necho old\n", tmp_path)  # equal: passes


def test_golden_update_writes_the_record(tmp_path, monkeypatch):
    monkeypatch.setenv(UPDATE_VAR, "1")
    assert_golden("new.sbatch", "#!/bin/bash\n", tmp_path)
    assert (tmp_path / "new.sbatch").read_text() == "#!/bin/bash\n"
