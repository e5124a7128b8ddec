"""Talking to model servers: pooled keep-alive connections and the upstream side of HTTP/1.1.

Requests go out re-framed with a Content-Length (bodies are buffered: inference payloads are
small), one at a time per connection. Interim 1xx answers are skipped, never taken for the final
response; the answer to a HEAD ends with its head whatever length it announces (the connection is
then not reused, since nothing says what the server meant); a server that does not answer within
the upstream timeout gets its connection closed.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import cast

import httptools

Headers = list[tuple[bytes, bytes]]

#: Never forwarded: they describe one connection, not the request (RFC 9110 section 7.6.1),
#: or are rewritten by the gateway (framing, Host, Expect since the body is already read), or are the
#: browser's cookies — a browser sends the portal's session cookie to every port of the host, and model
#: servers run user-supplied code; the inference protocols use no cookies.
HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer",
     b"upgrade", b"content-length", b"host", b"expect", b"cookie"}
)


class UpstreamGone(Exception):
    """The upstream closed or refused the connection before answering."""


class UpstreamBroken(Exception):
    """The upstream answered something that is not an HTTP/1.1 response we can pass on."""


class UpstreamTimeout(Exception):
    """The upstream did not answer within the upstream timeout."""


@dataclass(slots=True)
class Answer:
    status: int
    headers: Headers
    body: bytes
    keep_alive: bool


class _Upstream(asyncio.Protocol):
    """One keep-alive connection to a model server."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        # The timeout timer is moved lazily (the deadline only ever moves later): no timer per request.
        self.deadline = 0.0
        self.timeout = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(UpstreamGone(str(exc or "connection closed")))

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._broken("the model server switched protocols")
        except httptools.HttpParserError as exc:
            self._broken(f"malformed response: {exc}")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status == 101:
            self._broken("the model server switched protocols")
        elif status < 200:  # interim (100 Continue, 103 Early Hints): the final answer follows
            self.headers, self.body = [], []
        else:
            self._finish(Answer(status, self.headers, b"".join(self.body), self.parser.should_keep_alive()))

    def send(self, payload: bytes, *, head_only: bool, timeout: float) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self.headers, self.body = [], []
        if head_only:  # llhttp cannot know the answer is to a HEAD: use a parser that stops at the head
            self.parser = httptools.HttpResponseParser(_HeadAnswer(self))
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.timeout, self.deadline = timeout, loop.time() + timeout
        if self.timer is None:
            self.timer = loop.call_at(self.deadline, self._tick)
        self.transport.write(payload)
        return self.waiter

    def _tick(self) -> None:
        self.timer = None
        if self.closed or self.waiter is None or self.waiter.done():
            return  # idle: the next request arms the timer again
        loop = asyncio.get_running_loop()
        if loop.time() < self.deadline:
            self.timer = loop.call_at(self.deadline, self._tick)
            return
        self._fail(UpstreamTimeout(f"no answer within {self.timeout:g} s"))
        self.close()

    def _broken(self, problem: str) -> None:
        self._fail(UpstreamBroken(problem))
        self.close()

    def _finish(self, answer: Answer) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()


class _HeadAnswer:
    """Parser callbacks for the answer to a HEAD: it ends with its head, whatever length it announces.

    The connection is closed afterwards: nothing says whether the server meant to send a body.
    """

    def __init__(self, upstream: _Upstream) -> None:
        self.upstream = upstream

    def on_header(self, name: bytes, value: bytes) -> None:
        self.upstream.headers.append((name, value))

    def on_headers_complete(self) -> None:
        upstream = self.upstream
        status = upstream.parser.get_status_code()
        if status >= 200:
            upstream._finish(Answer(status, upstream.headers, b"", keep_alive=False))
            upstream.close()

    def on_message_complete(self) -> None:
        self.upstream.headers = []  # an interim answer ended; the final one follows


class UpstreamPool:
    """Idle keep-alive connections per upstream address."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Upstream]] = collections.defaultdict(list)

    async def exchange(self, address: tuple[str, int], request: bytes, *, head_only: bool,
                       timeout: float) -> Answer:
        """Send one request and wait for its final answer.

        A pooled connection may have been closed by a restarted or idle-timed-out server just as
        it was picked: that failure is retried once on a fresh connection (inference is pure).
        """
        for attempt in range(2):
            connection = self._idle_connection(address)
            reused = connection is not None
            if connection is None:
                connection = await self._connect(address)
            try:
                answer = await connection.send(request, head_only=head_only, timeout=timeout)
            except UpstreamGone:
                connection.close()
                if reused and attempt == 0:
                    continue
                raise
            if answer.keep_alive and not connection.closed:
                self._idle[address].append(connection)
            else:
                connection.close()
            return answer
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _idle_connection(self, address: tuple[str, int]) -> _Upstream | None:
        idle = self._idle[address]
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    @staticmethod
    async def _connect(address: tuple[str, int]) -> _Upstream:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_connection(_Upstream, address[0], address[1])
        except OSError as exc:
            raise UpstreamGone(str(exc)) from None
        return protocol

    def retain_only(self, live: set[tuple[str, int]]) -> None:
        """Close pooled connections to upstreams that no longer serve any route."""
        for address in list(self._idle):
            if address not in live:
                for connection in self._idle.pop(address):
                    connection.close()


def upstream_head(*, method: bytes, url: bytes, host: bytes, headers: Headers) -> bytes:
    """The request as the model server sees it, up to its framing (`upstream_request`): no hop-by-hop fields."""
    fields: list[bytes] = []
    listed: set[bytes] = set()
    for name, value in headers:
        lowered = name.lower()
        if lowered not in HOP_BY_HOP:
            fields.append(name + b": " + value + b"\r\n")
        elif lowered == b"connection":
            listed.update(token.strip().lower() for token in value.split(b","))
    if listed - HOP_BY_HOP:  # rare: `Connection` names more fields that are hop-by-hop (RFC 9110 7.6.1)
        dropped = HOP_BY_HOP | listed
        fields = [name + b": " + value + b"\r\n" for name, value in headers if name.lower() not in dropped]
    return b"".join([method, b" ", url, b" HTTP/1.1\r\nhost: ", host, b"\r\n", *fields])


def upstream_request(head: bytes, body: bytes) -> bytes:
    """`upstream_head` and a body, framed with its Content-Length."""
    return b"".join([head, b"content-length: %d\r\n\r\n" % len(body), body])
