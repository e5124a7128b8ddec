"""Shadow revisions that misbehave as real servers do: clients never notice, and every copy is counted once.

A real gateway and a real iris model server serve the primary; the shadow revision's only replica is
a loopback server answering every copy one bad way. Clients must get the serving model's answer with
no error, and the published comparison must account for each copy exactly once (agree, disagree,
error or skipped) — a copy lost uncounted would make the shown agreement a share of an unknown whole.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IRIS_ROWS, free_port, running, wait_for
from tests.gateway.conftest import StandIn
from tests.gateway.test_gateway_e2e import write_routes

SENT = 20


def http(body: bytes, *, status: str = "200 OK", content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (
        status.encode(), content_type, len(body), body)


class Misbehaves(StandIn):
    """Answers each request on a connection with `reply` after `delay` s; with `close`, hangs up after it."""

    def __init__(self, reply: bytes, *, delay: float = 0.0, close: bool = False) -> None:
        self.delay, self.close_after, self.requests = delay, close, 0
        super().__init__(reply)

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            buffer = b""
            while True:
                try:
                    data = connection.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                head, ended, rest = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if not ended or len(rest) < length:
                    continue
                buffer = rest[length:]
                self.requests += 1
                time.sleep(self.delay)
                try:
                    connection.sendall(self.reply or b"")
                except OSError:
                    return
                if self.close_after:
                    return


@contextmanager
def shadowed(iris_model: Path, tmp_path: Path, shadow_port: int, *, shadow_revision: str = "iris-predictor-00002"
             ) -> Iterator[tuple[httpx.Client, Path]]:
    """A gateway serving iris from a real model server, copying every request to `shadow_port`."""
    home = tmp_path / "home"
    server_port, gateway_port = free_port(), free_port()
    write_routes(home / "run" / "routes.json", {"iris": {
        "namespace": "ml", "ready": True, "revision": "iris-predictor-00001",
        "traffic": [{"revision": "iris-predictor-00001", "percent": 100, "upstreams": [f"127.0.0.1:{server_port}"]},
                    {"revision": "iris-predictor-00002", "percent": 0, "upstreams": [f"127.0.0.1:{shadow_port}"]}],
        "shadow": {"revision": shadow_revision, "percent": 100}}})
    server = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
              "--storage-uri", str(iris_model), "--port", str(server_port), "--model-root", str(iris_model.parent)]
    gateway = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(gateway_port),
               "--upstream-timeout", "2"]
    with running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready"), \
            running(gateway, ready_url=f"http://127.0.0.1:{gateway_port}/healthz"), \
            httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=20) as client:
        yield client, home


def comparison(home: Path) -> dict[str, Any]:
    try:
        return json.loads((home / "run" / "shadow.json").read_text()).get("iris") or {}  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def counted(stats: dict[str, Any]) -> int:
    return sum(stats.get(outcome, 0) for outcome in ("agree", "disagree", "error", "skipped"))


DEEP = b'{"predictions":' + b"[" * 300 + b"]" * 300 + b"}"  # orjson reads 1024 levels, writes 255


@pytest.mark.parametrize(("reply", "options", "outcome"), [
    (http(b"<html>garbage</html>", content_type=b"text/html"), {}, "disagree"),
    (http(b'{"predictions": [' + b'"x",' * (5 << 20) + b'"x"]}'), {}, "disagree"),  # a 20 MB answer
    (http(b'{"error": "boom"}', status="500 Internal Server Error"), {}, "error"),
    (http(b'{"predictions": [1, 1]}')[:-6], {"close": True}, "error"),  # hangs up mid-answer
    (http(b'{"predictions": [0, 0]}'), {"delay": 0.5}, "disagree"),  # slow, within the timeout
    (http(b'{"predictions": [0, 0]}'), {"delay": 5.0}, "error"),  # slower than the 2 s timeout
    (http(DEEP), {}, "disagree"),  # parsed, but past what orjson writes back: compared as values
], ids=["garbage", "20MB", "500", "closes-mid-answer", "slow", "timeout", "deep"])
def test_a_misbehaving_shadow_changes_no_answer_and_each_copy_is_counted_once(
        iris_model: Path, tmp_path: Path, reply: bytes, options: dict[str, Any], outcome: str) -> None:
    shadow = Misbehaves(reply, **options)
    try:
        with shadowed(iris_model, tmp_path, shadow.port) as (client, home):
            answers = [client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS}) for _ in range(SENT)]
            assert [(a.status_code, a.json()) for a in answers] == [(200, {"predictions": [1, 1]})] * SENT
            stats = wait_for(lambda: (s := comparison(home)) and counted(s) >= SENT and s, timeout=30,
                             what=f"all {SENT} copies counted")
            assert counted(stats) == SENT and stats[outcome] > 0 and stats["agree"] == 0, stats
    finally:
        shadow.close()


def test_a_shadow_naming_the_serving_revision_copies_nothing(iris_model: Path, tmp_path: Path) -> None:
    shadow = Misbehaves(http(b'{"predictions": [0, 0]}'))
    try:
        with shadowed(iris_model, tmp_path, shadow.port, shadow_revision="iris-predictor-00001") as (client, home):
            answers = [client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS}) for _ in range(SENT)]
            assert [a.status_code for a in answers] == [200] * SENT
            assert shadow.requests == 0 and counted(comparison(home)) == 0
    finally:
        shadow.close()
