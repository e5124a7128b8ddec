"""HTTP/1.1 edges, byte for byte, against the real gateway process and the real model server behind it.

Both servers run with small limits and one-second timeouts so each edge is reached quickly; the
defaults are checked separately. Responses are parsed with h11 (tests/rawhttp.py). The edges that
only a proxy has (upstream timeout, an upstream sending 1xx, Host names) run against the gateway,
with stand-in upstreams written here for the misbehaviour a real model server never shows.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from neuroscale.httplimits import HttpLimits
from tests.conftest import IRIS_ROWS
from tests.gateway.conftest import Live
from tests.rawhttp import Exchange, exchange, parse, read_to_end, request

pytestmark = pytest.mark.e2e

PREDICT = json.dumps({"instances": IRIS_ROWS}).encode()
V1 = "/v1/models/iris:predict"


def statuses(result: Exchange) -> list[int]:
    return [response.status for response in result.responses]


def test_defaults_are_the_documented_ones() -> None:
    assert HttpLimits() == HttpLimits(max_body_bytes=16 * 1024 * 1024, max_header_bytes=32 * 1024, max_headers=100,
                                      header_timeout_s=10.0, idle_timeout_s=30.0)


# -- Expect: 100-continue ---------------------------------------------------------------------------

def test_expect_continue_gets_100_then_the_answer(port: int) -> None:
    head = request("POST", V1, headers={"Content-Length": str(len(PREDICT)), "Expect": "100-continue"}, close=True)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        interim = sock.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(PREDICT)
        answer = parse(interim + read_to_end(sock))
    assert [(r.status, r.informational, r.json()) for r in answer] == [(200, [100], {"predictions": [1, 1]})]


def test_expect_continue_with_a_body_over_the_limit_is_413_without_reading_it(port: int) -> None:
    head = request("POST", V1, headers={"Content-Length": "100000", "Expect": "100-continue"})
    result = exchange(port, head)
    assert result.closed and statuses(result) == [413]
    assert result.responses[0].informational == []
    assert result.responses[0].json()["reason"] == "PayloadTooLarge"


def test_100_continue_waits_for_the_answers_to_earlier_requests(servers: Live) -> None:
    slow = request("POST", "/v1/models/slow:predict", body=b"{}")
    head = request("POST", V1, headers={"Content-Length": str(len(PREDICT)), "Expect": "100-continue"}, close=True)
    with socket.create_connection(("127.0.0.1", servers.ports["gateway"]), timeout=5) as sock:
        sock.sendall(slow + head)
        first = b""
        while b"100 Continue" not in first:
            chunk = sock.recv(65536)
            assert chunk, f"closed before 100 Continue: {first!r}"
            first += chunk
        sock.sendall(PREDICT)
        answers = parse(first + read_to_end(sock), ("POST", "POST"))
    assert first.startswith(b"HTTP/1.1 504 ")  # the earlier answer comes first, then the interim one
    assert [(r.status, r.informational) for r in answers] == [(504, []), (200, [100])]


def test_unknown_expectation_is_417_at_the_gateway(servers: Live) -> None:
    result = exchange(servers.ports["gateway"], request("POST", V1, body=PREDICT, headers={"Expect": "teapot"}))
    assert statuses(result) == [417] and result.closed
    assert result.responses[0].json()["reason"] == "ExpectationFailed"


def test_an_upstream_interim_answer_is_never_taken_for_the_final_one(servers: Live) -> None:
    result = exchange(servers.ports["gateway"], request("POST", "/v1/models/chatty:predict", body=b"{}", close=True))
    assert statuses(result) == [200]
    assert result.responses[0].informational == []
    assert result.responses[0].json() == {"ok": True}


def test_the_upstream_gets_our_framing_and_no_hop_by_hop_fields(servers: Live) -> None:
    chunked = b"2\r\n{}\r\n0\r\n\r\n"
    sent = request("POST", "/v1/models/chatty:predict", body=chunked, headers={
        "Transfer-Encoding": "chunked", "Connection": "close, X-Secret", "X-Secret": "1", "X-Kept": "2",
        "Keep-Alive": "timeout=5", "Te": "trailers", "Upgrade-Insecure-Requests": "1"})
    assert statuses(exchange(servers.ports["gateway"], sent)) == [200]
    head, _, body = servers.chatty.received[-1].partition(b"\r\n\r\n")
    fields = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n")[1:]]
    assert sorted(fields) == [b"content-length", b"host", b"upgrade-insecure-requests", b"x-kept"]
    assert b"content-length: 2" in head and body == b"{}"


# -- HEAD -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v2/models/iris", "/v2/models/iris/ready", "/v1/models/iris"])
def test_head_is_get_without_the_body(port: int, path: str) -> None:
    get = exchange(port, request("GET", path, close=True)).responses[0]
    head = exchange(port, request("HEAD", path) + request("GET", path, close=True), methods=("HEAD", "GET"))
    assert statuses(head) == [200, 200]
    assert head.responses[0].body == b""
    assert head.responses[0].headers["content-length"] == str(len(get.body))
    assert head.responses[1].body == get.body  # the next answer on the connection is intact
    assert head.seconds < 2


def test_a_head_answer_arrives_while_the_connection_stays_open(port: int) -> None:
    """The model server holds an answer's head until its body (one write): a HEAD answer has none."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request("HEAD", "/v2/models/iris/ready"))
        received = b""
        while not received.endswith(b"\r\n\r\n"):
            received += sock.recv(4096)  # a held head goes only when the idle timeout closes the connection
        assert received.startswith(b"HTTP/1.1 200 ")
        sock.sendall(request("GET", "/v2/models/iris/ready", close=True))  # so the connection must still be open
        answer = parse(read_to_end(sock))
    assert [(r.status, r.json()) for r in answer] == [(200, {"name": "iris", "ready": True})]


def test_head_on_a_predict_route_is_405_naming_post(port: int) -> None:
    result = exchange(port, request("HEAD", V1, close=True), methods=("HEAD",))
    assert statuses(result) == [405]
    assert result.responses[0].headers["allow"] == "POST"
    assert result.responses[0].body == b""


def test_head_on_the_gateways_own_answers_has_no_body(servers: Live) -> None:
    result = exchange(servers.ports["gateway"], request("HEAD", "/healthz") + request("HEAD", "/nowhere", close=True),
                      methods=("HEAD", "HEAD"))
    assert statuses(result) == [200, 404]
    assert all(response.body == b"" and int(response.headers["content-length"]) > 0
               for response in result.responses)


# -- header limits ----------------------------------------------------------------------------------

def test_a_header_over_the_limit_is_431_naming_it(port: int) -> None:
    result = exchange(port, request("GET", "/v2/models/iris/ready", headers={"X-Big": "a" * 3000}))
    assert statuses(result) == [431] and result.closed
    assert "2048 bytes" in result.responses[0].json()["error"]


def test_too_many_headers_is_431_naming_the_count(port: int) -> None:
    headers = {f"X-H{i}": "1" for i in range(25)}
    result = exchange(port, request("GET", "/v2/models/iris/ready", headers=headers))
    assert statuses(result) == [431]
    assert "20 header fields" in result.responses[0].json()["error"]


def test_an_endless_header_is_cut_off_early_and_the_server_keeps_serving(port: int) -> None:
    """The 64 MB header case: refused after a few reads, not buffered to the end."""
    head = b"GET /v2/models/iris/ready HTTP/1.1\r\nHost: localhost\r\nX-Big: "
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        sent = 0
        try:
            while sent < 64 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert sent < 8 * 1024 * 1024
    assert statuses(exchange(port, request("GET", "/v2/models/iris/ready", close=True))) == [200]


# -- timeouts ---------------------------------------------------------------------------------------

def test_slowloris_is_answered_408_and_closed_within_the_header_timeout(port: int) -> None:
    trickle = [b"GET /v2/models/iris/ready HTTP/1.1\r\n", *[b"X-A: b\r\n"] * 10]
    result = exchange(port, *trickle, pause_s=0.25)
    assert result.closed and result.seconds < 3
    assert statuses(result) == [408]


def test_a_slow_head_after_an_answered_request_is_408(port: int) -> None:
    """The header timeout also covers the second request on a kept-alive connection."""
    trickle = [request("GET", "/v2/models/iris/ready"), b"GET /v2/models/iris/ready HTTP/1.1\r\n",
               *[b"X-A: b\r\n"] * 10]
    result = exchange(port, *trickle, pause_s=0.25)
    assert result.closed and result.seconds < 3
    assert statuses(result) == [200, 408]


def test_a_stalled_body_is_408(port: int) -> None:
    """The model server (uvicorn has no body timeout) held such a connection, and a concurrency slot, for good."""
    head = request("POST", V1, headers={"Content-Length": str(len(PREDICT))})
    result = exchange(port, head + PREDICT[:5], PREDICT[5:10], pause_s=0.6)
    assert statuses(result) == [408] and result.closed and result.seconds < 3
    assert "body stalled" in result.responses[0].json()["error"]


def test_a_silent_connection_is_closed(port: int) -> None:
    result = exchange(port)
    assert result.closed and result.seconds < 3 and result.responses == []


def test_an_idle_keep_alive_connection_is_closed(port: int) -> None:
    result = exchange(port, request("GET", "/v2/models/iris/ready"))
    assert statuses(result) == [200]
    assert result.closed and result.seconds < 3


def test_a_slow_upstream_is_504_naming_the_endpoint(servers: Live) -> None:
    result = exchange(servers.ports["gateway"], request("POST", "/v1/models/slow:predict", body=b"{}", close=True))
    assert statuses(result) == [504]
    body = result.responses[0].json()
    assert body["reason"] == "UpstreamTimeout" and body["endpoint"] == "slow"
    assert "--upstream-timeout" in body["fix"]


# -- order and framing ------------------------------------------------------------------------------

@pytest.mark.parametrize(("last", "status"), [
    (request("POST", V1, headers={"Content-Length": "99999"}), 413),
    (b"GARBAGE\r\n\r\n", 400),
    (request("GET", "/v2/models/iris/ready", headers={"X-Big": "a" * 3000}), 431),
])
def test_pipelined_answers_stay_in_order_even_for_errors(port: int, last: bytes, status: int) -> None:
    result = exchange(port, request("GET", "/v2/models/iris/ready") + request("POST", V1, body=PREDICT) + last)
    assert statuses(result) == [200, 200, status]
    assert result.responses[1].json() == {"predictions": [1, 1]}
    assert result.closed


@pytest.mark.parametrize("framing", [
    b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
    b"Content-Length: 4\r\nContent-Length: 5\r\n",
    b"Content-Length: -4\r\n",
    b"Content-Length: 0x4\r\n",
    b"Transfer-Encoding: chunked, identity\r\n",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    b"Transfer-Encoding : chunked\r\n",
])
def test_ambiguous_framing_is_400_and_nothing_is_smuggled(port: int, framing: bytes) -> None:
    smuggled = request("GET", "/v1/models/iris", close=True)
    attack = b"POST /v2/models/iris/ready HTTP/1.1\r\nHost: localhost\r\n" + framing + b"\r\n0\r\n\r\n" + smuggled
    result = exchange(port, attack)
    assert statuses(result) == [400] and result.closed


def test_gzip_transfer_coding_is_refused_at_the_gateway(servers: Live) -> None:
    attack = (b"POST /v1/models/iris:predict HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n"
              b"\r\n0\r\n\r\n")
    assert statuses(exchange(servers.ports["gateway"], attack)) == [400]


def test_a_bad_chunk_is_400(port: int) -> None:
    body = b"zz\r\nabc\r\n0\r\n\r\n"
    result = exchange(port, request("POST", V1, headers={"Transfer-Encoding": "chunked"}, body=body))
    assert statuses(result) == [400] and result.closed


def test_a_chunked_body_is_forwarded_whole(port: int) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(PREDICT[i:i + 7]), PREDICT[i:i + 7]) for i in range(0, len(PREDICT), 7))
    result = exchange(port, request("POST", V1, headers={"Transfer-Encoding": "chunked"}, body=chunks + b"0\r\n\r\n",
                                    close=True))
    assert statuses(result) == [200]
    assert result.responses[0].json() == {"predictions": [1, 1]}


def test_a_chunked_body_over_the_limit_is_413(port: int) -> None:
    chunk = b"1000\r\n" + b"a" * 0x1000 + b"\r\n"
    result = exchange(port, request("POST", V1, headers={"Transfer-Encoding": "chunked"}, body=chunk * 3))
    assert statuses(result) == [413] and result.closed


def test_a_half_closed_client_still_gets_its_answer(servers: Live) -> None:
    result = exchange(servers.ports["gateway"], request("POST", V1, body=PREDICT), half_close=True)
    assert statuses(result) == [200] and result.closed


# -- Host names (DNS rebinding) -----------------------------------------------------------------------

@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8080", "127.0.0.1:1234", "127.0.0.2", "[::1]:80", "[::1]",
                                  "my-box.lan:8080", "iris.ml.localhost", "ghost.ml.localhost", "localhost."])
def test_served_host_names_are_answered(servers: Live, host: str) -> None:
    result = exchange(servers.ports["gateway"], request("POST", V1, host=host, body=PREDICT, close=True))
    assert statuses(result) == [200]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", "localhost.evil.example",
                                  "10.0.0.5", "localhost:http", "[::1", "[::1]x"])
def test_other_host_names_are_421(servers: Live, host: str) -> None:
    result = exchange(servers.ports["gateway"], request("GET", "/healthz", host=host, close=True))
    assert statuses(result) == [421]
    assert result.responses[0].json()["reason"] == "MisdirectedRequest"
    assert "--allowed-host" in result.responses[0].json()["fix"]


@pytest.mark.parametrize("raw", [
    b"GET /v2/models/iris HTTP/1.1\r\n\r\n",
    b"GET /v2/models/iris HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",
])
def test_missing_or_doubled_host_is_400(port: int, raw: bytes) -> None:
    result = exchange(port, raw)
    assert statuses(result) == [400] and result.closed
    assert "exactly one Host" in result.responses[0].json()["error"]


def test_an_absolute_target_is_400_at_the_gateway(servers: Live) -> None:
    raw = b"GET http://evil.example/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    assert statuses(exchange(servers.ports["gateway"], raw)) == [400]


def test_http_10_without_host_is_routed_by_path(servers: Live) -> None:
    raw = b"POST /v1/models/iris:predict HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(PREDICT), PREDICT)
    result = exchange(servers.ports["gateway"], raw)
    assert statuses(result) == [200] and result.closed


def test_the_supervisor_passes_allowed_hosts_to_the_gateway(tmp_path: Path) -> None:
    from neuroscale.home import Home
    from neuroscale.supervisor.platform import components
    from neuroscale.supervisor.settings import PlatformSettings, load_settings, save_settings

    home = Home(tmp_path)
    save_settings(home, PlatformSettings(allowed_hosts=("box.lan", "10.0.0.5")))
    settings = load_settings(home)
    assert settings.allowed_hosts == ("box.lan", "10.0.0.5")
    gateway = next(c for c in components(home, settings) if c.name == "gateway")
    assert gateway.argv[-4:] == ("--allowed-host", "box.lan", "--allowed-host", "10.0.0.5")
