"""The test Hub, driven by the real `huggingface_hub` client over HTTP on 127.0.0.1.

What these tests establish about the client (huggingface_hub 2.4) as well as about the server:
- a file cut mid-transfer is retried by `hf_hub_download` itself (1 s pause, up to 5 times without
  progress). It resumes with `Range: bytes=N-` only from the bytes already written, and the client writes
  in 10 MiB chunks (`constants.DOWNLOAD_CHUNK_SIZE`): a file cut before 10 MiB is fetched again whole.
  A failed call keeps no partial file, so a later call starts over.
- after the server stops, API calls raise `httpx2.ConnectError` at once, and `hf_hub_download` of a cached
  file (by branch name) answers from the cache, as does a process started with `HF_HUB_OFFLINE=1`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import httpx2
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from tests.fetch.conftest import GRANTED_TOKEN, ROOT, FakeHub


def jsonl_documents(folder: str) -> list[tuple[str, str]]:
    """(id, text) of the shipped sample folder, files in name order."""
    documents = []
    for file in sorted((ROOT / "sample" / folder).glob("*.jsonl.gz")):
        with gzip.open(file, "rt", encoding="utf-8") as f:
            documents += [(r["id"], r["text"]) for r in map(json.loads, f)]
    return documents


def tree_files(hub: FakeHub, repo: str, revision: str = "main") -> dict[str, RepoFile]:
    tree = HfApi(endpoint=hub.endpoint).list_repo_tree(
        repo, repo_type="dataset", revision=revision, recursive=True
    )
    return {f.path: f for f in tree if isinstance(f, RepoFile)}


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def download(
    hub: FakeHub, repo: str, path: str, local_dir: Path, revision: str = "main", token: str | None = None
) -> str:
    return hf_hub_download(
        repo,
        path,
        repo_type="dataset",
        revision=revision,
        endpoint=hub.endpoint,
        local_dir=local_dir,
        token=token,
    )


def test_dataset_info_gives_the_commit_and_the_card(fake_hub: FakeHub) -> None:
    repos = fake_hub.repos
    info = HfApi(endpoint=fake_hub.endpoint).dataset_info(repos.sample, revision="main")
    assert info.sha == repos.revisions[repos.sample] and len(info.sha) == 40
    assert info.gated is False and info.private is False
    assert "README.md" in {s.rfilename for s in info.siblings or []}
    assert info.card_data is not None
    assert [c["config_name"] for c in info.card_data["configs"]] == ["en", "vi", "code"]
    assert HfApi(endpoint=fake_hub.endpoint).dataset_info(repos.gated).gated == "manual"


def test_tree_lists_sizes_and_sha256_over_pages(fake_hub: FakeHub) -> None:
    repo = fake_hub.repos.sample
    files = tree_files(fake_hub, repo, fake_hub.repos.revisions[repo])
    on_disk = sorted(
        p for p in (fake_hub.repos.root / repo).rglob("*") if p.is_file() and p.name != ".fakehub.json"
    )
    assert sorted(files) == [p.relative_to(fake_hub.repos.root / repo).as_posix() for p in on_disk]
    for path in on_disk:
        entry = files[path.relative_to(fake_hub.repos.root / repo).as_posix()]
        assert entry.size == path.stat().st_size
        if path.suffix == ".parquet":
            assert entry.lfs is not None and entry.lfs.sha256 == sha256(path)
        else:
            assert entry.lfs is None
            assert entry.blob_id == hashlib.sha1(b"blob %d\0" % entry.size + path.read_bytes()).hexdigest()
    pages = [r for r in fake_hub.requests() if "/tree/" in r["path"]]
    assert len(pages) > 1 and "cursor=" in pages[-1]["query"]


@pytest.mark.parametrize("config", ["en", "vi", "code"])
def test_downloaded_train_shards_hold_the_sample(fake_hub: FakeHub, tmp_path: Path, config: str) -> None:
    repo = fake_hub.repos.sample
    revision = fake_hub.repos.revisions[repo]
    files = tree_files(fake_hub, repo, revision)
    shards = sorted(p for p in files if p.startswith(f"data/{config}/train-"))
    assert len(shards) == 2
    documents = []
    for shard in shards:
        local = download(fake_hub, repo, shard, tmp_path, revision=revision)
        lfs = files[shard].lfs
        assert lfs is not None and sha256(local) == lfs.sha256
        table = pq.read_table(local)
        assert table.column_names == ["id", "text"]
        documents += list(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    assert documents == jsonl_documents(fake_hub.repos.configs[config])
    resolves = [r for r in fake_hub.requests() if r["role"] == "hub" and "/resolve/" in r["path"]]
    assert {r["status"] for r in resolves} == {302}  # LFS files come from the CDN, as on the Hub


def test_snapshot_fetches_one_config_only(fake_hub: FakeHub) -> None:
    folder = Path(snapshot_download(fake_hub.repos.sample, repo_type="dataset", allow_patterns=["data/vi/*"]))
    assert folder.name == fake_hub.repos.revisions[fake_hub.repos.sample]
    assert folder.is_relative_to(fake_hub.hf_home / "hub")
    got = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert got == ["data/vi/train-00000-of-00002.parquet", "data/vi/train-00001-of-00002.parquet"]
    fetched = {r["path"].removeprefix("/lfs/") for r in fake_hub.requests() if r["role"] == "cdn"}
    assert fetched == {f"smolprep-test/sample/{p}" for p in got}


def test_default_endpoint_is_the_fake_hub(fake_hub: FakeHub) -> None:
    """Without `endpoint=`, the patched constants send the client to the test Hub, never to the internet."""
    local = hf_hub_download(fake_hub.repos.sample, "README.md", repo_type="dataset")
    assert Path(local).read_text().startswith("---\nconfigs:")
    assert [r["path"] for r in fake_hub.requests()] == [
        "/datasets/smolprep-test/sample/resolve/main/README.md"
    ] * 2


def test_gated_repo_needs_a_granted_token(fake_hub: FakeHub, tmp_path: Path) -> None:
    repo, shard = fake_hub.repos.gated, "data/en/train-00000-of-00002.parquet"
    with pytest.raises(GatedRepoError) as anonymous:
        download(fake_hub, repo, shard, tmp_path)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as refused:
        download(fake_hub, repo, shard, tmp_path, token="hf_other")
    assert refused.value.response.status_code == 403
    assert "not in the authorized list" in str(refused.value)
    local = download(fake_hub, repo, shard, tmp_path, token=GRANTED_TOKEN)
    assert pq.read_table(local).num_rows > 0
    granted = fake_hub.requests()[-2:]
    assert [(r["role"], r["auth"]) for r in granted] == [("hub", GRANTED_TOKEN), ("cdn", None)]


def test_missing_repo_revision_and_file(fake_hub: FakeHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=fake_hub.endpoint)
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("smolprep-test/nothing")
    with pytest.raises(RepositoryNotFoundError):
        download(fake_hub, "smolprep-test/nothing", "README.md", tmp_path)
    with pytest.raises(RevisionNotFoundError):
        api.dataset_info(fake_hub.repos.sample, revision="v9")
    with pytest.raises(RevisionNotFoundError):
        download(fake_hub, fake_hub.repos.sample, "README.md", tmp_path, revision="v9")
    with pytest.raises(EntryNotFoundError):
        download(fake_hub, fake_hub.repos.sample, "data/fr/train-00000-of-00001.parquet", tmp_path)


def test_every_file_answers_ranges(fake_hub: FakeHub) -> None:
    readme = fake_hub.repos.root / fake_hub.repos.sample / "README.md"
    url = f"{fake_hub.endpoint}/datasets/{fake_hub.repos.sample}/resolve/main/README.md"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=4-"})) as answer:
        assert answer.status == 206
        assert (
            answer.headers["Content-Range"] == f"bytes 4-{readme.stat().st_size - 1}/{readme.stat().st_size}"
        )
        assert answer.read() == readme.read_bytes()[4:]
    with pytest.raises(urllib.error.HTTPError) as past_the_end:
        urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=999999-"}))
    assert past_the_end.value.code == 416


def flaky_gets(hub: FakeHub) -> list[dict[str, object]]:
    return [r for r in hub.requests() if r["role"] == "cdn" and r["path"].endswith(hub.repos.flaky_file)]


def test_cut_shard_is_fetched_again_by_the_client(fake_hub: FakeHub, tmp_path: Path) -> None:
    repo, path = fake_hub.repos.flaky, fake_hub.repos.flaky_file
    lfs = tree_files(fake_hub, repo)[path].lfs
    local = download(fake_hub, repo, path, tmp_path)  # no error: the client retried on its own
    assert lfs is not None and sha256(local) == lfs.sha256
    gets = flaky_gets(fake_hub)
    assert [(g["cut"], g["range"], g["status"]) for g in gets] == [(True, None, 200), (False, None, 200)]


def test_cut_shard_resumes_with_range(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With chunks smaller than the bytes received before the cut, the retry asks for the rest only."""
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 16 * 1024)
    repo, path = fake_hub.repos.flaky, fake_hub.repos.flaky_file
    lfs = tree_files(fake_hub, repo)[path].lfs
    local = download(fake_hub, repo, path, tmp_path)
    assert lfs is not None and sha256(local) == lfs.sha256
    first, retry = flaky_gets(fake_hub)
    assert (first["cut"], first["range"]) == (True, None)
    assert retry["status"] == 206 and retry["range"] == f"bytes={lfs.size // 2 // (16 * 1024) * 16 * 1024}-"


def test_stopped_hub_refuses_and_cache_serves(fake_hub: FakeHub) -> None:
    repo = fake_hub.repos.sample
    cached = hf_hub_download(repo, "README.md", repo_type="dataset", endpoint=fake_hub.endpoint)
    fake_hub.stop()
    with pytest.raises(httpx2.ConnectError):
        HfApi(endpoint=fake_hub.endpoint).dataset_info(repo)
    assert hf_hub_download(repo, "README.md", repo_type="dataset", endpoint=fake_hub.endpoint) == cached
    offline = (
        "from huggingface_hub import hf_hub_download as d; print(d(%r, 'README.md', repo_type='dataset'))"
    )
    env = os.environ | {"HF_HUB_OFFLINE": "1"}  # HF_HOME and HF_ENDPOINT come from the fixture
    run = subprocess.run(
        [sys.executable, "-c", offline % repo], env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == cached
