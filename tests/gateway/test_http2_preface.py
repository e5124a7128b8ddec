"""HTTP/2 with prior knowledge (`curl --http2-prior-knowledge`) against the HTTP/1.1-only gateway and model server.

Both once answered the connection preface `PRI * HTTP/2.0` with an HTTP/1.1 400 and a close, which an
HTTP/2 client cannot read (curl: "Send failure: Broken pipe" from the gateway, "Empty reply from server"
from the model server). Now both answer in HTTP/2 framing, as RFC 9113 lets a server that requires
HTTP/1.1: SETTINGS, then GOAWAY with HTTP_1_1_REQUIRED; curl, the client on the other side here, names
the error code. The raw-socket test checks the frames byte by byte (no HTTP/2 client library is installed).
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess

import pytest

from neuroscale.h2preface import DEBUG_TEXT, HTTP_1_1_REQUIRED
from tests.gateway.conftest import Live
from tests.rawhttp import HANG_S, exchange, request

pytestmark = pytest.mark.e2e

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CLIENT_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an empty SETTINGS frame, as the client's preface ends
#: What curl prints for the GOAWAY: 7.x "GOAWAY, error=13", 8.x names the code.
CURL_SAYS = re.compile(r"GOAWAY, error=13|HTTP_1_1_REQUIRED")


def test_curl_with_prior_knowledge_is_told_http11_is_required(port: int) -> None:
    binary = shutil.which("curl")
    assert binary, "curl is part of the machine image"
    done = subprocess.run([binary, "-sS", "-v", "--max-time", "10", "--http2-prior-knowledge",
                           f"http://127.0.0.1:{port}/v1/models/iris"], capture_output=True, text=True)
    assert done.returncode == 16, done.stderr  # CURLE_HTTP2: the HTTP/2 layer failed, not the network
    assert CURL_SAYS.search(done.stderr), done.stderr
    assert "Broken pipe" not in done.stderr and "Empty reply" not in done.stderr


def _frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, stream id, payload) of each HTTP/2 frame in `data`, which must hold whole frames only."""
    frames, offset = [], 0
    while offset < len(data):
        assert len(data) - offset >= 9, data
        length = int.from_bytes(data[offset:offset + 3], "big")
        kind, stream = data[offset + 3], struct.unpack(">I", data[offset + 5:offset + 9])[0] & 0x7FFFFFFF
        frames.append((kind, stream, data[offset + 9:offset + 9 + length]))
        offset += 9 + length
    return frames


def _send_and_read_to_eof(port: int, data: bytes) -> bytes:
    """Everything the server sends until it closes; a reset instead of its half-close fails the test."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as sock:
        sock.sendall(data)
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_the_preface_gets_settings_then_goaway_and_a_clean_close(port: int) -> None:
    received = _send_and_read_to_eof(port, PREFACE + CLIENT_SETTINGS)
    (settings_kind, settings_stream, settings), (goaway_kind, goaway_stream, goaway) = _frames(received)
    assert (settings_kind, settings_stream, settings) == (0x4, 0, b"")  # RFC 9113 3.4: SETTINGS comes first
    assert (goaway_kind, goaway_stream) == (0x7, 0)
    last_stream, code = struct.unpack(">II", goaway[:8])
    assert (last_stream, code, goaway[8:]) == (0, HTTP_1_1_REQUIRED, DEBUG_TEXT)


def test_the_preface_after_a_request_is_answered_after_it(servers: Live) -> None:
    """A (misbehaving) client that sends the preface after an HTTP/1.1 request still gets its answer first."""
    received = _send_and_read_to_eof(servers.ports["gateway"],
                                     request("GET", "/v2/models/iris/ready") + PREFACE + CLIENT_SETTINGS)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    assert [kind for kind, _, _ in _frames(rest[length:])] == [0x4, 0x7]


def test_http11_requests_are_unchanged(port: int) -> None:
    answer = exchange(port, request("GET", "/v2/models/iris/ready", close=True))
    assert [r.status for r in answer.responses] == [200]
