"""The model server's transport sends an answer's head and body in one write, and holds nothing else."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from neuroscale.serving.http import OneWrite

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recorder(asyncio.Protocol):
    """What the other end of a real socket pair receives, one entry per `recv`."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)


async def _exchange(steps: list[tuple[str, bytes]]) -> list[list[bytes]]:
    """Run `steps` (write/flush/close) on a OneWrite over a real socket; what arrived after each step."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    recorder = Recorder()
    other, _ = await loop.create_connection(lambda: recorder, sock=theirs)
    one: Any = OneWrite(transport)  # type: ignore[arg-type]
    seen = []
    for action, data in steps:
        getattr(one, action)(*([data] if action == "write" else []))
        await asyncio.sleep(0.05)
        seen.append(list(recorder.chunks))
    transport.close()
    other.close()
    return seen


def test_head_and_body_arrive_together() -> None:
    seen = asyncio.run(_exchange([("write", HEAD), ("write", b"{}")]))
    assert seen == [[], [HEAD + b"{}"]]


def test_interim_answers_bodies_and_refusals_go_at_once() -> None:
    refusal = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
    steps = [("write", b"HTTP/1.1 100 Continue\r\n\r\n"), ("write", b"chunk"), ("write", refusal)]
    seen = asyncio.run(_exchange(steps))
    assert b"".join(seen[0]) == steps[0][1]
    assert b"".join(seen[1]) == steps[0][1] + b"chunk"
    assert b"".join(seen[2]) == steps[0][1] + b"chunk" + refusal


def test_a_held_head_goes_on_flush_and_on_close() -> None:
    assert asyncio.run(_exchange([("write", HEAD), ("flush", b"")])) == [[], [HEAD]]
    assert asyncio.run(_exchange([("write", HEAD), ("close", b"")])) == [[], [HEAD]]
