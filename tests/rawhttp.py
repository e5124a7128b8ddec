"""Raw-socket HTTP/1.1 for tests: send exact bytes, read what comes back, parse it with h11.

The servers under test are parsed by a well-kept independent implementation (h11, as a client),
so a response that is badly framed, or a body after a HEAD answer, fails the parse instead of
passing unnoticed.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import h11

HANG_S = 5.0  # no exchange may take longer than this


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    informational: list[int] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Exchange:
    responses: list[Response]
    closed: bool  # the server closed the connection
    seconds: float
    raw: bytes


def request(method: str, path: str, *, host: str = "localhost", body: bytes = b"",
            headers: dict[str, str] | None = None, close: bool = False) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    fields = dict(headers or {})
    if body and not any(name.lower() in ("content-length", "transfer-encoding") for name in fields):
        fields["Content-Length"] = str(len(body))
    if close:
        fields["Connection"] = "close"
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def exchange(port: int, *parts: bytes, methods: tuple[str, ...] = (), half_close: bool = False,
             wait_s: float = HANG_S, pause_s: float = 0.0) -> Exchange:
    """Send `parts` (pausing between them), read until the server closes or `wait_s` passes.

    `methods` are the request methods in order (only HEAD changes how a response is framed).
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        for index, part in enumerate(parts):
            if index and pause_s:
                time.sleep(pause_s)
            try:
                sock.sendall(part)
            except OSError:  # the server may refuse and close before everything is sent
                break
        if half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        raw, closed = _read_until_closed(sock, started + wait_s)
    return Exchange(parse(raw, methods, closed=closed), closed, time.monotonic() - started, raw)


def read_to_end(sock: socket.socket) -> bytes:
    """What the server sends until it closes; fails the test if it hangs longer than HANG_S."""
    raw, closed = _read_until_closed(sock, time.monotonic() + HANG_S)
    assert closed, f"no close within {HANG_S} s after {raw[:200]!r}"
    return raw


def _read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b"".join(chunks), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return b"".join(chunks), False
        except ConnectionResetError:
            return b"".join(chunks), True
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)


def parse(raw: bytes, methods: tuple[str, ...] = (), *, closed: bool = True) -> list[Response]:
    """Every response in `raw`; raises h11.RemoteProtocolError on a malformed or (if `closed`) cut one."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(raw)
    if closed:
        client.receive_data(b"")  # end of data: an incomplete response is an error, not silence
    responses: list[Response] = []
    while client.trailing_data[0]:
        method = methods[len(responses)] if len(responses) < len(methods) else "GET"
        client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        informational: list[int] = []
        current: Response | None = None
        body: list[bytes] = []
        while True:
            event = client.next_event()
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
            elif isinstance(event, h11.Response):
                current = Response(event.status_code, {k.decode(): v.decode("latin-1") for k, v in event.headers},
                                   b"", informational)
            elif isinstance(event, h11.Data):
                body.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert current is not None
                current.body = b"".join(body)
                responses.append(current)
                break
            elif event is h11.PAUSED or event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                if informational:
                    responses.append(Response(0, {}, b"", informational))
                return responses
        if client.their_state is h11.MUST_CLOSE or client.our_state is h11.MUST_CLOSE:
            return responses
        client.start_next_cycle()
    return responses
