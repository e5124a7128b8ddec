"""Fixtures of the gateway tests: the real gateway in front of a real model server, with small limits."""

from __future__ import annotations

import socket
import sys
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, running
from tests.gateway.test_gateway_e2e import write_routes

#: Small limits and one-second timeouts, so each edge is reached quickly.
LIMITS = ["--max-body-bytes", "4096", "--max-header-bytes", "2048", "--max-headers", "20",
          "--header-timeout", "1", "--idle-timeout", "1"]


class StandIn:
    """A loopback TCP server that answers every request with `reply` (or never, if None), keeping what it got."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        """One request per read is enough here: the gateway sends one request at a time."""
        while True:
            try:
                data = connection.recv(65536)
                if not data:
                    return
                self.received.append(data)
                if self.reply is not None:
                    connection.sendall(self.reply)
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@dataclass(frozen=True)
class Live:
    """The running processes, by role ("gateway", "model server"), and their ports."""

    ports: dict[str, int]
    processes: dict[str, "subprocess.Popen[bytes]"]
    chatty: StandIn  # answers 100, 103, then 200, and keeps what it received


@pytest.fixture(scope="module")
def servers(iris_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("gateway-http") / "home"
    server_port, gateway_port = free_port(), free_port()
    silent = StandIn(None)
    chatty = StandIn(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                     b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
                     b'{"ok":true}')

    def route(port: int, revision: str) -> dict[str, object]:
        return {"namespace": "ml", "ready": True, "upstream": f"127.0.0.1:{port}", "revision": revision}

    write_routes(home / "run" / "routes.json", {"iris": route(server_port, "iris-predictor-00001"),
                                                "slow": route(silent.port, "slow-predictor-00001"),
                                                "chatty": route(chatty.port, "chatty-predictor-00001")})
    server = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
              "--storage-uri", str(iris_model), "--port", str(server_port), "--model-root", str(iris_model.parent),
              *LIMITS]
    gateway = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(gateway_port),
               "--upstream-timeout", "1.5", "--allowed-host", "my-box.lan", *LIMITS]
    with running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready") as server_process, \
            running(gateway, ready_url=f"http://127.0.0.1:{gateway_port}/healthz") as gateway_process:
        yield Live(ports={"gateway": gateway_port, "model server": server_port},
                   processes={"gateway": gateway_process, "model server": server_process}, chatty=chatty)
    silent.close()
    chatty.close()


@pytest.fixture(params=["gateway", "model server"])
def port(request: pytest.FixtureRequest, servers: Live) -> int:
    return servers.ports[request.param]
