"""The shadow worker, a process of its own: fed by the gateway over a pipe, restarted when it dies, never in the way.

Real processes throughout: the worker (`python -m neuroscale.gateway.shadow_worker`) fed records by hand,
or a real gateway (which starts its worker) in front of a real iris model server that serves both the
primary and the shadow revision, so every compared copy agrees. The worker is found as the gateway's child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.gateway import shadow_frames
from neuroscale.engine.procfs import is_alive, start_time
from tests.conftest import IRIS_ROWS, free_port, running, wait_for
from tests.gateway.test_gateway_e2e import write_routes
from tests.gateway.test_shadow_batching import V1, head, shadow, v1  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e
PRIMARY, SHADOW = "iris-predictor-00001", "iris-predictor-00002"


def published(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text()).get("iris")
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def all_counted(path: Path, copies: int) -> dict[str, Any] | None:
    """The published comparison once it counts `copies` copies."""
    found = published(path)
    return found if counted(found) == copies else None


def counted(stats: dict[str, Any]) -> int:
    return sum(stats.get(k, 0) for k in ("agree", "disagree", "error", "skipped"))


def test_a_malformed_body_among_good_ones_moves_none_of_them(shadow: int, tmp_path: Path) -> None:  # noqa: F811
    """Bodies that are not JSON, hold two documents, or carry bytes shaped like a record go alone and fail alone;
    the good copies around them are joined and compared as if they were not there."""
    routes, stats = tmp_path / "routes.json", tmp_path / "shadow.json"
    write_routes(routes, {"iris": {"namespace": "ml", "ready": True, "traffic": [
        {"revision": SHADOW, "percent": 0, "upstreams": [f"127.0.0.1:{shadow}"]}],
        "shadow": {"revision": SHADOW, "percent": 100}}})
    good = [v1([[1.0, float(i)]]) for i in range(20)]
    crafted = shadow_frames.copy_record(b"iris", SHADOW.encode(), head(V1), b"x", b"y", 1.0)
    bad = [b'{"instances": [[1, 2]]}, {"instances": [[3, 4]]}', b"not json", b'{"instances": [[-1.0, 2.0]]}' + crafted]
    copies = [*good[:10], *((head(V1), body, good[0][2]) for body in bad), *good[10:]]
    worker = subprocess.Popen([sys.executable, "-m", "neuroscale.gateway.shadow_worker", "--routes", str(routes),
                               "--shadow-file", str(stats)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        assert worker.stdin is not None
        worker.stdin.write(b"".join(shadow_frames.copy_record(b"iris", SHADOW.encode(), *copy, 1.0)
                                    for copy in copies) + shadow_frames.tally_record(b"iris", SHADOW.encode(), 4))
        worker.stdin.flush()
        found = wait_for(lambda: all_counted(stats, len(copies) + 4), what="every copy counted")
        assert (found["agree"], found["disagree"], found["error"], found["skipped"]) == (20, 0, 3, 4)
        worker.stdin.close()
        assert worker.wait(timeout=10) == 0, "its stdin closed (the gateway gone): the worker ends"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.fixture
def shadowed_gateway(iris_model: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[
        tuple[httpx.Client, subprocess.Popen[bytes], Path]]:
    """A gateway copying every iris request to a shadow revision served by the same model server."""
    home = tmp_path / "home"
    server_port, gateway_port = free_port(), free_port()
    upstreams = [f"127.0.0.1:{server_port}"]
    write_routes(home / "run" / "routes.json", {"iris": {
        "namespace": "ml", "ready": True, "revision": PRIMARY,
        "traffic": [{"revision": PRIMARY, "percent": 100, "upstreams": upstreams},
                    {"revision": SHADOW, "percent": 0, "upstreams": upstreams}],
        "shadow": {"revision": SHADOW, "percent": 100}}})
    server = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
              "--storage-uri", str(iris_model), "--port", str(server_port), "--model-root", str(iris_model.parent)]
    gateway = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(gateway_port),
               "--grpc-port", "0", *getattr(request, "param", [])]
    with running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready"), \
            running(gateway, ready_url=f"http://127.0.0.1:{gateway_port}/healthz") as process, \
            httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=10) as client:
        yield client, process, home / "run" / "shadow.json"


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def predict(client: httpx.Client, rows: list[list[float]] = IRIS_ROWS) -> None:
    answer = client.post("/v1/models/iris:predict", json={"instances": rows})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == len(rows), answer.text


def worker_of(gateway: subprocess.Popen[bytes]) -> int:
    return wait_for(lambda: next(iter(children(gateway.pid)), None), what="the gateway's shadow worker")


def test_a_killed_worker_is_restarted_and_the_copies_meanwhile_are_skipped(
        shadowed_gateway: tuple[httpx.Client, subprocess.Popen[bytes], Path]) -> None:
    client, gateway, stats = shadowed_gateway
    first = worker_of(gateway)
    predict(client)
    wait_for(lambda: published(stats).get("agree"), what="a first copy compared")
    os.kill(first, signal.SIGKILL)
    sent = 1
    for sent in range(2, 5000):  # until the gateway has started another worker, the primary answered all along
        if children(gateway.pid) not in ([], [first]):
            break
        predict(client)
    second = worker_of(gateway)
    for _ in range(20):
        predict(client)
    sent += 20

    def compared_again() -> dict[str, Any] | None:
        found = published(stats)
        return found if found.get("skipped") and found["agree"] > 1 else None

    found = wait_for(compared_again, what="the copies skipped while no worker ran, and copies compared again")
    assert second != first and counted(found) <= sent
    assert found["error"] == found["disagree"] == 0


@pytest.mark.parametrize("shadowed_gateway", [["--shadow-backlog", "4096"]], indirect=True)
def test_a_backed_up_pipe_skips_copies_and_never_blocks(
        shadowed_gateway: tuple[httpx.Client, subprocess.Popen[bytes], Path]) -> None:
    """A stopped worker reads nothing: past the backlog (and the pipe's own page) copies are skipped, while
    every client is answered; once it reads again it counts every copy, the skipped ones included."""
    client, gateway, stats = shadowed_gateway
    worker = worker_of(gateway)
    predict(client)
    wait_for(lambda: published(stats).get("agree"), what="a first copy compared")
    os.kill(worker, signal.SIGSTOP)
    try:
        for _ in range(60):
            predict(client, IRIS_ROWS * 20)  # ~1.5 KiB a copy: 60 of them fill 4 KiB of backlog many times over
    finally:
        os.kill(worker, signal.SIGCONT)
    predict(client)  # the skipped count goes to the worker with the next copy
    found = wait_for(lambda: all_counted(stats, 62), what="all 62 copies counted")
    assert found["skipped"] > 0 and found["agree"] + found["skipped"] == 62
    assert children(gateway.pid) == [worker], "a slow worker is not a dead one"


def test_a_stopped_gateway_leaves_no_worker(iris_model: Path, tmp_path: Path) -> None:
    """Stopped (SIGTERM), the gateway stops its worker; killed outright, its worker sees the pipe close and ends."""
    for how in (signal.SIGTERM, signal.SIGKILL):
        port = free_port()
        argv = [sys.executable, "-m", "neuroscale.gateway", "--home", str(tmp_path / how.name), "--port", str(port),
                "--grpc-port", "0"]
        with running(argv, ready_url=f"http://127.0.0.1:{port}/healthz") as gateway:
            worker = worker_of(gateway)
            started = start_time(worker)
            assert started is not None
            gateway.send_signal(how)
            gateway.wait(timeout=15)
        wait_for(lambda: not is_alive(worker, started), what=f"the worker gone after the gateway's {how.name}")
