"""The golden path with every real part: `neuroscale up` as a process, the CLI, git, SQLite,
model-server processes and HTTP through the gateway."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IRIS_ROWS, free_port, platform_up, wait_for_http

pytestmark = pytest.mark.e2e


def cli(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "neuroscale", *args, "--home", str(home)],
                            capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        pytest.fail(f"neuroscale {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def processes_of(home: Path) -> list[int]:
    """PIDs whose command line names this home: every process the platform started for it."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            # An argv element equal to the home path: `--home HOME`. (Filtering on "pytest" in the command
            # line would also drop every process of a home under /tmp/pytest-of-*, and so see nothing.)
            if str(home).encode() in argv and state != "Z":
                found.append(int(entry.name))
    return found


@pytest.fixture()
def platform(tmp_path: Path) -> Iterator[dict[str, Any]]:
    home = tmp_path / "home"
    portal, gateway = free_port(), free_port()
    try:
        with platform_up(home, portal=portal, gateway=gateway) as process:
            yield {"home": home, "portal": portal, "gateway": gateway, "process": process}
    finally:
        for pid in processes_of(home):
            os.kill(pid, signal.SIGKILL)


def predict(gateway: int, name: str, *, host: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{gateway}/v1/models/{name}:predict",
                                     data=json.dumps({"instances": IRIS_ROWS}).encode(), method="POST")
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_ready(home: Path, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        result = cli("status", name, "-o", "json", home=home, check=False)
        if result.returncode == 0:
            status = json.loads(result.stdout)
            ready = [c for c in status["conditions"] if c["type"] == "Ready"]
            if ready and ready[0]["status"] == "True":
                return status
        time.sleep(0.2)
    pytest.fail(f"{name} not Ready: {status}")


def test_create_merge_serve_survive_portal_loss_and_stop_cleanly(platform: dict[str, Any], iris_model: Path) -> None:
    home, gateway = platform["home"], platform["gateway"]
    created = cli("endpoint", "create", "--name", "iris", "--owner", "team-a", "--cost-center", "cc-1",
                  "--model-format", "sklearn", "--storage-uri", iris_model.as_uri(), home=home)
    assert "endpoint/iris" in created.stdout
    pulls = json.loads(cli("pr", "list", "-o", "json", home=home).stdout)
    assert [p["state"] for p in pulls] == ["open"]
    assert all(check["status"] == "pass" for check in pulls[0]["checks"])
    cli("pr", "merge", str(pulls[0]["number"]), home=home)

    status = wait_ready(home, "iris")
    assert status["sync"] == "Synced"
    assert status["health"] == "Healthy"
    assert status["url"] == f"http://iris.default.localhost:{gateway}"
    assert predict(gateway, "iris") == (200, {"predictions": [1, 1]})
    assert predict(gateway, "iris", host=f"iris.default.localhost:{gateway}") == (200, {"predictions": [1, 1]})
    # Host routing reaches the revision even for paths the gateway does not know by name.
    health = urllib.request.Request(f"http://127.0.0.1:{gateway}/v2/health/ready",
                                    headers={"Host": f"iris.default.localhost:{gateway}"})
    with urllib.request.urlopen(health, timeout=5) as response:
        assert response.status == 200

    # The portal is not the deployment engine: killing it leaves the endpoint serving.
    portal_pid = int((home / "run" / "portal.pid").read_text())
    os.kill(portal_pid, signal.SIGKILL)
    assert predict(gateway, "iris") == (200, {"predictions": [1, 1]})
    # ...and the supervisor brings the portal back.
    wait_for_http(f"http://127.0.0.1:{platform['portal']}/healthz", timeout=30)
    assert int((home / "run" / "portal.pid").read_text()) != portal_pid

    # A second platform on the same home is refused, clearly.
    second = subprocess.run([sys.executable, "-m", "neuroscale", "up", "--home", str(home), "--portal-port",
                             str(free_port()), "--gateway-port", str(free_port())],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert "Traceback" not in second.stderr

    # Ctrl-C stops every process the platform started: components and model servers.
    assert len(processes_of(home)) == 6  # supervisor, portal, reconciler, gateway, iris, the sklearn warm spare
    process = platform["process"]
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while processes_of(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_of(home) == []
    # ...and status says so, instead of the last Ready written before the stop.
    stopped = json.loads(cli("status", "iris", "-o", "json", home=home).stdout)
    assert stopped["health"] == "Missing"
    assert [(c["type"], c["status"], c["reason"]) for c in stopped["conditions"]][0] == (
        "Ready", "False", "PlatformStopped")


def test_demo_prints_the_prediction_and_exits(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    result = subprocess.run(
        [sys.executable, "-m", "neuroscale", "demo", "--exit", "--home", str(home), "--portal-port",
         str(free_port()), "--gateway-port", str(free_port())],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '{"predictions":[1,1]}' in result.stdout.splitlines()
    assert processes_of(home) == []


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "neuroscale", "up", "--home", str(home), "--gateway-port", str(port),
             "--portal-port", str(free_port())], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert processes_of(home) == []
