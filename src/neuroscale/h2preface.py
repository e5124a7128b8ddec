"""How an HTTP/1.1-only server answers a client that opens with the HTTP/2 connection preface.

`curl --http2-prior-knowledge`, gRPC clients and HTTP/2-only libraries skip the HTTP/1.1 request and
send the preface `PRI * HTTP/2.0` (RFC 9113 section 3.4). An HTTP/1.1 400 is noise to them: they
expect frames, and report only a framing error. RFC 9113 lets a server refuse in the client's own
protocol: its own preface (a SETTINGS frame, which must be the first frame a server sends), then
GOAWAY with the error code HTTP_1_1_REQUIRED (section 7) and, as debug data, the fix; curl prints the
code (error=13), gRPC the code and the text. Both data-plane servers (the gateway and the model
server) send these very bytes after the answers to any earlier requests, read `is_preface` the same
way, and half-close and linger after answering (`linger_close`): a close with the client's later
frames unread would make the kernel reset the connection, which can discard the GOAWAY before the
client reads it.
"""

from __future__ import annotations

import asyncio
import struct

#: RFC 9113 section 7: "The endpoint requires that HTTP/1.1 be used instead of HTTP/2."
HTTP_1_1_REQUIRED = 0x0D
_SETTINGS, _GOAWAY = 0x04, 0x07
#: Seconds the connection stays half-closed for the client to read the GOAWAY and close its side.
LINGER_S = 2.0
DEBUG_TEXT = b"this port speaks HTTP/1.1 only: send HTTP/1.1 requests (curl: --http1.1, not --http2-prior-knowledge)"


def _frame(kind: int, payload: bytes) -> bytes:
    """One HTTP/2 frame on stream 0 without flags: 24-bit length, type, flags, stream id, payload."""
    return struct.pack(">I", len(payload))[1:] + bytes((kind, 0)) + struct.pack(">I", 0) + payload


#: An empty SETTINGS frame, then GOAWAY: no stream was processed (last stream id 0), HTTP/1.1 required.
ANSWER = _frame(_SETTINGS, b"") + _frame(_GOAWAY, struct.pack(">II", 0, HTTP_1_1_REQUIRED) + DEBUG_TEXT)


def is_preface(method: bytes, http_version: str) -> bool:
    """Whether llhttp stopped on the HTTP/2 preface (it pauses on `PRI … HTTP/2.0` with a parser error)."""
    return method == b"PRI" and http_version == "2.0"


def linger_close(transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
    """Half-close after `ANSWER` was written and read on (the caller discards what comes); close for good once
    the client has closed its side, or after `LINGER_S`."""
    transport.resume_reading()
    if transport.can_write_eof():
        transport.write_eof()
    loop.call_later(LINGER_S, transport.close)
