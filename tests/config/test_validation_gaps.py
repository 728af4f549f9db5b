"""Configs and command lines that used to pass validation and fail later (or never): each is refused before
anything is written or queued, with exit 2 and a message naming file, key, value, what was expected and
the fix."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from smolprep.cli import main
from smolprep.commands.registry import COMMANDS
from smolprep.config.errors import ConfigError
from smolprep.config.stage import load_stage_config
from tests.conftest import write_jsonl

NOBODY = 65534


def _config(tmp_path: Path, body: str) -> Path:
    write_jsonl(tmp_path / "en" / "a.jsonl", [{"text": "hello"}])
    path = tmp_path / "stage.yaml"
    path.write_text(body)
    return path


def _issues(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_stage_config(path)
    text = str(info.value)
    assert all(str(i).startswith(f"{path}: ") for i in info.value.issues), text
    return text


def _cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf"])
@pytest.mark.parametrize("key", ["weight", "sample_rate"])
def test_nan_and_infinite_fractions_are_refused(tmp_path, key, value):
    text = _issues(_config(tmp_path, f"name: s\ndatasets:\n  - {{name: en, path: en, {key}: {value}}}\n"))
    assert f"datasets[0] (en).{key}: got " in text and "expected a number in" in text
    assert ".nan and .inf are not numbers" in text


def test_an_absolute_glob_is_a_config_error(tmp_path):
    glob = str(tmp_path / "en" / "*.jsonl")
    text = _issues(_config(tmp_path, f"name: s\ndatasets:\n  - {{name: en, path: en, glob: '{glob}'}}\n"))
    assert f"datasets[0] (en).glob: got '{glob}'; expected a pattern relative to `path`" in text


def test_a_path_naming_a_file_expects_a_folder(tmp_path):
    text = _issues(_config(tmp_path, "name: s\ndatasets:\n  - {name: en, path: en/a.jsonl}\n"))
    assert "datasets[0] (en).path" in text and "expected a folder (every input file under it is read)" in text
    assert "`glob:` to its name" in text


@pytest.mark.parametrize(
    ("files", "fmt", "expected", "fix"),
    [
        (
            ["a.jsonl.gz.md5", "b.jsonl.sha256"],
            "jsonl",
            "side files such as .md5 are not input",
            "put the files",
        ),
        (["a.jsonl"], "parquet", "matching '**/*.parquet'", "set `format: jsonl`"),
        (["a.jsonl"], "hf", "written by datasets' save_to_disk", "set `format: jsonl`"),
        (["x.parquet"], "jsonl", "matching '**/*.jsonl*'", "set `format: parquet`"),
        (
            ["dataset_info.json", "state.json", "data-00000.arrow"],
            "jsonl",
            "'**/*.jsonl*'",
            "set `format: hf`",
        ),
    ],
)
def test_the_kind_of_folder_is_checked_against_the_format(tmp_path, files, fmt, expected, fix):
    for name in files:
        (tmp_path / "data" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "data" / name).write_text("{}\n")
    text = _issues(_config(tmp_path, f"name: s\ndatasets:\n  - {{name: d, path: data, format: {fmt}}}\n"))
    assert "datasets[0] (d).path" in text and expected in text and fix in text


@pytest.mark.parametrize("markers", [["dataset_info.json", "state.json"], ["dataset_dict.json"]])
def test_a_saved_datasets_folder_passes_as_hf(tmp_path, markers):
    for name in markers:
        (tmp_path / "saved").mkdir(exist_ok=True)
        (tmp_path / "saved" / name).write_text("{}")
    path = _config(tmp_path, "name: s\ndatasets:\n  - {name: d, path: saved, format: hf}\n")
    assert load_stage_config(path).datasets[0].format == "hf"


def test_duplicate_yaml_keys_are_refused_naming_key_and_lines(tmp_path):
    body = textwrap.dedent(
        """\
        name: s
        seed: 1
        datasets:
          - name: en
            path: en
            weight: 0.5
            weight: 1.0
        seed: 2
        """
    )
    text = _issues(_config(tmp_path, body))
    assert "seed: got 'written on line 2 and again on line 8'" in text
    assert "weight: got 'written on line 6 and again on line 7'" in text
    assert "each key once per mapping" in text


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    body = "name: s\ndatasets:\n  - &d {name: en, path: en, tasks: 1}\n  - {<<: *d, name: en2, tasks: 3}\n"
    stage = load_stage_config(_config(tmp_path, body))
    assert [d.tasks for d in stage.datasets] == [1, 3]


@pytest.mark.parametrize("value", ["0", "-3", "two"])
def test_workers_must_be_a_positive_number(tmp_path, capsys, value):
    config = _config(tmp_path, "name: s\ndatasets:\n  - {name: en, path: en}\n")
    out = tmp_path / "out"
    code, err = _cli(capsys, "--config", str(config), "--cluster", "local", "--output", str(out),
                     "--workers", value)  # fmt: skip
    assert code == 2 and f"--workers: expected a whole number >= 1, got '{value}'" in err
    assert not out.exists()


@pytest.mark.parametrize("value", [",", " , ,", ""])
def test_datasets_naming_no_dataset_is_refused(tmp_path, capsys, value):
    config = _config(tmp_path, "name: s\ndatasets:\n  - {name: en, path: en}\n")
    out = tmp_path / "out"
    code, err = _cli(capsys, "--config", str(config), "--cluster", "local", "--output", str(out),
                     "--datasets", value)  # fmt: skip
    assert code == 2 and f"--datasets {value!r} names no dataset; give some of: en" in err
    assert not out.exists()


# --- the task bound ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        (
            "datasets:\n  - {name: en, path: en, tasks: 1000000000}\n",
            "datasets[0] (en).tasks: got 1000000000",
        ),
        (
            "minhash: {num_buckets: 1000, bucket_tasks_per_bucket: 200}\ndatasets:\n  - {name: en, path: en}\n",
            "minhash.num_buckets x minhash.bucket_tasks_per_bucket: got '1000 x 200 = 200,000 tasks",
        ),
    ],
)
@pytest.mark.parametrize("dry_run", [True, False])
def test_steps_of_too_many_tasks_are_refused_unless_forced(tmp_path, capsys, root, setting, key, dry_run):
    config = _config(tmp_path, "name: s\n" + setting)
    out = tmp_path / "out"
    args = ["--config", str(config), "--cluster", "local", "--output", str(out)]
    if dry_run:
        code, err = _cli(capsys, *args, "--dry-run")
    else:  # a launch that went ahead would try to run them all: in a child with bounded memory and time
        code, err = _bounded_launch(root, args)
    assert code == 2 and key in err
    assert "expected at most 100,000 tasks per step: every task is a process" in err and "--force" in err
    assert not out.exists()
    if dry_run:
        code, _ = _cli(capsys, *args, "--dry-run", "--force")
        assert code == 0 and not out.exists()


def _bounded_launch(root: Path, args: list[str]) -> tuple[int, str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    result = subprocess.run(
        [sys.executable, str(root / "launch.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


def test_resubmit_checks_the_task_bound_too(tmp_path, capsys):
    config = _config(tmp_path, "name: s\ndatasets:\n  - {name: en, path: en, tasks: 1}\n")
    out = tmp_path / "out"
    args = ["--config", str(config), "--cluster", "local", "--output", str(out)]
    assert main(args) == 0
    capsys.readouterr()
    config.write_text(
        "name: s\nminhash: {num_buckets: 100001}\ndatasets:\n  - {name: en, path: en, tasks: 1}\n"
    )
    code, err = _cli(capsys, "resubmit", *args)
    assert code == 2 and "at most 100,000 tasks per step" in err
    assert COMMANDS.parser(COMMANDS["resubmit"]).parse_args(["--force", "--force-config"]).force


# --- the output folder -------------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [True, False])
def test_output_naming_a_file_or_a_kernel_folder(tmp_path, capsys, dry_run):
    config = _config(tmp_path, "name: s\ndatasets:\n  - {name: en, path: en}\n")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    cases = {
        str(a_file): f"{a_file} is a file",
        str(a_file / "below"): f"{a_file} is a file",
        "/proc/self/out": "it is under /proc, a kernel file system",
        "/sys/out": "it is under /sys",
    }
    for output, expected in cases.items():
        extra = ["--dry-run"] if dry_run else []
        code, err = _cli(capsys, "--config", str(config), "--cluster", "local", "--output", output, *extra)
        assert code == 2 and expected in err and "--output" in err, err
        assert err.count("\n") == 2, err  # the error and "Nothing was written or submitted."
    assert a_file.read_text() == ""


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder every user can traverse (pytest's tmp_path is 0700, root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="smolprep-perm-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _as_nobody(warm_up: str, check: str) -> subprocess.CompletedProcess[str]:
    """Run `check` in a Python that drops to user nobody after `warm_up` (as root) has imported what it needs:
    the interpreter itself lives under /root, which nobody cannot read."""
    script = f"{warm_up}\nimport os\nos.setgroups([])\nos.setgid({NOBODY})\nos.setuid({NOBODY})\n{check}\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_an_unwritable_output_folder(shared_tmp):
    write_jsonl(shared_tmp / "en" / "a.jsonl", [{"text": "hello"}])
    config = shared_tmp / "stage.yaml"
    config.write_text("name: s\ndatasets:\n  - {name: en, path: en}\n")
    closed = shared_tmp / "closed"
    closed.mkdir(mode=0o755)  # root's: nobody may enter it but not write in it
    launch = f"['--config', {str(config)!r}, '--cluster', 'local', '--dry-run', '--output', "
    warm_up = f"from smolprep.cli import main\nassert main({launch}{str(shared_tmp / 'warm')!r}]) == 0"
    check = f"raise SystemExit(main({launch}{str(closed / 'out')!r}]))"
    result = _as_nobody(warm_up, check)
    assert result.returncode == 2, result.stderr
    assert f"{closed} is not writable by this user" in result.stderr and "Traceback" not in result.stderr
    assert not (closed / "out").exists()


def test_an_unreadable_folder_is_reported_as_unreadable(shared_tmp):
    write_jsonl(shared_tmp / "open" / "a.jsonl", [{"text": "hello"}])
    write_jsonl(shared_tmp / "locked" / "a.jsonl", [{"text": "hello"}])
    write_jsonl(shared_tmp / "nested" / "inner" / "a.jsonl", [{"text": "hello"}])
    (shared_tmp / "locked").chmod(0o700)
    (shared_tmp / "nested" / "inner").chmod(0o700)
    configs = {}
    for name in ("open", "locked", "nested"):
        configs[name] = shared_tmp / f"{name}.yaml"
        configs[name].write_text(f"name: s\ndatasets:\n  - {{name: d, path: {name}}}\n")
    warm_up = (
        "import json\nfrom smolprep.config.errors import ConfigError\n"
        "from smolprep.config.stage import load_stage_config\n"
        f"load_stage_config({str(configs['open'])!r})"
    )
    check = (
        "found = {}\n"
        f"for name, path in {json.dumps({k: str(v) for k, v in configs.items()})}.items():\n"
        "    try:\n        load_stage_config(path)\n        found[name] = 'ok'\n"
        "    except ConfigError as err:\n        found[name] = str(err)\n"
        "print(json.dumps(found))"
    )
    result = _as_nobody(warm_up, check)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["open"] == "ok"
    locked = shared_tmp / "locked"
    assert f"{locked}'; expected a readable folder" in found["locked"]
    assert (
        "cannot be read (permission denied)" in found["locked"]
        and "put the files there" not in found["locked"]
    )
    inner = shared_tmp / "nested" / "inner"
    assert f"{inner} exists but cannot be read (permission denied)" in found["nested"]
    assert os.stat(locked).st_uid == 0  # the check really ran as another user than the folder's owner
