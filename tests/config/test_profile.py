"""Cluster profiles: the shipped ones load; every refusal names file, key, value, expectation and fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smolprep.config.errors import ConfigError, ConfigIssue
from smolprep.config.profile import (
    ClusterProfile,
    StepResources,
    available_preambles,
    available_profiles,
    load_profile,
    preamble_path,
)
from smolprep.pipelines.steps import STEPS

ROOT = Path(__file__).resolve().parents[2]


def _profile(tmp_path: Path, body: str, name: str = "site") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(body)
    return path


def _issues(path: Path | str, overrides=None) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_profile(str(path), overrides)
    return info.value.issues


def _only_issue(path: Path | str) -> ConfigIssue:
    issues = _issues(path)
    assert len(issues) == 1, issues
    return issues[0]


def test_shipped_profiles_load():
    assert set(available_profiles()) >= {"local", "slurm", "dev-slurm"}
    local, slurm, dev = (load_profile(n) for n in ("local", "slurm", "dev-slurm"))
    assert (local.executor, local.name, local.steps) == ("local", "local", ())
    assert Path(local.source_file) == ROOT / "cluster" / "local.yaml"
    assert (slurm.executor, slurm.partition, slurm.account, slurm.qos) == ("slurm", "cpu", None, None)
    assert slurm.resources("minhash-cluster") == StepResources("24:00:00", 1, "32G")
    assert slurm.resources("filter") == StepResources("12:00:00", 1, "3G")
    assert {name for name, _ in slurm.steps} == {"default", *STEPS}
    assert (dev.executor, dev.array_throttle, dev.requeue_grace) == ("slurm", 8, 30)
    assert dev.resources("filter") == StepResources("00:30:00", 1, "1G")  # from steps.default
    for profile in (slurm, dev):
        assert preamble_path(profile) == ROOT / "slurm_templates" / "venv.sh"
        assert profile.environment() == sys.prefix  # no venv: the launcher's own environment


def test_shipped_profiles_by_path():
    profile = load_profile(str(ROOT / "cluster" / "dev-slurm.yaml"))
    assert profile == load_profile("dev-slurm")


def test_full_profile(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("")
    model = tmp_path / "lid.176.ftz"
    model.write_bytes(b"\0")
    path = _profile(
        tmp_path,
        f"executor: slurm\npartition: cpu\naccount: proj\nqos: normal\narray_throttle: 4\n"
        f"max_array_size: 500\nvenv: {venv}\nlid_model: {model}\npreamble: modules\n"
        "modules: python/3.11\nenv: {OMP_NUM_THREADS: 1, LANG: C.UTF-8}\nmail_user: me@example.org\n"
        "requeue_grace: 60\n",
    )
    profile = load_profile(str(path))
    assert (profile.account, profile.qos, profile.array_throttle, profile.max_array_size) == (
        "proj",
        "normal",
        4,
        500,
    )
    assert profile.modules == ("python/3.11",)
    assert profile.env == (("OMP_NUM_THREADS", "1"), ("LANG", "C.UTF-8"))
    assert profile.environment() == str(venv)
    assert profile.lid_model == str(model.resolve())
    assert preamble_path(profile) == ROOT / "slurm_templates" / "modules.sh"
    assert (profile.name, profile.source_file) == ("site", str(path))
    assert profile.resources("filter") == StepResources()  # no steps: built-in defaults


def test_preamble_as_a_path(tmp_path):
    template = tmp_path / "mine.sh"
    template.write_text("source ${venv}/bin/activate\n")
    profile = load_profile(str(_profile(tmp_path, f"executor: slurm\npreamble: {template}\n")))
    assert preamble_path(profile) == template


def test_unknown_top_level_key(tmp_path):
    path = _profile(tmp_path, "executor: slurm\npartiton: cpu\n")
    issue = _only_issue(path)
    assert (issue.file, issue.key, issue.value) == (path, "partiton", "cpu")
    assert issue.fix == "did you mean 'partition'?"
    for key in ("executor", "partition", "account", "qos", "max_array_size", "steps", "venv", "modules"):
        assert key in issue.expected
    assert str(path) in str(issue) and "partiton" in str(issue)


def test_unknown_step_name(tmp_path):
    path = _profile(tmp_path, "executor: slurm\nsteps:\n  filtre: {time: '01:00:00'}\n")
    issue = _only_issue(path)
    assert (issue.key, issue.value) == ("steps.filtre", {"time": "01:00:00"})
    assert all(step in issue.expected for step in ("default", *STEPS))
    assert issue.fix


@pytest.mark.parametrize(
    ("entry", "key", "value", "expected"),
    [
        ("{time: 4h}", "steps.filter.time", "4h", "Slurm time limit"),
        ("{time: '4:00:00:00'}", "steps.filter.time", "4:00:00:00", "Slurm time limit"),
        ("{time: 30}", "steps.filter.time", 30, "Slurm time limit"),  # unquoted: YAML int
        ("{mem_per_cpu: 2 GB}", "steps.filter.mem_per_cpu", "2 GB", "Slurm memory size"),
        ("{mem_per_cpu: 2GB}", "steps.filter.mem_per_cpu", "2GB", "Slurm memory size"),
        ("{cpus: 0}", "steps.filter.cpus", 0, "an integer >= 1"),
        ("{gpus: 1}", "steps.filter.gpus", 1, "one of the keys time, cpus, mem_per_cpu"),
    ],
)
def test_bad_step_resources(tmp_path, entry, key, value, expected):
    path = _profile(tmp_path, f"executor: slurm\nsteps:\n  filter: {entry}\n")
    issue = _only_issue(path)
    assert (issue.file, issue.key, issue.value) == (path, key, value)
    assert expected in issue.expected
    assert key in str(issue)


@pytest.mark.parametrize(("time"), ["04:00:00", "1-00:00:00", "30", "1-12", "45:00"])
def test_good_times(tmp_path, time):
    path = _profile(tmp_path, f"executor: slurm\nsteps:\n  default: {{time: '{time}', mem_per_cpu: 500M}}\n")
    assert load_profile(str(path)).resources("filter") == StepResources(time, 1, "500M")


def test_every_problem_is_reported_at_once(tmp_path):
    path = _profile(
        tmp_path,
        "executor: slurm\nmax_array_size: 0\nsteps:\n  default: {time: 4h}\n  filter: {mem_per_cpu: 2 GB}\n",
    )
    assert sorted(i.key for i in _issues(path)) == [
        "max_array_size",
        "steps.default.time",
        "steps.filter.mem_per_cpu",
    ]


def test_step_defaults_and_inheritance(tmp_path):
    path = _profile(
        tmp_path,
        "executor: slurm\nsteps:\n"
        "  filter: {mem_per_cpu: 3G}\n"  # listed before default on purpose: order does not matter
        "  minhash-buckets: {time: '12:00:00', cpus: 2}\n"
        "  default: {time: '02:00:00', cpus: 4, mem_per_cpu: 1G}\n",
    )
    profile = load_profile(str(path))
    assert profile.resources("filter") == StepResources("02:00:00", 4, "3G")
    assert profile.resources("minhash-buckets") == StepResources("12:00:00", 2, "1G")
    assert profile.resources("minhash-cluster") == StepResources("02:00:00", 4, "1G")
    assert profile.resources("minhash-signatures") == profile.resources("default")


def test_listed_step_without_default_gets_builtin_defaults(tmp_path):
    profile = load_profile(str(_profile(tmp_path, "executor: slurm\nsteps:\n  filter: {cpus: 8}\n")))
    assert profile.resources("filter") == StepResources("04:00:00", 8, "2G")
    assert profile.resources("minhash-filter") == StepResources()


def test_overrides_win_and_none_is_ignored(tmp_path):
    path = _profile(tmp_path, "executor: slurm\npartition: cpu\naccount: proj\n")
    profile = load_profile(str(path), {"partition": "gpu", "account": None, "qos": "high"})
    assert (profile.partition, profile.account, profile.qos) == ("gpu", "proj", "high")
    assert load_profile(str(path), {"partition": None}).partition == "cpu"
    assert load_profile("slurm", {"partition": "debug"}).partition == "debug"


def test_missing_profile_lists_available():
    issue = _only_issue("no-such-cluster")
    assert (issue.key, issue.value) == ("--cluster", "no-such-cluster")
    for name in ("local", "slurm", "dev-slurm"):
        assert name in issue.expected
    assert "path" in issue.fix


def test_missing_profile_path(tmp_path):
    issue = _only_issue(tmp_path / "nowhere.yaml")
    assert issue.file == tmp_path / "nowhere.yaml"
    assert "local" in issue.expected


def test_venv_must_be_a_venv(tmp_path):
    (tmp_path / "not-a-venv" / "bin").mkdir(parents=True)
    path = _profile(tmp_path, f"executor: slurm\nvenv: {tmp_path / 'not-a-venv'}\n")
    issue = _only_issue(path)
    assert (issue.file, issue.key, issue.value) == (path, "venv", str(tmp_path / "not-a-venv"))
    assert "bin/activate" in issue.expected


def test_venv_override_is_checked_too(tmp_path):
    path = _profile(tmp_path, "executor: slurm\n")
    issues = _issues(path, {"venv": str(tmp_path / "missing")})
    assert [i.key for i in issues] == ["venv"]


def test_unknown_preamble(tmp_path):
    path = _profile(tmp_path, "executor: slurm\npreamble: conda\n")
    issue = _only_issue(path)
    assert (issue.key, issue.value) == ("preamble", "conda")
    assert available_preambles() == ["modules", "venv"]
    assert "modules" in issue.expected and "venv" in issue.expected


def test_preamble_is_not_checked_for_local(tmp_path):
    profile = load_profile(str(_profile(tmp_path, "executor: local\npreamble: conda\n")))
    assert profile.executor == "local" and preamble_path(profile) is None


def test_missing_lid_model(tmp_path):
    model = tmp_path / "lid.176.bin"
    path = _profile(tmp_path, f"executor: local\nlid_model: {model}\n")
    issue = _only_issue(path)
    assert (issue.file, issue.key, issue.value) == (path, "lid_model", str(model))
    assert "fastText model file" in issue.expected


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ("executor: kubernetes\n", "executor", "one of local, slurm"),
        ("executor: slurm\nmodules: [python/3.11, 3]\n", "modules", "a string or a list of strings"),
        ("executor: slurm\nenv: {1BAD: x}\n", "env", "environment variable names"),
        ("executor: slurm\nrequeue_grace: 5\n", "requeue_grace", "an integer >= 10"),
        ("executor: slurm\narray_throttle: true\n", "array_throttle", "an integer"),
        ("- executor\n", "(top level)", "a mapping"),
        ("executor: [slurm\n", "(syntax)", "valid YAML"),
        ("executor: slurm\nsteps: [filter]\n", "steps", "a mapping of step names"),
    ],
)
def test_other_bad_values(tmp_path, body, key, expected):
    path = _profile(tmp_path, body)
    issue = _only_issue(path)
    assert (issue.file, issue.key) == (path, key)
    assert expected in issue.expected


def test_empty_profile_gets_defaults(tmp_path):
    profile = load_profile(str(_profile(tmp_path, "# nothing\n")))
    assert profile == ClusterProfile(name="site", source_file=str(tmp_path / "site.yaml"))
    assert (profile.executor, profile.max_array_size, profile.requeue_grace) == ("slurm", 1001, 120)
