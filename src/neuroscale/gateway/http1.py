"""The client side of the gateway: HTTP/1.1 parsing, limits, timeouts and response order.

Hand-written on asyncio protocols and httptools (llhttp) because this is the inference hot path;
llhttp already refuses ambiguous framing (Content-Length with Transfer-Encoding, duplicate or
non-numeric Content-Length, bad chunk sizes, obsolete line folding). On top of it this module:

* answers in request order, whatever happens: every parsed request, and every refusal, takes a
  place in one queue that a single task drains, so a 413 can never overtake earlier requests;
* refuses before buffering: a head over the limit (431), a declared body over the limit (413,
  without reading it), an unknown expectation (417), a transfer coding other than chunked,
  CONNECT, or a request target that is not a path (400); a refusal closes the connection;
* answers a request that asks for an `Upgrade` (`curl --http2` asks for h2c) in HTTP/1.1, ignoring it;
* decodes a gzip or deflate request body (`bodycoding`) before it goes on, so the model server, the
  sample recorder and the shadow mirror all see the JSON the client meant;
* handles `Expect: 100-continue`: `100 Continue` is sent once every earlier answer is out;
* closes a connection whose head does not arrive within the header timeout (408 if one had
  started), or that stays idle between requests past the idle timeout;
* answers HEAD with the head GET would give and no body;
* stops reading while too many requests wait or the client does not read its answers.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

import httptools
import orjson

from neuroscale.bodycoding import decoded_body
from neuroscale.errors import NeuroScaleError
from neuroscale.httplimits import (Deadline, HeadMeter, HttpLimits, body_timeout, head_too_large, header_timeout,
                                   host_count_problem)

Headers = list[tuple[bytes, bytes]]
_PHRASES = {status.value: status.phrase.encode() for status in HTTPStatus}
_NOT_FORWARDED_BACK = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"content-length",
                                 b"trailer", b"upgrade", b"proxy-connection"})
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
MAX_QUEUED = 32  # pipelined requests held before the gateway stops reading


@dataclass(slots=True)
class Request:
    method: bytes
    url: bytes
    headers: Headers
    body: bytes
    keep_alive: bool
    host: str
    #: The client connected from this machine: only such a client may read `/metrics`.
    local: bool = False

    @property
    def head_only(self) -> bool:
        return self.method == b"HEAD"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A prepared final answer that ends the connection once earlier answers are out."""

    payload: bytes


Handler = Callable[[Request], Awaitable[bytes]]


def frame(status: int, headers: Headers, body: bytes, *, keep_alive: bool, head_only: bool = False,
          length: int | None = None) -> bytes:
    """A response with our own framing; `length` is the Content-Length a HEAD answer announces."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, _PHRASES.get(status, b"Unknown"))]
    for name, value in headers:
        if name.lower() not in _NOT_FORWARDED_BACK:
            parts.append(name + b": " + value + b"\r\n")
    parts.append(b"content-length: %d\r\n" % (len(body) if length is None else length))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)


def json_response(status: int, body: dict[str, object], *, keep_alive: bool, head_only: bool = False) -> bytes:
    return frame(status, [(b"content-type", b"application/json")], orjson.dumps(body),
                 keep_alive=keep_alive, head_only=head_only)


def refusal(status: int, message: str, *, reason: str, fix: str) -> Refusal:
    return Refusal(json_response(status, {"error": message, "reason": reason, "fix": fix}, keep_alive=False))


def _is_local_peer(transport: asyncio.BaseTransport) -> bool:
    """Whether the client is on this machine: a loopback peer, or one connecting from our own address."""
    try:
        peer = transport.get_extra_info("peername")[0]
        return bool(ipaddress.ip_address(peer).is_loopback or peer == transport.get_extra_info("sockname")[0])
    except (TypeError, ValueError, IndexError):
        return False


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing after a refusal."""


class ClientConnection(asyncio.Protocol):
    """One client connection: parse requests, hand them to `handler` in order, write the answers."""

    def __init__(self, handler: Handler, limits: HttpLimits) -> None:
        self.handler = handler
        self.limits = limits
        self.parser = httptools.HttpRequestParser(self)
        self.meter = HeadMeter(limits)
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.queue: collections.deque[Request | Refusal] = collections.deque()
        self.busy = False
        self.eof = False
        self.refused = False
        self.in_body = False
        self.reading_paused = False
        self.local = False  # set once the peer address is known
        self.writing_paused = False
        self.deadline = Deadline(self.loop, self._expired)
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.body_size = 0
        self.host: str | None = None
        self.hosts = 0
        self.expect: bytes | None = None
        self.transfer_encoding: bytes | None = None
        self.content_encoding: bytes | None = None
        self.content_length = 0
        self.awaiting_continue = False

    # -- connection life -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.local = _is_local_peer(transport)
        self.deadline.expire_in(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self.refused = True
        self.deadline.cancel()
        self.queue.clear()

    def eof_received(self) -> bool | None:
        """A client that half-closes after its requests still gets the answers to the complete ones."""
        if self.busy:
            self.eof = True
            return True
        return None  # nothing in flight: let the transport close

    def pause_writing(self) -> None:
        self.writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        should_pause = self.writing_paused or len(self.queue) >= MAX_QUEUED
        if self.refused or self.transport is None or should_pause == self.reading_paused:
            return
        self.reading_paused = should_pause
        if should_pause:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _expired(self) -> None:
        if self.refused:
            return
        if self.meter.in_head:
            self._refuse(Refusal(json_response(408, header_timeout(self.limits), keep_alive=False)))
        elif self.in_body:
            self._refuse(Refusal(json_response(408, body_timeout(self.limits), keep_alive=False)))
        elif not self.busy and not self.queue and self.transport is not None:
            self.transport.close()  # idle keep-alive connection: nothing to say

    # -- parsing ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        was_in_head = self.meter.in_head
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if self.refused:
                return
            if self.parser.get_method() != b"CONNECT":
                self._ignore_upgrade(data[upgrade.args[0]:])
                return
            self._refuse(refusal(400, "CONNECT is not supported", reason="BadRequest",
                                 fix="send plain HTTP/1.1 requests"))
            return
        except httptools.HttpParserError as exc:
            self._refuse(refusal(400, f"malformed HTTP request: {exc}", reason="BadRequest",
                                 fix="send a well-formed HTTP/1.1 request"))
            return
        problem = self.meter.read(len(data), was_in_head=was_in_head)
        if problem is not None:
            self._refuse_head(problem)
        elif self.in_body and not self.awaiting_continue:
            self.deadline.expire_in(self.limits.idle_timeout_s)  # a body may pause, but not stall

    def on_message_begin(self) -> None:
        self._reset()
        self.meter.begin()
        self.deadline.expire_in(self.limits.header_timeout_s)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"host":
            self.host = value.decode("latin-1")
            self.hosts += 1
        elif lowered == b"content-length":
            self.content_length = int(value)  # llhttp has checked it is one decimal number
        elif lowered == b"transfer-encoding":  # several fields are one list (RFC 9110 section 5.3)
            self.transfer_encoding = value if self.transfer_encoding is None else self.transfer_encoding + b", " + value
        elif lowered == b"content-encoding":
            self.content_encoding = value if self.content_encoding is None else self.content_encoding + b", " + value
        elif lowered == b"expect":
            self.expect = value.strip().lower()

    def on_headers_complete(self) -> None:
        head_problem = self.meter.end(len(self.url), self.headers)
        if head_problem is not None:
            self._refuse_head(head_problem)
            raise _Stop
        self.in_body = True
        self.deadline.expire_in(self.limits.idle_timeout_s)
        problem = self._framing_problem()
        if problem is not None:
            self._refuse(problem)
            raise _Stop
        if self.expect is not None and (self.content_length or self.transfer_encoding is not None):
            self.awaiting_continue = self.parser.get_http_version() == "1.1"
            self._send_continue_if_due()
            if self.awaiting_continue:
                self.deadline.at = None  # the client waits for our 100 before it sends: no stall yet

    def _framing_problem(self) -> Refusal | None:
        if (self.hosts == 1 and self.transfer_encoding is None and self.expect is None
                and self.content_length <= self.limits.max_body_bytes and self.url[:1] == b"/"):
            return None  # the usual request: one cheap test on the hot path
        if self.parser.should_upgrade() and self.parser.get_method() == b"CONNECT":
            return None  # refused once the parser reports it
        version = self.parser.get_http_version()
        if self.transfer_encoding is not None and (
            self.transfer_encoding.strip().lower() != b"chunked" or version != "1.1"
        ):
            return refusal(400, f"Transfer-Encoding {self.transfer_encoding.decode('latin-1')!r} is not "
                           "supported", reason="BadRequest", fix="send the body with Content-Length or "
                           "Transfer-Encoding: chunked (HTTP/1.1)")
        host_problem = host_count_problem(self.hosts, http_version=version)
        if host_problem is not None:
            return Refusal(json_response(400, host_problem, keep_alive=False))
        if not self.url.startswith(b"/"):
            return refusal(400, "the request target must be a path", reason="BadRequest",
                           fix="send origin-form targets such as /v1/models/<name>:predict")
        if self.expect is not None and self.expect != b"100-continue":
            return refusal(417, f"expectation {self.expect.decode('latin-1')!r} is not supported",
                           reason="ExpectationFailed", fix="send Expect: 100-continue or no Expect header")
        if self.content_length > self.limits.max_body_bytes:
            return self._too_large(self.content_length)
        return None

    def on_body(self, body: bytes) -> None:
        self.awaiting_continue = False
        self.body_size += len(body)
        if self.body_size > self.limits.max_body_bytes:
            self._refuse(self._too_large(self.body_size))
            raise _Stop
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.parser.should_upgrade() and (self.content_length or self.transfer_encoding is not None
                                             or self.parser.get_method() == b"CONNECT"):
            return  # llhttp reads no body after an Upgrade (`_ignore_upgrade` reads it); CONNECT is refused
        self.in_body = self.awaiting_continue = False
        self.deadline.at = None
        if self.refused:
            return
        headers, body = self.headers, b"".join(self.body)
        if self.content_encoding is not None:
            try:
                body = decoded_body(body, self.content_encoding, max_bytes=self.limits.max_body_bytes)
            except NeuroScaleError as exc:
                self._refuse(Refusal(json_response(exc.http_status, exc.to_dict(), keep_alive=False)))
                return
            headers = [(name, value) for name, value in headers if name.lower() != b"content-encoding"]
        self.queue.append(Request(
            method=self.parser.get_method(),
            url=self.url,
            headers=headers,
            body=body,
            keep_alive=self.parser.should_keep_alive(),
            host=self.host or "",
            local=self.local,
        ))
        self._schedule()

    def _ignore_upgrade(self, rest: bytes) -> None:
        """Answer a request that asks for an upgrade (`curl --http2` sends `Upgrade: h2c`) in HTTP/1.1, as RFC 9110
        section 7.8 lets a server: llhttp stopped at the end of its head, so a fresh parser goes on with `rest`,
        first told the request's own framing by a head of our own, whose fields are then put back."""
        method, keep_alive = self.parser.get_method(), self.parser.should_keep_alive()
        self.parser = httptools.HttpRequestParser(self)
        if self.content_length or self.transfer_encoding is not None:
            framing = (b"content-length: %d" % self.content_length if self.transfer_encoding is None
                       else b"transfer-encoding: chunked")
            kept = (self.url, self.headers, self.host, self.hosts, self.expect, self.content_encoding,
                    self.awaiting_continue)
            self.parser.feed_data(b"%s / HTTP/1.1\r\nhost: x\r\n%s\r\n%s\r\n" % (
                method, framing, b"" if keep_alive else b"connection: close\r\n"))
            (self.url, self.headers, self.host, self.hosts, self.expect, self.content_encoding,
             self.awaiting_continue) = kept
        if rest:
            self.data_received(rest)

    # -- refusals --------------------------------------------------------------------------------

    def _too_large(self, size: int) -> Refusal:
        return refusal(413, f"request body is {size} bytes; the limit is {self.limits.max_body_bytes}",
                       reason="PayloadTooLarge", fix="send fewer instances per request")

    def _refuse_head(self, problem: str) -> None:
        self._refuse(Refusal(json_response(431, head_too_large(problem), keep_alive=False)))

    def _refuse(self, answer: Refusal) -> None:
        """Answer after every earlier request, then close; read nothing more."""
        if self.refused:
            return
        self.refused = True
        self.deadline.at = None
        if self.transport is not None:
            self.transport.pause_reading()
        self.queue.append(answer)
        if not self.busy:
            self.busy = True
            self.loop.create_task(self._drain())

    # -- answering in order ------------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self.busy:
            self.busy = True
            self.loop.create_task(self._drain())
        else:
            self._update_reading()

    async def _drain(self) -> None:
        while self.queue:
            item = self.queue.popleft()
            if isinstance(item, Refusal):
                self._write(item.payload, close=True)
                break
            try:
                payload = await self.handler(item)
            except Exception:  # a gateway bug must not leave the connection hanging
                traceback.print_exc(file=sys.stderr)
                payload = json_response(500, {"error": "internal error in the gateway (see its log)",
                                              "reason": "InternalError"}, keep_alive=False)
                self._write(payload, close=True)
                break
            self._write(payload, close=not item.keep_alive)
            if self.reading_paused:
                self._update_reading()
        self.busy = False
        if self.transport is None or self.transport.is_closing():
            return
        if self.eof:
            self.transport.close()
            return
        if self.meter.in_head or self.in_body:
            self._send_continue_if_due()
        else:
            self.deadline.expire_in(self.limits.idle_timeout_s)

    def _send_continue_if_due(self) -> None:
        if self.awaiting_continue and not self.busy and not self.queue and self.transport is not None:
            self.awaiting_continue = False
            self.transport.write(CONTINUE)
            self.deadline.expire_in(self.limits.idle_timeout_s)

    def _write(self, payload: bytes, *, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(payload)
        if close:
            self.refused = True
            self.deadline.at = None
            self.queue.clear()
            self.transport.close()
