"""The HTTP limits every NeuroScale data-plane server enforces, defined once.

The gateway and the model server must agree: a body the gateway accepts must not be refused by the
server behind it for a different reason, and a client must meet one documented set of numbers
(README, "HTTP limits"). Both servers parse requests with httptools (llhttp), which buffers a header
line until it ends and has no timeouts of its own, so both use `HeadMeter` to stop a huge or endless
request head early, and the same command-line flags to tune the limits.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class HttpLimits:
    """What one request may cost a server; each refusal names the limit it hit."""

    max_body_bytes: int = 16 * MIB
    max_header_bytes: int = 32 * 1024  # request line plus header fields
    max_headers: int = 100
    header_timeout_s: float = 10.0  # from connection (or message start) to the end of the head
    idle_timeout_s: float = 30.0  # keep-alive connection with no request in progress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags both servers take, with the shared defaults."""
    defaults = HttpLimits()
    parser.add_argument("--max-body-bytes", type=_positive_int, default=defaults.max_body_bytes)
    parser.add_argument("--max-header-bytes", type=_positive_int, default=defaults.max_header_bytes)
    parser.add_argument("--max-headers", type=_positive_int, default=defaults.max_headers)
    parser.add_argument("--header-timeout", type=positive_seconds, default=defaults.header_timeout_s,
                        help="seconds a client has to send a request head")
    parser.add_argument("--idle-timeout", type=positive_seconds, default=defaults.idle_timeout_s,
                        help="seconds an idle keep-alive connection stays open")


def from_arguments(namespace: argparse.Namespace) -> HttpLimits:
    return HttpLimits(max_body_bytes=namespace.max_body_bytes, max_header_bytes=namespace.max_header_bytes,
                      max_headers=namespace.max_headers, header_timeout_s=namespace.header_timeout,
                      idle_timeout_s=namespace.idle_timeout)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


class HeadMeter:
    """Measures the request head being parsed, so an oversized one is refused before it is buffered.

    The finished head is measured exactly (`end`). A single endless header line is never finished,
    so whole network reads that arrive while a head is still open are counted as they come
    (`read`): that count never includes bytes of another message, so it cannot refuse a head
    within the limit, and it stops a huge head one read after it passes the limit.
    """

    __slots__ = ("limits", "in_head", "began", "streamed")

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.in_head = False
        self.began = False
        self.streamed = 0

    def begin(self) -> None:
        self.in_head = self.began = True
        self.streamed = 0

    def read(self, size: int, *, was_in_head: bool) -> str | None:
        """After a read was parsed: count it if the whole of it belonged to one open head."""
        began, self.began = self.began, False
        if self.in_head and was_in_head and not began:
            self.streamed += size
            if self.streamed > self.limits.max_header_bytes:
                return self._too_large()
        return None

    def end(self, url_size: int, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The head is complete: check its exact size (as sent, CRLFs included) and field count."""
        self.in_head = False
        if len(headers) > self.limits.max_headers:
            return f"more than {self.limits.max_headers} header fields"
        size = url_size + 4 * len(headers)
        for name, value in headers:
            size += len(name) + len(value)
        return self._too_large() if size > self.limits.max_header_bytes else None

    def _too_large(self) -> str:
        return f"request head over {self.limits.max_header_bytes} bytes"


class Deadline:
    """One connection's timer for its head, body or idleness, moved lazily: `at` may move freely, and the loop's
    timer is re-armed only when `at` moves earlier than it; `expired` runs once `at` has passed. Arming and
    cancelling a uvloop timer per request measured ~3.5 us of the ~60 us a V1 request takes (issue 13)."""

    __slots__ = ("loop", "expired", "at", "timer", "timer_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[], None]) -> None:
        self.loop = loop
        self.expired = expired
        self.at: float | None = None  # None: nothing is awaited
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    def expire_in(self, seconds: float) -> None:
        self.at = self.loop.time() + seconds
        if self.timer is None or self.timer_at > self.at:
            if self.timer is not None:
                self.timer.cancel()
            self.timer_at = self.at
            self.timer = self.loop.call_at(self.at, self._tick)

    def cancel(self) -> None:
        self.at = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _tick(self) -> None:
        self.timer = None
        if self.at is None:
            return  # nothing awaited: the next `expire_in` arms the timer again
        if self.loop.time() < self.at:
            self.timer_at = self.at
            self.timer = self.loop.call_at(self.at, self._tick)
        else:
            self.expired()


def head_too_large(problem: str) -> dict[str, object]:
    """The 431 answer both servers give, naming the limit and the fix."""
    return {
        "error": f"request header fields too large: {problem}",
        "reason": "RequestHeaderFieldsTooLarge",
        "fix": "send fewer or shorter headers (large payloads belong in the body)",
    }


def header_timeout(limits: HttpLimits) -> dict[str, object]:
    """The 408 answer to a request head that does not arrive in time."""
    return {
        "error": f"the request head did not arrive within {limits.header_timeout_s:g} s",
        "reason": "RequestTimeout",
        "fix": "send the whole request line and headers at once",
    }


def body_timeout(limits: HttpLimits) -> dict[str, object]:
    """The 408 answer to a request body that stops arriving for the idle timeout."""
    return {
        "error": f"the request body stalled for {limits.idle_timeout_s:g} s",
        "reason": "RequestTimeout",
        "fix": "send the body without pauses",
    }


def host_count_problem(hosts: int, *, http_version: str) -> dict[str, object] | None:
    """RFC 9112 section 3.2: an HTTP/1.1 request has exactly one Host; anything else is answered 400."""
    if hosts > 1 or (hosts == 0 and http_version == "1.1"):
        return {"error": "an HTTP/1.1 request needs exactly one Host header", "reason": "BadRequest",
                "fix": "send one Host header"}
    return None
