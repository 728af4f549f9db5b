"""Fetching one `source:` dataset's subset and split from the Hugging Face Hub with `huggingface_hub`.

The revision is resolved once (the branch's commit sha) and every file is downloaded at that commit, so
the files belong together and `fetch.json` can name it. The Hub is asked through huggingface_hub (its
API, its URLs, its HTTP session and headers, its errors); the bytes of each file go to `<file>.part` next
to the file, so that a fetch killed mid-file continues where it stopped with an HTTP Range request (the
library's own download restarts an interrupted file from zero in a later call). A cut connection is
resumed the same way, a few times. Each file is checked against the Hub's checksum (sha256 for LFS files,
the git blob sha1 otherwise) before it takes its name; `fetch.json` is written last. The token is
huggingface_hub's usual one (`HF_TOKEN`, or the one saved by `hf auth login`)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from smolprep.config.stage import DatasetSpec
from smolprep.sources.patterns import ConfigNotFound, card_configs, split_files
from smolprep.sources.record import (
    RECORD_NAME,
    FetchedFile,
    FetchRecord,
    source_folder,
    tokenizer_file,
    write_record,
)

CARD = "README.md"
CHUNK = 1 << 20
RESUME_ATTEMPTS = 5  # tries of one file when the connection is cut, each resuming from the part


class FetchError(RuntimeError):
    """The fetch of one dataset failed: one line saying what and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None  # LFS files
    git_sha1: str | None  # other files: the git blob id


@dataclass(frozen=True)
class FetchPlan:
    """What a fetch downloads: the commit and the files of the subset and split."""

    spec: DatasetSpec
    folder: Path
    revision: str
    files: tuple[RemoteFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


class Progress:
    """Told about each file as it is done (the command line draws bytes and files)."""

    def file_done(self, spec: DatasetSpec, path: str, size: int) -> None:
        """Called from the download threads."""


def plan_fetch(spec: DatasetSpec, root: Path, api: HfApi) -> FetchPlan:
    """Resolve the revision and the files to download (asks the Hub, downloads only the dataset card)."""
    repo = _repo(spec)
    with _hub_errors(spec):
        revision = api.dataset_info(repo, revision="main").sha
        if not revision:
            raise FetchError(f"{spec.name}: the Hub gave no commit for {repo}")
        tree = [
            f
            for f in api.list_repo_tree(repo, repo_type="dataset", revision=revision, recursive=True)
            if isinstance(f, RepoFile)
        ]
        card = ""
        if any(f.path == CARD for f in tree):
            local = hf_hub_download(
                repo, CARD, repo_type="dataset", revision=revision, endpoint=api.endpoint, token=api.token
            )
            card = Path(str(local)).read_text(encoding="utf-8", errors="replace")
    try:
        wanted = split_files([f.path for f in tree], card_configs(card), spec.subset, spec.split, repo)
    except ConfigNotFound as err:
        raise FetchError(f"{spec.name}: {err}") from None
    if not wanted:
        raise FetchError(
            f"{spec.name}: {repo} has no data files for subset {spec.subset!r}, split {spec.split!r}"
        )
    by_path = {f.path: f for f in tree}
    files = tuple(_remote(by_path[p]) for p in wanted)
    return FetchPlan(spec, source_folder(root, spec), revision, files)


def _remote(f: RepoFile) -> RemoteFile:
    lfs = f.lfs
    return RemoteFile(f.path, f.size, lfs.sha256 if lfs is not None else None, f.blob_id)


def fetch(plan: FetchPlan, api: HfApi, workers: int = 4, progress: Progress | None = None) -> FetchRecord:
    """Download and check every file of the plan, then write fetch.json; FetchError on any failure (the
    files already checked stay, a partial one stays as `.part`, and a rerun resumes)."""
    spec, folder = plan.spec, plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    _check_space(plan)
    report = progress or Progress()

    def one(remote: RemoteFile) -> FetchedFile:
        target = folder / remote.path
        if not _complete(target, remote.size):
            with _hub_errors(spec):
                _download(api, plan, remote, target)
        checked = _checked(spec, target, remote)
        report.file_done(spec, remote.path, remote.size)
        return checked

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = list(pool.map(one, plan.files))
    _remove_stale(folder, {f.path for f in plan.files})
    record = FetchRecord(_repo(spec), spec.subset, spec.split, plan.revision, tuple(done), time.time())
    write_record(folder, record)
    return record


def _download(api: HfApi, plan: FetchPlan, remote: RemoteFile, target: Path) -> None:
    """`remote` into `target` through `<target>.part`, resumed from the part's size (Range) after a kill or
    a cut connection; the part takes the target's name only when it has the Hub's size."""
    url = hf_hub_url(
        _repo(plan.spec), remote.path, repo_type="dataset", revision=plan.revision, endpoint=api.endpoint
    )
    headers = build_hf_headers(token=api.token)
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(RESUME_ATTEMPTS):
        have = part.stat().st_size if part.is_file() else 0
        if have > remote.size:  # not a prefix of this file: start again
            part.unlink()
            have = 0
        if have == remote.size:
            break
        asked = {**headers, "Range": f"bytes={have}-"} if have else headers
        try:
            with get_session().stream("GET", url, headers=asked, follow_redirects=True, timeout=60) as answer:
                hf_raise_for_status(answer)
                resumed = answer.status_code == 206
                with open(part, "ab" if resumed else "wb") as f:
                    for block in answer.iter_bytes():  # as it arrives: a cut keeps what came
                        f.write(block)
        except httpx2.TransportError:
            if attempt == RESUME_ATTEMPTS - 1:
                raise
            time.sleep(min(2**attempt, 10))
    if not _complete(part, remote.size):
        raise FetchError(f"{plan.spec.name}: {remote.path} stopped short; fetch again (it resumes)")
    part.replace(target)


def fetch_tokenizer(repo: str, root: Path, api: HfApi, refresh: bool = False) -> Path:
    """The tokenizer.json of Hub model repo `repo`, at `sources/models/<repo>/tokenizer.json` (downloaded
    once: kept unless `refresh`)."""
    target = tokenizer_file(root, repo)
    if target.is_file() and not refresh:
        return target
    spec = DatasetSpec(name="tokenizer", source=repo)  # names the repo in the error messages
    with _hub_errors(spec):
        try:
            local = hf_hub_download(
                repo,
                target.name,
                repo_type="model",
                local_dir=target.parent,
                endpoint=api.endpoint,
                token=api.token,
            )
        except EntryNotFoundError:
            raise FetchError(f"tokenizer: model repo {repo} has no tokenizer.json") from None
    return Path(str(local))


def _repo(spec: DatasetSpec) -> str:
    if spec.source is None:
        raise ValueError(f"dataset {spec.name} has no `source`")
    return spec.source


def _checked(spec: DatasetSpec, local: Path, remote: RemoteFile) -> FetchedFile:
    """The file as recorded, after its size and the Hub's checksum matched; a mismatch removes it."""
    sha256, git = hashlib.sha256(), hashlib.sha1(f"blob {remote.size}\0".encode())
    size = 0
    with open(local, "rb") as f:
        while block := f.read(CHUNK):
            size += len(block)
            sha256.update(block)
            git.update(block)
    expected = remote.sha256 or remote.git_sha1
    found = sha256.hexdigest() if remote.sha256 else git.hexdigest()
    if size != remote.size or (expected and found != expected):
        local.unlink(missing_ok=True)
        raise FetchError(
            f"{spec.name}: {remote.path} arrived damaged ({size:,} bytes, checksum {found[:12]}; the Hub says "
            f"{remote.size:,} bytes, {str(expected)[:12]}); it was removed: fetch again"
        )
    return FetchedFile(remote.path, size, sha256.hexdigest())


def _remove_stale(folder: Path, wanted: set[str]) -> None:
    """Files of another revision (a `--refresh` whose file names changed) would be read with the new ones:
    only the fetched files, and fetch.json, stay in the folder."""
    for path in [p for p in folder.rglob("*") if p.is_file()]:
        name = path.relative_to(folder).as_posix()
        if name != RECORD_NAME and name not in wanted:
            path.unlink()


def _check_space(plan: FetchPlan) -> None:
    missing = sum(f.size for f in plan.files if not _complete(plan.folder / f.path, f.size))
    free = shutil.disk_usage(plan.folder).free
    if missing > free:
        raise FetchError(
            f"{plan.spec.name}: {missing / 1e9:,.1f} GB to download but {free / 1e9:,.1f} GB free in "
            f"{plan.folder}; free some space or fetch to another storage_root"
        )


def _complete(path: Path, size: int) -> bool:
    return path.is_file() and path.stat().st_size == size


@contextlib.contextmanager
def _hub_errors(spec: DatasetSpec) -> Iterator[None]:
    """Turns what the Hub and the network can answer into a one-line FetchError for `spec`."""
    try:
        yield
    except FetchError:
        raise
    except Exception as err:
        message = _explain(spec, err)
        if message is None:
            raise
        raise FetchError(f"{spec.name}: {message}") from None


def _explain(spec: DatasetSpec, err: BaseException) -> str | None:
    repo = spec.source
    page = f"https://huggingface.co/datasets/{repo}"
    if isinstance(err, GatedRepoError):
        return (
            f"{repo} is gated: accept its conditions at {page} with your account, then log in on this machine "
            "(`hf auth login`) or set HF_TOKEN"
        )
    if isinstance(err, RepositoryNotFoundError):
        return f"no dataset repo {repo} on the Hub (or it is private and this token cannot see it); check `source`"
    if isinstance(err, RevisionNotFoundError):
        return f"{repo} has no branch main; check `source`"
    if isinstance(err, EntryNotFoundError):
        return f"a file of {repo} disappeared during the fetch ({err}); fetch again"
    if isinstance(err, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set: fetch runs where the Hub can be reached (unset it)"
    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code if err.response is not None else None
        if status == 401:
            return "the Hub refused the token (401): log in again (`hf auth login`) or fix HF_TOKEN"
        return f"the Hub answered {status}: {str(err).splitlines()[0]}"
    if isinstance(err, httpx2.HTTPError):
        return f"cannot reach the Hub ({type(err).__name__}: {err}); check the network or HF_ENDPOINT, then fetch again"
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return f"disk full while writing {err.filename or 'a file'}; free some space, then fetch again (it resumes)"
    return None
