"""A small Hugging Face Hub for tests: the HTTP endpoints `huggingface_hub` calls to read dataset repos.

CI has no internet, so the tests of `launch.py fetch` point the real `huggingface_hub` client at this
server (`HF_ENDPOINT`). It serves dataset repos laid out as folders under `--root` (`<root>/<namespace>/
<name>/...`, built by `tests.fakes.hub_repo`) and answers the way the Hub does:

- `GET /api/datasets/{repo}[/revision/{rev}]`: the repo info (`HfApi.dataset_info`, `repo_info`).
- `GET /api/datasets/{repo}/tree/{rev}[/{path}]`: the file listing (`HfApi.list_repo_tree`), paginated
  with a `Link: <...>; rel="next"` header like the Hub's cursor pagination.
- `HEAD|GET /datasets/{repo}/resolve/{rev}/{path}`: a file (`hf_hub_download`). A regular file is served
  here with its git blob sha1 as `ETag`; an LFS file answers 302 to a second port standing for the CDN,
  carrying `X-Linked-Etag` (its sha256) and `X-Linked-Size`, and the CDN serves the bytes. Every answer
  carries `X-Repo-Commit`. The CDN is another origin, so the client drops `Authorization` there.

Each repo has one commit (the sha1 of its file listing) and the branch `main` pointing to it. Errors carry
the Hub's `X-Error-Code` and `X-Error-Message` headers, which `hf_raise_for_status` turns into
`RepositoryNotFoundError`, `RevisionNotFoundError`, `EntryNotFoundError` or `GatedRepoError`. A repo's
`.fakehub.json` says what the Hub would keep outside git: `gated`, `card_data`, and `break_once`, the files
whose first GET is cut mid-transfer (full `Content-Length`, half the body, then the connection closes).
Every file answers `Range: bytes=N-` with 206. Each request is logged as one JSON line to `--log`.

Run: `python -m tests.fakes.hub_server --root DIR --port 0 [--grant hf_good] [--log FILE]`; it prints
`http://127.0.0.1:<port>` once ready and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, quote, unquote, urlsplit

META = ".fakehub.json"
LAST_MODIFIED = "2024-01-01T00:00:00.000Z"
LFS_SUFFIXES = (".parquet", ".arrow", ".gz", ".zst")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file with these bytes (what the Hub calls the blob `oid`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The git-lfs pointer file that git stores in place of an LFS file."""
    sha256 = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()


def repo_files(folder: Path) -> list[str]:
    """The repo's file paths, sorted (the server's own metadata file is not part of the repo)."""
    return sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != META
    )


def commit_sha(folder: Path) -> str:
    """The repo's one commit id: the sha1 of its id and its listing of (path, git blob id)."""
    lines = [f"{folder.parent.name}/{folder.name}\n"]
    lines += [f"{path} {git_blob_sha1((folder / path).read_bytes())}\n" for path in repo_files(folder)]
    return hashlib.sha1("".join(lines).encode()).hexdigest()


@dataclass
class Entry:
    """One file of a repo, with the ids the Hub reports for it."""

    path: str
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def tree_json(self) -> dict[str, Any]:
        """An item of the tree listing: LFS files report the pointer's oid and an `lfs` object."""
        item: dict[str, Any] = {"type": "file", "path": self.path, "size": len(self.data)}
        if not self.lfs:
            return item | {"oid": git_blob_sha1(self.data)}
        pointer = lfs_pointer(self.data)
        lfs = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(pointer)}
        return item | {"oid": git_blob_sha1(pointer), "lfs": lfs}


@dataclass
class Repo:
    """A dataset repo read from its folder."""

    repo_id: str
    sha: str
    files: dict[str, Entry]
    meta: dict[str, Any]

    @classmethod
    def load(cls, root: Path, repo_id: str) -> Repo | None:
        folder = root / repo_id
        if repo_id.count("/") != 1 or ".." in repo_id or not folder.is_dir():
            return None
        meta_file = folder / META
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        files = {p: Entry(p, (folder / p).read_bytes(), p.endswith(LFS_SUFFIXES)) for p in repo_files(folder)}
        return cls(repo_id, commit_sha(folder), files, meta)

    def folders(self) -> list[str]:
        return sorted({"/".join(p.split("/")[:i]) for p in self.files for i in range(1, p.count("/") + 1)})

    def info_json(self, blobs: bool) -> dict[str, Any]:
        """What `GET /api/datasets/{repo}` answers (`DatasetInfo`); `blobs=true` adds sizes and LFS info."""
        siblings = []
        for entry in self.files.values():
            sibling: dict[str, Any] = {"rfilename": entry.path}
            if blobs:
                item = entry.tree_json()
                sibling |= {"size": item["size"], "blobId": item["oid"]}
                if entry.lfs:
                    lfs = item["lfs"]
                    sibling["lfs"] = {
                        "size": lfs["size"],
                        "sha256": lfs["oid"],
                        "pointerSize": lfs["pointerSize"],
                    }
            siblings.append(sibling)
        return {
            "_id": self.sha[:24],
            "id": self.repo_id,
            "author": self.repo_id.split("/")[0],
            "sha": self.sha,
            "lastModified": LAST_MODIFIED,
            "createdAt": LAST_MODIFIED,
            "private": False,
            "gated": self.meta.get("gated", False),
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "cardData": self.meta.get("card_data"),
            "siblings": siblings,
        }

    def tree_json(self, path: str, recursive: bool) -> list[dict[str, Any]] | None:
        """The items under `path` (None if it is not a folder), folders and files in path order."""
        prefix = f"{path}/" if path else ""
        if path and path not in self.folders():
            return None
        items: list[dict[str, Any]] = [
            {"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0}
            for d in self.folders()
        ]
        items += [entry.tree_json() for entry in self.files.values()]
        under = [i for i in items if i["path"].startswith(prefix)]
        if not recursive:
            under = [i for i in under if "/" not in i["path"][len(prefix) :]]
        return sorted(under, key=lambda i: i["path"])


class HubError(Exception):
    """An error answer: status, the Hub's `X-Error-Code` and its message."""

    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


@dataclass
class Hub:
    """The server's state: where repos live, granted tokens, the CDN address, files already broken once."""

    root: Path
    grants: set[str]
    page_size: int
    log_file: Path | None
    cdn_base: str = ""
    slow_bytes_per_s: int = 0  # file bodies trickle at this rate (0: sent at once)
    broken: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def repo(self, repo_id: str) -> Repo:
        repo = Repo.load(self.root, repo_id)
        if repo is None:
            raise HubError(404, "RepoNotFound", "Repository not found")
        return repo

    def revision(self, repo: Repo, revision: str) -> None:
        if revision not in ("main", repo.sha):
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def check_access(self, repo: Repo, token: str | None) -> None:
        """A gated repo's files need a granted token: 401 without a token, 403 with another (as the Hub)."""
        if not repo.meta.get("gated"):
            return
        kind = f"Access to dataset {repo.repo_id} is restricted"
        if token is None:
            msg = f"{kind}. You must have access to it and be authenticated to access it. Please log in."
            raise HubError(401, "GatedRepo", msg, repo.sha)
        if token not in self.grants:
            msg = f"{kind} and you are not in the authorized list. Visit /datasets/{repo.repo_id} to ask for access."
            raise HubError(403, "GatedRepo", msg, repo.sha)

    def break_now(self, repo: Repo, path: str) -> bool:
        """Whether this GET is the first of a file listed in `break_once` (then it is cut)."""
        key = f"{repo.repo_id}/{path}"
        with self.lock:
            if path not in repo.meta.get("break_once", []) or key in self.broken:
                return False
            self.broken.add(key)
            return True

    def log(self, record: dict[str, Any]) -> None:
        if self.log_file is None:
            return
        with self.lock, self.log_file.open("a") as f:
            f.write(json.dumps(record) + "\n")


RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
MODEL_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")  # model repos
INFO = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
TREE = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
CDN = re.compile(r"^/lfs/(?P<repo>[^/]+/[^/]+)/(?P<path>.+)$")
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
SLOW_BLOCK = 16 * 1024  # bytes per write when --slow


class Handler(BaseHTTPRequestHandler):
    """Routes one request; `server.hub` is the shared state and `server.role` is "hub" or "cdn"."""

    protocol_version = "HTTP/1.1"
    cut = False  # set when the answer was cut mid-transfer

    @property
    def hub(self) -> Hub:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # the JSON log replaces stderr lines
        return

    def do_HEAD(self) -> None:
        self.route()

    def do_GET(self) -> None:
        self.route()

    def route(self) -> None:
        url = urlsplit(self.path)
        try:
            self.dispatch(unquote(url.path), {k: v[-1] for k, v in parse_qs(url.query).items()})
        except HubError as err:
            self.send_error_json(err)

    def start(self, status: int, headers: dict[str, str]) -> None:
        """Log the request, then send the status line and headers (so the log is complete before any
        client sees the answer)."""
        url, auth = urlsplit(self.path), self.headers.get("Authorization")
        record = {"role": self.server.role, "method": self.command, "path": unquote(url.path)}  # type: ignore[attr-defined]
        record |= {"query": url.query, "range": self.headers.get("Range"), "status": status, "cut": self.cut}
        self.hub.log(record | {"auth": auth.removeprefix("Bearer ") if auth else None})
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def dispatch(self, path: str, query: dict[str, str]) -> int:
        if self.server.role == "cdn":  # type: ignore[attr-defined]
            if m := CDN.match(path):
                return self.serve_lfs(self.hub.repo(m["repo"]), m["path"])
        elif m := RESOLVE.match(path) or MODEL_RESOLVE.match(path):
            return self.resolve(m["repo"], m["rev"], m["path"])
        elif self.command == "GET" and (m := TREE.match(path)):
            return self.tree(m["repo"], m["rev"], (m["path"] or "").strip("/"), query)
        elif self.command == "GET" and (m := INFO.match(path)):
            repo = self.hub.repo(m["repo"])
            self.hub.revision(repo, m["rev"] or "main")
            return self.send_json(repo.info_json(query.get("blobs", "").lower() == "true"))
        raise HubError(404, None, f"Not found: {path}")

    def tree(self, repo_id: str, revision: str, path: str, query: dict[str, str]) -> int:
        """The tree listing, `page_size` items per page, the next page named in a `Link` header."""
        repo = self.hub.repo(repo_id)
        self.hub.revision(repo, revision)
        items = repo.tree_json(path, query.get("recursive", "").lower() == "true")
        if items is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {revision}", repo.sha)
        start = int(query.get("cursor", "0"))
        end = start + self.hub.page_size
        headers = {}
        if end < len(items):
            host = self.headers.get("Host", "")
            link = f"http://{host}{urlsplit(self.path).path}?recursive={query.get('recursive', 'false')}&cursor={end}"
            headers["Link"] = f'<{link}>; rel="next"'
        return self.send_json(items[start:end], headers)

    def resolve(self, repo_id: str, revision: str, path: str) -> int:
        """A file at a revision: regular files here, LFS files by a redirect to the CDN."""
        repo = self.hub.repo(repo_id)
        self.hub.revision(repo, revision)
        auth = self.headers.get("Authorization", "")
        self.hub.check_access(repo, auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None)
        entry = repo.files.get(path)
        if entry is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {revision}", repo.sha)
        if not entry.lfs:
            return self.send_bytes(repo, entry, {"ETag": f'"{git_blob_sha1(entry.data)}"'})
        headers = {
            "Location": f"{self.hub.cdn_base}/lfs/{repo.repo_id}/{quote(path)}",
            "ETag": f'"{entry.sha256}"',
            "X-Linked-Etag": f'"{entry.sha256}"',
            "X-Linked-Size": str(len(entry.data)),
            "X-Repo-Commit": repo.sha,
            "Content-Length": "0",
        }
        return self.send(302, headers, b"")

    def serve_lfs(self, repo: Repo, path: str) -> int:
        """What the CDN answers for an LFS file: the bytes, no auth needed (the Hub's URLs are signed)."""
        entry = repo.files.get(path)
        if entry is None or not entry.lfs:
            raise HubError(404, None, "NoSuchKey")
        return self.send_bytes(repo, entry, {"ETag": f'"{entry.sha256}"'})

    def send_bytes(self, repo: Repo, entry: Entry, headers: dict[str, str]) -> int:
        """The file, or the asked `Range: bytes=N-[M]` of it (206); a first GET in `break_once` is cut."""
        data, status = entry.data, 200
        headers = headers | {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
        if (asked := self.headers.get("Range")) is not None:
            m = RANGE.match(asked)
            start = int(m[1]) if m else len(data)
            end = min(int(m[2]) if m and m[2] else len(data) - 1, len(data) - 1)
            if start >= len(data) or start > end:
                return self.send(416, headers | {"Content-Range": f"bytes */{len(data)}"}, b"")
            data, status = data[start : end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(entry.data)}"
        if self.command == "GET" and self.hub.break_now(repo, entry.path):
            return self.send_cut(status, headers, data)
        return self.send(status, headers, data)

    def send_cut(self, status: int, headers: dict[str, str], data: bytes) -> int:
        """Announce the whole body, send half of it, and close the connection."""
        self.cut = True
        self.start(status, headers | {"Content-Length": str(len(data))})
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        return status

    def send_error_json(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        if err.commit:
            headers["X-Repo-Commit"] = err.commit
        self.send_json({"error": err.message}, headers, err.status)

    def send_json(self, body: Any, headers: dict[str, str] | None = None, status: int = 200) -> int:
        data = json.dumps(body).encode()
        return self.send(status, (headers or {}) | {"Content-Type": "application/json; charset=utf-8"}, data)

    def send(self, status: int, headers: dict[str, str], body: bytes) -> int:
        self.start(status, {"Content-Length": str(len(body))} | headers)
        if self.command == "HEAD":
            return status
        if self.hub.slow_bytes_per_s and len(body) > SLOW_BLOCK:  # trickle, so a test can kill a download
            for i in range(0, len(body), SLOW_BLOCK):
                self.wfile.write(body[i : i + SLOW_BLOCK])
                self.wfile.flush()
                time.sleep(SLOW_BLOCK / self.hub.slow_bytes_per_s)
            return status
        self.wfile.write(body)
        return status


def make_server(hub: Hub, role: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.hub, server.role = hub, role  # type: ignore[attr-defined]
    return server


def stop(signum: int, frame: object) -> NoReturn:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder holding <namespace>/<name> repos")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--grant", action="append", default=[], help="a token with access to gated repos")
    parser.add_argument("--page-size", type=int, default=1000, help="tree items per page (the Hub: 1000)")
    parser.add_argument("--log", type=Path, help="append one JSON line per request here")
    parser.add_argument(
        "--slow",
        type=int,
        default=0,
        metavar="BYTES_PER_S",
        help="send file bodies at this rate (0: at once)",
    )
    args = parser.parse_args(argv)
    hub = Hub(args.root, set(args.grant), args.page_size, args.log)
    hub.slow_bytes_per_s = args.slow
    cdn = make_server(hub, "cdn", 0)
    hub.cdn_base = f"http://127.0.0.1:{cdn.server_address[1]}"
    threading.Thread(target=cdn.serve_forever, daemon=True).start()
    server = make_server(hub, "hub", args.port)
    signal.signal(signal.SIGTERM, stop)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
