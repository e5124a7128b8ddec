"""HeadMeter, driven by a real httptools parser the way both servers drive it; the lazily moved Deadline."""

from __future__ import annotations

import asyncio

import httptools
import pytest

from neuroscale.httplimits import Deadline, HeadMeter, HttpLimits


class Parsed:
    """Feeds reads to httptools and the meter, as `data_received` does; collects the first refusal."""

    def __init__(self, limits: HttpLimits) -> None:
        self.meter = HeadMeter(limits)
        self.parser = httptools.HttpRequestParser(self)
        self.problem: str | None = None
        self.completed = 0

    def on_message_begin(self) -> None:
        self.meter.begin()
        self.url = 0
        self.headers: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.url += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.problem = self.problem or self.meter.end(self.url, self.headers)

    def on_message_complete(self) -> None:
        self.completed += 1

    def feed(self, *reads: bytes) -> Parsed:
        for data in reads:
            was_in_head = self.meter.in_head
            self.parser.feed_data(data)
            self.problem = self.problem or self.meter.read(len(data), was_in_head=was_in_head)
        return self


LIMITS = HttpLimits(max_header_bytes=100, max_headers=3)
BODY = b"x" * 500
FIRST = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 500\r\n\r\n" + BODY
SECOND = b"GET /second HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.mark.parametrize(("reads", "problem"), [
    ((FIRST + SECOND,), None),  # one read: a big body next to small heads
    ((FIRST[:60], FIRST[60:] + SECOND[:5], SECOND[5:]), None),  # a head split across reads
    ((FIRST[:-1], FIRST[-1:] + SECOND), None),
    ((b"GET / HTTP/1.1\r\nX: " + b"a" * 50, b"a" * 60, b"\r\n\r\n"), "request head over 100 bytes"),  # streamed
    ((b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\r\n\r\n",), "request head over 100 bytes"),  # exact
    ((b"GET /" + b"u" * 120 + b" HTTP/1.1\r\n\r\n",), "request head over 100 bytes"),
    ((b"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n",), "more than 3 header fields"),
])
def test_head_meter_refuses_only_heads_over_the_limit(reads: tuple[bytes, ...], problem: str | None) -> None:
    parsed = Parsed(LIMITS).feed(*reads)
    assert parsed.problem == problem
    if problem is None:
        assert parsed.completed == 2 if SECOND in b"".join(reads) else 1


def test_an_endless_header_line_is_caught_while_it_streams() -> None:
    parsed = Parsed(LIMITS).feed(b"GET / HTTP/1.1\r\nX: ", *[b"a" * 40] * 4)
    assert parsed.problem == "request head over 100 bytes"


def test_a_deadline_is_rearmed_only_when_it_moves_earlier_and_fires_once_passed() -> None:
    """A head's 10 s after a body's 30 s must not wait for the 30 s timer (one timer serves head and body)."""
    async def scenario() -> None:
        fired = asyncio.Event()
        deadline = Deadline(asyncio.get_running_loop(), fired.set)
        deadline.expire_in(30)
        first = deadline.timer
        deadline.expire_in(60)
        assert deadline.timer is first  # later: the pending timer re-arms itself when it fires
        deadline.expire_in(0.01)
        assert deadline.timer is not first and deadline.timer_at == deadline.at
        await asyncio.wait_for(fired.wait(), timeout=5)
        fired.clear()
        deadline.expire_in(0.01)
        deadline.cancel()
        assert deadline.timer is None and deadline.at is None and not fired.is_set()

    asyncio.run(scenario())
