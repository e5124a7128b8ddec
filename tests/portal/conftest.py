"""One real portal process (`python -m neuroscale.portal`) over a fresh platform home, shared by the portal tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from tests.conftest import free_port, running


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


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory, iris_model: Path) -> Iterator[Portal]:
    home = Home(tmp_path_factory.mktemp("portal-home"))
    PlatformContext.open(home, create=True).close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "neuroscale.portal", "--home", str(home.root), "--port", str(port)]
    with running(argv, ready_url=f"{url}/healthz"):
        yield Portal(url=url, home=home, model=iris_model)


@pytest.fixture()
def client(portal: Portal) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.url, timeout=30.0, follow_redirects=False) as http:
        yield http
