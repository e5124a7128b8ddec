"""uvicorn's httptools protocol plus the limits it lacks, for the model server.

uvicorn (httptools flavour, the fast one) has a keep-alive timeout and a concurrency limit, which
`server.py` configures, but no limit on the size or number of request headers, no timeout for a
request head, and no check that an HTTP/1.1 request has exactly one Host: one 64 MB header stalls
the event loop, a slowloris connection stays open forever, two Host headers are a smuggling tool;
nor a timeout for a request body, so one that stalls kept its connection (and a concurrency slot).
It also ran a request that asks for an `Upgrade` it does not make (`curl --http2 -d` asks for h2c)
with an empty body: such a request is refused instead. This subclass adds exactly those, with the
numbers the gateway uses (`httplimits`), and keeps refusals in request order: an error for a
pipelined request waits until the answers to the requests before it are out. It also sends each
answer in one write (`OneWrite`). Everything else is uvicorn's own behaviour.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from neuroscale.httplimits import (Deadline, HeadMeter, HttpLimits, body_timeout, head_too_large, header_timeout,
                                   host_count_problem)
from neuroscale.serving.codec import dumps


class OneWrite:
    """The connection's transport, with an answer's head held until its body comes, then both in one write.

    uvicorn writes an answer's head and body separately: two `send` system calls and two TCP segments
    per request. Only a final answer's head with nothing after it is held (never 100 Continue, a body or a
    refusal); the next write, `flush` (the answer is complete: a HEAD answer has no body) or `close` sends
    it. Measured on iris V1 under `wrk -c16` (issue 13, bench/RESULTS.md): ~10 % less server CPU per request.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""

    def write(self, data: bytes) -> None:
        if self._head:
            data, self._head = self._head + data, b""
        elif data.startswith(b"HTTP/1.1 ") and data[9:10] != b"1" and data.endswith(b"\r\n\r\n"):
            self._head = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head:
            self.write(b"")

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self._transport, name)


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing after a refusal."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = HeadMeter(self.limits)
        self.refusal: bytes | None = None
        self.deadline = Deadline(self.loop, self._timed_out)
        self.in_body = False
        self.outstanding = 0  # requests parsed whose answer is not written yet
        self.hosts = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = OneWrite(transport)  # type: ignore[assignment]  # a transport to uvicorn
        self.deadline.expire_in(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self.deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refusal is not None:
            return
        was_in_head = self.meter.in_head
        super().data_received(data)
        if self.refusal is None:
            problem = self.meter.read(len(data), was_in_head=was_in_head)
            if problem is not None:
                self._refuse(431, head_too_large(problem))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.meter.begin()
        self.hosts = 0
        self.deadline.expire_in(self.limits.header_timeout_s)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        if name.lower() == b"host":
            self.hosts += 1

    def on_headers_complete(self) -> None:
        self.deadline.at = None
        head_problem = self.meter.end(len(self.url), self.headers)
        if head_problem is not None:
            self._refuse(431, head_too_large(head_problem))
            raise _Refused
        problem = host_count_problem(self.hosts, http_version=self.parser.get_http_version())
        if problem is not None:  # uvicorn does not check; two Host headers are a smuggling tool
            self._refuse(400, problem)
            raise _Refused
        if self.parser.should_upgrade() and any(name in (b"content-length", b"transfer-encoding")
                                                for name, _ in self.headers):
            # llhttp reads no body after an Upgrade, and uvicorn then runs the request with an empty one
            self._refuse(400, {"error": "a request with a body cannot ask for a protocol upgrade here",
                               "reason": "BadRequest", "fix": "send it without Upgrade (curl: --http1.1), or "
                               "through the gateway, which ignores the Upgrade"})
            raise _Refused
        super().on_headers_complete()
        self.outstanding += 1
        if not self.expect_100_continue and not self.pipeline:  # a client that waits for our 100 Continue, or
            # a pipelined request whose reading uvicorn paused, is not stalling
            self.in_body = True
            self.deadline.expire_in(self.limits.idle_timeout_s)

    def on_body(self, body: bytes) -> None:
        if self.in_body:
            self.deadline.at = self.loop.time() + self.limits.idle_timeout_s  # a body may pause, but not stall
        super().on_body(body)

    def on_message_complete(self) -> None:
        self.in_body = False
        self.deadline.at = None
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        if self.refusal is None:
            self._refuse(400, {"error": f"malformed HTTP request: {msg}", "reason": "BadRequest",
                               "fix": "send a well-formed HTTP/1.1 request"})

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]  # the whole answer, in one write
        self.outstanding -= 1
        super().on_response_complete()
        if self.refusal is not None and not self.outstanding:
            self._write_refusal()

    # -- refusals ----------------------------------------------------------------------------------

    def _refuse(self, status: int, body: dict[str, object]) -> None:
        payload = dumps(body)
        self.refusal = b"".join([
            b"HTTP/1.1 %d %s\r\n" % (status, _PHRASES[status]),
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(payload),
            payload,
        ])
        self.deadline.cancel()
        self.flow.pause_reading()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            # The refused message is the request whose body was being read: it gets no other answer.
            queued = [item for item in self.pipeline if item[0] is cycle]
            if queued:
                self.pipeline.remove(queued[0])
            else:
                cycle.disconnected = True
                cycle.message_event.set()
            self.outstanding -= 1
        if not self.outstanding:
            self._write_refusal()

    def _write_refusal(self) -> None:
        if self.refusal is not None and not self.transport.is_closing():
            self.transport.write(self.refusal)
            self.transport.close()

    def _timed_out(self) -> None:
        if self.meter.in_head:
            self._refuse(408, header_timeout(self.limits))
        elif self.in_body:  # uvicorn has no timeout for a body: a stalled one held a concurrency slot for good
            self._refuse(408, body_timeout(self.limits))
        elif self.cycle is None and not self.transport.is_closing():
            self.transport.close()  # connected and never sent a byte


_PHRASES = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


def protocol_with(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to these limits."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})

