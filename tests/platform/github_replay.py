"""A loopback HTTP server replaying recorded GitHub REST exchanges, in order.

GitHub cannot run here, so the provider is tested against its recorded
responses: each exchange names the request it expects (method, path, query
subset) and the response GitHub gave. URLs inside bodies are rewritten from
api.github.com to this server. Unexpected requests get a 599 and are kept for
the test to fail on.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "github"
GITHUB = "https://api.github.com"


def recorded(*names: str) -> list[dict[str, Any]]:
    """The exchanges of the named fixture files, in order (a test may vary them before replaying)."""
    exchanges: list[dict[str, Any]] = []
    for name in names:
        exchanges.extend(json.loads((FIXTURES / f"{name}.json").read_text()))
    return exchanges


class Replay:
    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.exchanges = list(exchanges)
        self.requests: list[dict[str, Any]] = []
        self.unexpected: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @classmethod
    def from_files(cls, *names: str) -> Replay:
        return cls(recorded(*names))

    def __enter__(self) -> Replay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def remaining(self) -> int:
        return len(self.exchanges)

    def _answer(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(raw_path)
        query = dict(parse_qsl(parts.query))
        payload = json.loads(body) if body else None
        self.requests.append({"method": method, "path": parts.path, "query": query, "json": payload,
                              "authorization": headers.get("Authorization", "")})
        if not self.exchanges:
            self.unexpected.append(f"{method} {raw_path} (no exchange left)")
            return 599, b'{"message": "unexpected request"}'
        expected = self.exchanges[0]["request"]
        wanted_query = expected.get("query", {})
        if (expected["method"] != method or expected["path"] != parts.path
                or any(query.get(k) != v for k, v in wanted_query.items())):
            self.unexpected.append(f"{method} {raw_path} (expected {expected['method']} {expected['path']})")
            return 599, b'{"message": "unexpected request"}'
        response = self.exchanges.pop(0)["response"]
        if response.get("body") is None:
            return int(response["status"]), b""
        text = json.dumps(response["body"]).replace(GITHUB, self.base_url)
        return int(response["status"]), text.encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, data = replay._answer(self.command, self.path, dict(self.headers), self.rfile.read(length))
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
