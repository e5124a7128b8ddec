"""One real portal process (`python -m neuroscale.portal`) over a fresh platform home, shared by the portal tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from tests.conftest import free_port

STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Portal:
    url: str
    home: Home
    model: Path

    def spec(self, name: str, /, **overrides: Any) -> dict[str, Any]:
        """A valid endpoint body for `name`, serving the iris model."""
        body: dict[str, Any] = {"name": name, "owner": "team-ml", "costCenter": "cc-42", "modelFormat": "sklearn",
                                "storageUri": self.model.as_uri(), "cpuRequest": "100m", "cpuLimit": "1",
                                "memoryRequest": "128Mi", "memoryLimit": "512Mi"}
        body.update(overrides)
        return {k: v for k, v in body.items() if v is not None}

    def git_state(self) -> tuple[list[str], list[int]]:
        """Branches in the GitOps repository and numbers of recorded pull requests, read directly."""
        with PlatformContext.open(self.home) as ctx:
            return sorted(ctx.repo.branches()), sorted(pull.number for pull in ctx.provider.list())


def _wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"portal exited with {process.returncode}: {err}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("portal did not answer /healthz in time")


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Portal]:
    home = Home(tmp_path_factory.mktemp("portal-home"))
    PlatformContext.open(home, create=True).close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "neuroscale.portal", "--home", str(home.root), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_ready(process, url)
        yield Portal(url=url, home=home, model=iris_model)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture()
def client(portal: Portal) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, timeout=30.0, follow_redirects=False) as http:
        yield http
