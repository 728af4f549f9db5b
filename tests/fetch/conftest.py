"""The `fake_hub` fixture: the test Hub (`tests.fakes.hub_server`) running as a subprocess on 127.0.0.1.

How a test points `huggingface_hub` at it. The library reads `HF_ENDPOINT`, `HF_HOME`, `HF_HUB_OFFLINE`
and `HF_TOKEN_PATH` once, when it is imported, into `huggingface_hub.constants`; so setting the environment
reaches a subprocess (such as `launch.py fetch`) but not the test's own process, where the library is
already imported. The fixture does both: it sets the environment and patches the constants read at call
time. `ENDPOINT` and `HUGGINGFACE_CO_URL_TEMPLATE` are patched together: `hf_hub_url` builds the URL from
the template and then swaps `constants.ENDPOINT` for the `endpoint=` argument, so patching `ENDPOINT`
alone would make an explicit `endpoint=` silently ignored. Code under test should still pass
`endpoint=` (e.g. `HfApi(endpoint=...)`) rather than count on the constants.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import constants

from tests.fakes.hub_repo import HubRepos, build_repos

ROOT = Path(__file__).resolve().parents[2]
GRANTED_TOKEN = "hf_good"
PAGE_SIZE = 4  # small, so that every tree listing is paginated


@dataclass
class FakeHub:
    """A running test Hub: its address, its repos, its request log, and `stop()`."""

    endpoint: str
    repos: HubRepos
    log_path: Path
    hf_home: Path
    process: subprocess.Popen[str]

    def requests(self) -> list[dict[str, Any]]:
        """Every request served so far: role (hub/cdn), method, path, query, range, auth, status, cut."""
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def stop(self) -> None:
        """Stop the server (SIGTERM, then wait): later requests fail to connect."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="session")
def hub_repos(tmp_path_factory: pytest.TempPathFactory) -> HubRepos:
    """The test repos, built once from the shipped sample."""
    return build_repos(tmp_path_factory.mktemp("hub-repos"))


def start_server(repos: HubRepos, log_path: Path, slow: int = 0) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "tests.fakes.hub_server", "--root", str(repos.root), "--port", "0"]
    command += ["--grant", GRANTED_TOKEN, "--page-size", str(PAGE_SIZE), "--log", str(log_path)]
    command += ["--slow", str(slow)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    endpoint = process.stdout.readline().strip()
    if not endpoint.startswith("http://127.0.0.1:"):
        process.kill()
        raise RuntimeError(f"the test Hub did not start (it printed {endpoint!r})")
    return process, endpoint


@pytest.fixture
def fake_hub(
    hub_repos: HubRepos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[FakeHub]:
    """A fresh server (so files cut "once" are cut again) and an empty `HF_HOME`, for one test. A test
    marked `@pytest.mark.hub_slow(BYTES_PER_S)` gets file bodies at that rate (to kill a download)."""
    marker = request.node.get_closest_marker("hub_slow")
    process, endpoint = start_server(hub_repos, tmp_path / "requests.jsonl", marker.args[0] if marker else 0)
    hf_home = tmp_path / "hf_home"
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(hf_home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(hf_home / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    hub = FakeHub(endpoint, hub_repos, tmp_path / "requests.jsonl", hf_home, process)
    yield hub
    hub.stop()
