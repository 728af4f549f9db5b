"""A real S3 server for tests (moto's standalone server, on 127.0.0.1) and a proxy that breaks requests.

CI has no network and no AWS account, so the tests of `smolprep.pipelines.contents` point the real boto3
client at moto's server (``python -m moto.server``), which speaks S3's HTTP protocol: buckets, objects,
XML errors such as NoSuchKey and NoSuchBucket.

`FaultProxy` stands between the client and the server to make transient failures real: for the object
keys it is told about it answers ``503 SlowDown`` or ``500 InternalError`` with S3's XML error body, or
closes the connection without answering, before it forwards requests to the server; `broken` keys fail
on every request. It counts the requests it saw per path, and lists the paths it forwarded in the order the
server answered them.

`moto_s3` is the pytest fixture: a fresh server for the test, and the dummy credentials of boto3's
standard variables set in the environment (so child processes inherit them); it yields the endpoint URL.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ACCESS_KEY = "testing"
SECRET_KEY = "testing-secret-value"  # distinctive, so a test can check that no log line carries it
REGION = "us-east-1"
START_TIMEOUT = 30.0  # seconds for the server to answer its first request

# fault -> (HTTP status, S3 error code); "reset" closes the connection without an answer
FAULTS = {"503": (503, "SlowDown"), "500": (500, "InternalError")}
RESET = "reset"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """moto's S3 server as a subprocess on 127.0.0.1:`port`; `stop` then `start` keeps the port."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="moto-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.answers():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"moto server did not answer on {self.endpoint} in {START_TIMEOUT} s:\n{self.log_tail()}"
        )

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer means it serves
        except OSError:
            return False

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def close(self) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of `upstream` that fails chosen object keys before forwarding.

    Args:
        upstream: the server's URL, e.g. ``http://127.0.0.1:5000``.
        planned: object key -> faults served once each, in order, to that key's first requests
            (``"503"``, ``"500"``, ``"reset"``); later requests are forwarded.
        broken: object key -> the fault served to every request for that key.
    """

    def __init__(
        self,
        upstream: str,
        planned: Mapping[str, Sequence[str]] | None = None,
        broken: Mapping[str, str] | None = None,
    ):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.planned = {key: list(faults) for key, faults in (planned or {}).items()}
        self.broken = dict(broken or {})
        self.requests: Counter[str] = Counter()  # request path -> requests seen
        self.faults_served: Counter[str] = Counter()  # fault -> times served
        self.forwarded: list[str] = []  # request paths forwarded to the server, in the order they were
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def requests_to(self, key: str) -> int:
        """Requests seen for an object key (whatever the addressing style)."""
        with self.lock:
            return sum(n for path, n in self.requests.items() if path.endswith("/" + key))

    def fault_for(self, path: str) -> str | None:
        """The fault to serve for a request path (path-style or virtual-host style), or None to forward."""
        with self.lock:
            self.requests[path] += 1
            key = next((k for k in [*self.planned, *self.broken] if path.endswith("/" + k)), None)
            if key is None:
                return None
            fault = self.broken.get(key) or (self.planned[key].pop(0) if self.planned.get(key) else None)
            if fault:
                self.faults_served[fault] += 1
            return fault


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        fault = proxy.fault_for(urlsplit(self.path).path)
        if fault == RESET:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif fault:
            self.answer_error(*FAULTS[fault])
        else:
            self.forward(proxy.upstream)
            with proxy.lock:
                proxy.forwarded.append(urlsplit(self.path).path)

    do_HEAD = do_GET
    do_PUT = do_GET

    def answer_error(self, status: int, code: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>injected by the test proxy</Message>"
            "<RequestId>fault</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, upstream: tuple[str, int]) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(*upstream, timeout=30)
        try:
            connection.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test reads `FaultProxy.requests`


def set_dummy_credentials(monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> None:
    """Dummy credentials in boto3's standard variables; no profile, config file or proxy of the machine."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_dir / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config_dir / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv(
        "NO_PROXY", ",".join(filter(None, ["127.0.0.1", "localhost", os.environ.get("NO_PROXY")]))
    )


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A fresh moto S3 server for one test, with dummy AWS credentials in the environment: its endpoint URL."""
    set_dummy_credentials(monkeypatch, tmp_path)
    server = MotoServer().start()
    try:
        yield server.endpoint
    finally:
        server.close()
