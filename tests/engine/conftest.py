"""Integration fixtures: a real bare GitOps repo, a real reconciler process, real model servers.

Every fixture that starts processes stops them in its finalizer with
`stop_all`, so a failing test never leaves a model server behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from neuroscale.db import connect
from neuroscale.engine.runtime import stop_all
from neuroscale.engine.store import StatusStore
from neuroscale.gitops.repo import Author, GitRepo
from neuroscale.home import Home
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import LABEL_COST_CENTER
from neuroscale.spec.manifest import manifest_path, render, to_manifest
from neuroscale.status.conditions import Condition, ConditionType
from neuroscale.status.model import EndpointStatus, Event
from neuroscale.yamlio import dump
from tests.conftest import free_port, wait_for

AUTHOR = Author("Engine Test", "engine@example.com")


def iris_spec(model: Path, **changes: Any) -> EndpointSpec:
    return EndpointSpec(name="iris", owner="team-ml", cost_center="cc-1234", storage_uri=str(model)).model_copy(
        update=changes)


def without_cost_center(model: Path, **changes: str) -> bytes:
    """An iris manifest that fails the guardrail policy: no cost-center label."""
    manifest = to_manifest(iris_spec(model, **changes))
    del manifest["metadata"]["labels"][LABEL_COST_CENTER]
    return dump(manifest).encode()


def ready_of(status: EndpointStatus) -> Condition:
    condition = status.condition(ConditionType.Ready)
    assert condition is not None, f"{status.name} has no Ready condition"
    return condition


@dataclass
class Platform:
    """A platform home with its GitOps repo and (while started) a reconciler process."""

    home: Home
    repo: GitRepo
    gateway_port: int
    engine: subprocess.Popen[bytes] | None = None

    def start_engine(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.home.root / "engine.log").open("ab")
        self.engine = subprocess.Popen(
            [sys.executable, "-m", "neuroscale.engine", "--home", str(self.home.root), "--interval", "0.05",
             "--gateway-port", str(self.gateway_port), "--liveness-period", "0.3", *extra],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        log.close()
        return self.engine

    def stop_engine(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None and engine.poll() is None:
            engine.send_signal(signal.SIGTERM)
            try:
                engine.wait(timeout=10)
            except subprocess.TimeoutExpired:
                engine.kill()  # leave nothing running, then fail: the engine must stop on SIGTERM
                engine.wait()
                raise

    def commit(self, files: dict[str, bytes | None], message: str = "change main") -> str:
        return self.repo.commit(branch="main", files=files, message=message, author=AUTHOR)

    def deploy(self, spec: EndpointSpec) -> str:
        return self.commit({manifest_path(spec.name): render(spec).encode()}, f"deploy {spec.name}")

    def store(self) -> StatusStore:
        return StatusStore(connect(self.home.state_db))

    def status(self, name: str) -> EndpointStatus | None:
        store = self.store()
        try:
            return store.get(name)
        finally:
            store.conn.close()

    def events(self, name: str) -> list[Event]:
        store = self.store()
        try:
            return store.events(name=name, limit=1000)
        finally:
            store.conn.close()

    def wait_ready(self, name: str, *, revision: str | None = None, commit: str | None = None) -> EndpointStatus:
        def ready() -> EndpointStatus | None:
            status = self.status(name)
            if status is None or not status.ready:
                return None
            if revision and status.revision != revision or commit and status.observed_commit != commit:
                return None
            return status
        return wait_for(ready, timeout=40, what=f"{name} Ready {revision or ''}")

    def wait_reason(self, name: str, reason: str) -> EndpointStatus:
        def match() -> EndpointStatus | None:
            status = self.status(name)
            return status if status and any(c.reason == reason for c in status.conditions) else None
        return wait_for(match, timeout=40, what=f"{name} reason {reason}")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    home = Home(tmp_path / "home")
    repo = GitRepo.init_bare(home.remote, files={"apps/.gitkeep": b""}, author=AUTHOR, message="init")
    plat = Platform(home=home, repo=repo, gateway_port=free_port())
    yield plat
    try:
        plat.stop_engine()  # fails the test if the engine ignores SIGTERM …
    finally:
        stop_all(home)  # … but never leaves its model servers behind
    if os.environ.get("ENGINE_TEST_LOGS"):
        print((home.root / "engine.log").read_text())


@pytest.fixture
def running(platform: Platform) -> Platform:
    platform.start_engine()
    return platform


@contextmanager
def gateway_of(platform: Platform) -> Iterator[str]:
    """The real gateway in front of the platform's model servers (its engine started)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "neuroscale.gateway", "--home", str(platform.home.root),
         "--port", str(platform.gateway_port), "--hold-timeout", "15"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: platform.home.routes_applied_file.exists(), what="gateway acknowledges routes")
        yield f"http://127.0.0.1:{platform.gateway_port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def gateway(running: Platform) -> Iterator[str]:
    """The real gateway in front of the running engine's model servers."""
    with gateway_of(running) as url:
        yield url


def routes(home: Home) -> dict[str, Any]:
    import json

    document: dict[str, Any] = json.loads(home.routes_file.read_text())
    return document


def served_upstream(home: Home, name: str) -> str:
    """Wait for the routes file to route `name` again: events are recorded mid-tick, routes at its end."""
    def upstream() -> str | None:
        entry = routes(home)["endpoints"].get(name) or {}
        return str(entry["upstream"]) if entry.get("ready") and entry.get("upstream") else None
    return wait_for(upstream, what=f"route to {name}")


def server_pids(home: Home, revision: str | None = None) -> list[int]:
    """Model servers of `home` (of one revision): warm spares count once handed a revision."""
    from neuroscale.engine.procfs import serving_processes

    return sorted(p.pid for p in serving_processes(home.root) if p.revision and revision in (None, p.revision))


def predict(upstream: str, rows: list[list[float]]) -> Any:
    import httpx

    response = httpx.post(f"http://{upstream}/v1/models/iris:predict", json={"instances": rows}, timeout=10)
    response.raise_for_status()
    return response.json()
