"""Fixtures: a fake Kubernetes API per recorded state, and a fake ingress gateway."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class FakeIngress:
    """Routes by Host header like Kourier: only the endpoint's host reaches the model."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.seen: list[tuple[str, str]] = []
        ingress = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                host = self.headers.get("Host", "")
                ingress.seen.append((host, self.path))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = ingress.routes.get(f"{host}{self.path}")
                status, data = (200, json.dumps(body).encode()) if body is not None else (404, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def ingress() -> Iterator[FakeIngress]:
    host = "demo-iris.default.ml.acme.dev"
    gateway = FakeIngress({  # the Open Inference Protocol answers of a model server behind Kourier
        f"{host}/v2/models/demo-iris": {"name": "demo-iris", "versions": ["1"], "platform": "sklearn",
                                        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
                                        "outputs": [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]},
        f"{host}/v2/models/demo-iris/infer": {"model_name": "demo-iris", "outputs": [
            {"name": "output-0", "datatype": "INT64", "shape": [1], "data": [0]}]}})
    yield gateway
    gateway.close()
