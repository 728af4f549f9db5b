"""`launch.py fetch` against the test Hub (a real HTTP server, the real huggingface_hub client): only the
subset's split, checked and recorded in fetch.json, written last; a gated repo is one line and the other
datasets go on; a cut or killed transfer resumes to byte-identical files; then the stage runs offline, with
the server stopped, and gives the documents of the JSONL sample."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from smolprep.cli import main
from tests.conftest import ROOT, read_jsonl_folder

SAMPLE_SETTINGS = {  # configs/sample.yaml's datasets, by Hub config
    "en": {"name": "en-web", "kind": "web", "language": "en", "weight": 0.5, "tasks": 4},
    "vi": {"name": "vi-web", "kind": "web", "language": "vi", "weight": 0.2, "tasks": 4},
    "code": {"name": "code", "kind": "code", "weight": 0.3, "tasks": 4},
}


def write_stage(folder: Path, repo: str, subsets: tuple[str, ...] = ("en", "vi", "code"), extra=()) -> Path:
    datasets = [{**SAMPLE_SETTINGS[s], "source": repo, "subset": s} for s in subsets] + list(extra)
    if len(subsets) != len(SAMPLE_SETTINGS) or extra:  # the sample's weights sum to 1 over its three only
        datasets = [{k: v for k, v in d.items() if k != "weight"} for d in datasets]
    config = folder / "fetched.yaml"
    config.write_text(yaml.safe_dump({"name": "fetched", "datasets": datasets}, sort_keys=False))
    return config


def _argv(command: str | None, config: Path, out: Path, *extra: str) -> list[str]:
    return [
        *([command] if command else []),
        "--config",
        str(config),
        "--cluster",
        "local",
        "--output",
        str(out),
        *extra,
    ]


def _folder(out: Path, repo: str, subset: str, split: str = "train") -> Path:
    return out / "sources" / repo / subset / split


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_downloads_the_subsets_split_checks_and_records_it(fake_hub, tmp_path, capsys):
    repo = fake_hub.repos.sample
    config, out = write_stage(tmp_path, repo, ("en",)), tmp_path / "out"
    assert main(_argv("fetch", config, out)) == 0
    folder = _folder(out, repo, "en")
    record = json.loads((folder / "fetch.json").read_text())
    assert (record["repo"], record["subset"], record["split"]) == (repo, "en", "train")
    assert record["revision"] == fake_hub.repos.revisions[repo]
    paths = [f["path"] for f in record["files"]]
    assert paths == ["data/en/train-00000-of-00002.parquet", "data/en/train-00001-of-00002.parquet"]
    for f in record["files"]:
        assert (folder / f["path"]).stat().st_size == f["size"] and _sha256(folder / f["path"]) == f["sha256"]
    assert not list(folder.rglob("test-*.parquet"))  # the en config's test split is not fetched
    stale = folder / "data" / "en" / "train-00009-of-00010.parquet"  # as left by another revision
    stale.write_bytes(b"PAR1")
    assert main(_argv("fetch", config, out, "--refresh")) == 0
    assert not stale.exists()  # only the fetched files stay: the reader reads the folder
    assert json.loads((folder / "fetch.json").read_text())["files"] == record["files"]
    capsys.readouterr()
    downloads = len([r for r in fake_hub.requests() if r["method"] == "GET" and "/resolve/" in r["path"]])
    assert main(_argv("fetch", config, out)) == 0  # fetched before: kept, nothing downloaded again
    assert "fetched before (2 files" in capsys.readouterr().out
    again = len([r for r in fake_hub.requests() if r["method"] == "GET" and "/resolve/" in r["path"]])
    assert again == downloads


def test_a_gated_repo_is_one_line_naming_it_and_the_other_datasets_are_fetched(fake_hub, tmp_path, capsys):
    gated = {"name": "gated", "source": fake_hub.repos.gated, "subset": "en", "kind": "web", "language": "en"}
    config, out = write_stage(tmp_path, fake_hub.repos.sample, ("en",), [gated]), tmp_path / "out"
    assert main(_argv("fetch", config, out)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"error: gated: {fake_hub.repos.gated} is gated: accept its conditions")
    assert "hf auth login" in err[0]
    assert (_folder(out, fake_hub.repos.sample, "en") / "fetch.json").is_file()
    assert not (_folder(out, fake_hub.repos.gated, "en") / "fetch.json").exists()


def test_a_transfer_cut_mid_file_resumes_with_range_to_the_hubs_bytes(fake_hub, tmp_path):
    repo = fake_hub.repos.flaky
    config, out = write_stage(tmp_path, repo, ("en",)), tmp_path / "out"
    assert main(_argv("fetch", config, out)) == 0
    folder = _folder(out, repo, "en")
    record = json.loads((folder / "fetch.json").read_text())
    # the bytes come from the CDN the Hub redirects to: the first answer is cut, the next resumes
    gets = [
        r for r in fake_hub.requests() if r["role"] == "cdn" and r["path"].endswith(fake_hub.repos.flaky_file)
    ]
    assert gets[0]["cut"] and gets[1]["range"] not in (None, "bytes=0-"), gets
    expected = {f["path"]: f["sha256"] for f in record["files"]}
    assert _sha256(folder / fake_hub.repos.flaky_file) == expected[fake_hub.repos.flaky_file]
    assert not list(folder.rglob("*.part"))


@pytest.mark.hub_slow(100_000)
def test_a_killed_fetch_resumes_mid_file_and_gives_byte_identical_files(fake_hub, tmp_path):
    repo = fake_hub.repos.sample
    config, out = write_stage(tmp_path, repo, ("code",)), tmp_path / "out"
    command = [sys.executable, str(ROOT / "launch.py"), *_argv("fetch", config, out, "--workers", "1")]
    fetcher = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    folder = _folder(out, repo, "code")
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 50_000 for p in folder.rglob("*.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(fetcher.pid, signal.SIGKILL)
    fetcher.wait()
    parts = {p: p.stat().st_size for p in folder.rglob("*.part")}
    assert parts and not (folder / "fetch.json").exists()  # killed mid-file: nothing is taken as fetched
    assert main(_argv("fetch", config, out)) == 0
    record = json.loads((folder / "fetch.json").read_text())
    for part, size in parts.items():
        resumed = [
            r for r in fake_hub.requests() if r["range"] and r["path"].endswith(part.name[: -len(".part")])
        ]
        assert resumed and resumed[-1]["range"] == f"bytes={size}-"
    served = {
        f: hashlib.sha256((fake_hub.repos.root / repo / f).read_bytes()).hexdigest()
        for f in (r["path"] for r in record["files"])
    }
    assert {f["path"]: _sha256(folder / f["path"]) for f in record["files"]} == served
    assert all(f["sha256"] == served[f["path"]] for f in record["files"])


def test_an_unfetched_source_is_refused_before_anything_runs_and_the_dry_run_shows_it(
    fake_hub, tmp_path, capsys
):
    config, out = write_stage(tmp_path, fake_hub.repos.sample, ("en",)), tmp_path / "out"
    assert main(_argv(None, config, out, "--dry-run")) == 0
    assert "NOT FETCHED" in capsys.readouterr().out
    assert main(_argv(None, config, out)) == 2
    err = capsys.readouterr().err
    assert "datasets[0] (en-web).source" in err and "python launch.py fetch --config" in err
    assert not (out / "fetched").exists()
    assert main(_argv("fetch", config, out)) == 0
    capsys.readouterr()
    assert main(_argv(None, config, out, "--dry-run")) == 0
    assert "fetched: 2 files, 2 tasks" in capsys.readouterr().out  # one task per fetched file at most


def test_a_fetched_stage_runs_offline_with_the_hub_stopped_and_gives_the_samples_documents(
    fake_hub, tmp_path, capsys, sample_run
):
    repo = fake_hub.repos.sample
    config, out = write_stage(tmp_path, repo), tmp_path / "out"
    assert main(_argv("fetch", config, out)) == 0
    fake_hub.stop()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), *_argv(None, config, out, "--workers", "2")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("en-web", "vi-web", "code"):
        fetched = read_jsonl_folder(out / "fetched" / "data" / name)
        expected = read_jsonl_folder(sample_run.layout.data(name))
        assert sorted((d["id"], d["text"]) for d in fetched) == sorted((d["id"], d["text"]) for d in expected)
        assert {d["metadata"]["source"] for d in fetched} == {repo}
    manifest = json.loads((out / "fetched" / "manifest.json").read_text())  # the report names the revisions
    revision = fake_hub.repos.revisions[repo]
    assert manifest["datasets"]["vi-web"]["source"] == {
        "repo": repo,
        "subset": "vi",
        "split": "train",
        "revision": revision,
        "files": 2,
    }


def test_jobs_of_fetched_datasets_run_offline_and_streaming_ones_find_the_saved_token(
    fake_hub, tmp_path, capsys
):
    gated = {"name": "gated", "source": fake_hub.repos.gated, "subset": "en", "kind": "web", "language": "en"}
    config, out = write_stage(tmp_path, fake_hub.repos.sample, ("en",), [gated]), tmp_path / "out"
    assert main(_argv("fetch", config, out)) == 1  # the gated one is not fetched
    (fake_hub.hf_home / "token").write_text("hf_saved")
    online = tmp_path / "online.yaml"
    online.write_text((ROOT / "cluster" / "dev-slurm.yaml").read_text() + "compute_nodes_online: true\n")
    capsys.readouterr()
    argv = ["--config", str(config), "--cluster", str(online), "--output", str(out), "--dry-run"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    parts = re.split(r"─+ (\S+) / (\S+) / chunk \d+ \(\d+ array tasks\) ─+\n", printed)
    scripts = {(d, step): body for d, step, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True)}
    en, streamed = scripts[("en-web", "filter")], scripts[("gated", "filter")]
    assert "export HF_HUB_OFFLINE=1" in en and "HF_TOKEN_PATH" not in en
    assert (
        "HF_HUB_OFFLINE" not in streamed and f"export HF_TOKEN_PATH={fake_hub.hf_home / 'token'}" in streamed
    )
    assert "hf_saved" not in printed  # the token itself is never written into a script


def test_a_missing_repo_or_subset_is_one_line_each_and_nothing_is_recorded(fake_hub, tmp_path, capsys):
    missing = {"name": "nowhere", "source": "smolprep-test/no-such-repo", "kind": "web", "language": "en"}
    no_subset = {
        "name": "fr",
        "source": fake_hub.repos.sample,
        "subset": "fr",
        "kind": "web",
        "language": "en",
    }
    config, out = (
        write_stage(tmp_path, fake_hub.repos.sample, ("vi",), [missing, no_subset]),
        tmp_path / "out",
    )
    assert main(_argv("fetch", config, out)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: nowhere: no dataset repo smolprep-test/no-such-repo on the Hub (or it is private and this token "
        "cannot see it); check `source`",
        f"error: fr: {fake_hub.repos.sample} has no subset 'fr'; its subsets: en, vi, code",
    ]
    assert (_folder(out, fake_hub.repos.sample, "vi") / "fetch.json").is_file()
    assert not (out / "sources" / "smolprep-test" / "no-such-repo").exists()
    assert not _folder(out, fake_hub.repos.sample, "fr").exists()


def test_a_hub_tokenizer_is_fetched_with_the_data_and_the_stage_tokenizes_offline(fake_hub, tmp_path, capsys):
    repo = fake_hub.repos.sample
    config, out = write_stage(tmp_path, repo, ("code",)), tmp_path / "out"
    config.write_text(
        config.read_text() + "tokenize: {tokenizer: smolprep-test/tokenizer, eos_token: '<EOT>'}\n"
    )
    assert main(_argv(None, config, out, "--dry-run")) == 0
    assert "tokenizer smolprep-test/tokenizer: NOT FETCHED" in capsys.readouterr().out
    assert main(_argv("fetch", config, out)) == 0  # the data's files, then the tokenizer
    capsys.readouterr()
    fetched = out / "sources" / "models" / "smolprep-test" / "tokenizer" / "tokenizer.json"
    served = fake_hub.repos.root / "smolprep-test" / "tokenizer" / "tokenizer.json"
    assert fetched.read_bytes() == served.read_bytes()
    fake_hub.stop()
    code = main(_argv(None, config, tmp_path / "second"))  # another output root: no copy there
    assert code == 2
    err = capsys.readouterr().err
    assert "tokenize.tokenizer: got 'smolprep-test/tokenizer'" in err and "python launch.py fetch" in err
    assert main(_argv(None, config, out)) == 0
    shards = list((out / "fetched" / "tokenized" / "code").glob("*.ds"))
    assert shards and all(s.stat().st_size > 0 for s in shards)
