"""Bounded fuzzing of the live gateway (in front of a live model server) and of the model server itself.

Hypothesis generates raw requests - odd methods and paths, bad and ambiguous framing, `Expect`,
HEAD, pipelining, oversize heads and bodies, hostile Host names - and prediction bodies - bad
JSON, wrong shapes and types, NaN and huge numbers, deep nesting, invalid UTF-8. For every
exchange: the answer parses with h11, no 5xx (the upstream is up), nothing hangs past 5 s, and
every request h11 refuses as a server is refused here too. Both processes must survive.

The example count is fixed (`derandomize`), so `make test` stays bounded; `make bench` runs the
same tests with 10,000 examples each and writes the tallies (bench/http_fuzz_bench.py).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import IRIS_ROWS
from tests.gateway.conftest import Live
from tests.rawhttp import HANG_S, Exchange, exchange, request

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("NEUROSCALE_FUZZ_EXAMPLES", "120"))
REPORT = os.environ.get("NEUROSCALE_FUZZ_REPORT", "")
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
TARGETS = ["gateway", "model server"]

# -- what is generated ------------------------------------------------------------------------------

METHODS = st.sampled_from(["GET", "POST", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
                           "CONNECT", "get", "FOO", "PRI", "M-SEARCH"])
PATHS = st.sampled_from([
    "/v1/models/iris:predict", "/v2/models/iris/infer", "/v2/models/iris", "/v1/models/iris", "/healthz",
    "/v2/health/live", "/", "/v2", "/metrics", "/v1/models/iris:explain", "/v2/models/iris/versions/9/infer",
    "//", "/v1/models/", "/v1/models/%00:predict", "/v1/models/iris/../../metrics", "/" + "a" * 3000,
    "/v2/models/ghost/infer", "/v1/models/iris:predict?x=1&y=%ff", "*", "/caf\u00e9", "http://evil/healthz",
    "/v1/models/iris:predict#frag", "/v2/models/iris/infer%20",
])
HOSTS = st.sampled_from(["localhost", "localhost", "127.0.0.1:8080", "iris.ml.localhost", "[::1]", "evil.example",
                         "", "local host", "localhost:99999999"])
HEADER_NAMES = st.sampled_from(["X-A", "Content-Type", "Expect", "Connection", "Upgrade", "Te", "Trailer",
                                "Transfer-Encoding", "Content-Length", "Host", "X-Bad Name", "X\x00", "Keep-Alive",
                                "Inference-Header-Content-Length", "Accept-Encoding"])
HEADER_VALUES = st.one_of(
    st.sampled_from(["100-continue", "close", "keep-alive", "chunked", "gzip", "application/json", "h2c", "-1",
                     "0", "12", "abc", "a\x01b", "\u00ff", "x" * 3000]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
)
FRAMINGS = st.sampled_from(["length"] * 6 + ["chunked"] * 2 + ["short", "long", "bad", "badchunk", "both", "none"])

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
    st.text(max_size=6), inner, max_size=4), max_leaves=25)
DATATYPES = st.sampled_from(["FP64", "FP32", "FP16", "INT64", "INT8", "UINT8", "BOOL", "BYTES", "fp64", "XX", ""])
V2_BODIES = st.builds(
    lambda name, shape, datatype, data, extra: {"inputs": [{"name": name, "shape": shape, "datatype": datatype,
                                                           "data": data, **extra}]},
    st.sampled_from(["input-0", "", "x"]),
    st.one_of(st.lists(st.integers(min_value=-3, max_value=10**12), max_size=4), JSON_VALUES),
    DATATYPES, JSON_VALUES, st.dictionaries(st.sampled_from(["parameters", "id"]), JSON_VALUES, max_size=1))
V1_BODIES = st.one_of(
    st.builds(lambda rows: {"instances": rows}, JSON_VALUES),
    st.builds(lambda rows: {"instances": rows},
              st.lists(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=6), max_size=4)),
    st.just({"instances": IRIS_ROWS}),
    st.builds(lambda inputs: {"inputs": inputs}, JSON_VALUES),
)
BODIES = st.one_of(
    V1_BODIES.map(lambda doc: json.dumps(doc).encode()),  # NaN and Infinity come out as bare tokens
    V2_BODIES.map(lambda doc: json.dumps(doc).encode()),
    JSON_VALUES.map(lambda doc: json.dumps(doc).encode()),
    st.integers(min_value=1, max_value=5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=1, max_value=5000).map(lambda depth: b'{"instances":' + b"[" * depth + b"1" + b"]" * depth
                                                 + b"}"),
    st.sampled_from([b"", b"{", b"null", b'{"instances": 1e999}', b'{"instances": [[1e400, -1e400]]}',
                     b'{"instances":[[' + b"9" * 400 + b"]]}", b"\xff\xfe{}", b'{"instances":"\xc3\x28"}',
                     b'{"instances":[[1,2,3,4]]}' * 3, b"\x00" * 10]),
    st.binary(max_size=64),
)


@dataclass(frozen=True)
class Case:
    """One connection's worth of requests, as bytes, and how to read the answer."""

    raw: bytes
    methods: tuple[str, ...]
    first: bytes  # the first request alone, for h11's verdict
    half_close: bool


def _frame(method: str, path: str, host: str, headers: list[tuple[str, str]], body: bytes, framing: str,
           *, last: bool) -> tuple[bytes, bool]:
    lines = [f"{method} {path} HTTP/1.1"] + ([f"Host: {host}"] if host else [])
    lines += [f"{name}: {value}" for name, value in headers]
    half_close = False
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
    elif framing == "short":
        lines.append(f"Content-Length: {max(0, len(body) - 3)}")
    elif framing == "long":
        lines.append(f"Content-Length: {len(body) + 10}")
        half_close = True
    elif framing == "bad":
        lines.append("Content-Length: 1x")
    elif framing == "both":
        lines += [f"Content-Length: {len(body)}", "Transfer-Encoding: chunked"]
    elif framing in ("chunked", "badchunk"):
        lines.append("Transfer-Encoding: chunked")
        size = b"%x" % len(body) if framing == "chunked" else b"z%x" % len(body)
        body = (size + b"\r\n" + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    if last:
        lines.append("Connection: close")
    head = "\r\n".join(lines).encode("utf-8", errors="surrogateescape") + b"\r\n\r\n"
    return head + (body if framing != "none" else b""), half_close


@st.composite
def cases(draw: st.DrawFn) -> Case:
    count = draw(st.integers(min_value=1, max_value=3))
    parts: list[bytes] = []
    methods: list[str] = []
    half_close = False
    for index in range(count):
        method, path, host = draw(METHODS), draw(PATHS), draw(HOSTS)
        headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=3))
        body = draw(BODIES) if method in ("POST", "PUT", "PATCH") or draw(st.booleans()) else b""
        raw, cut = _frame(method, path, host, headers, body, draw(FRAMINGS), last=index == count - 1)
        parts.append(raw)
        methods.append(method)
        half_close = half_close or cut
    return Case(b"".join(parts), tuple(methods), parts[0], half_close)


# -- what is checked --------------------------------------------------------------------------------

@dataclass
class Tally:
    """Outcomes per target, asserted on per exchange and written out for the bench."""

    exchanges: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    slowest: dict[str, float] = field(default_factory=dict)
    h11_disagrees: Counter[str] = field(default_factory=Counter)

    def record(self, target: str, result: Exchange) -> None:
        self.exchanges[target] += 1
        self.statuses.setdefault(target, Counter()).update(r.status for r in result.responses)
        self.slowest[target] = max(self.slowest.get(target, 0.0), result.seconds)

    def as_dict(self) -> dict[str, object]:
        return {"exchanges": dict(self.exchanges), "slowest_s": self.slowest,
                "statuses": {target: dict(sorted(c.items())) for target, c in self.statuses.items()},
                "refused_where_h11_accepts": dict(self.h11_disagrees)}


@pytest.fixture(scope="module")
def tally(servers: Live) -> Iterator[Tally]:
    tally = Tally()
    yield tally
    for role, process in servers.processes.items():
        assert process.poll() is None, f"the {role} died during fuzzing (exit {process.returncode})"
    for port in servers.ports.values():  # and both still serve
        healthy = exchange(port, request("POST", "/v1/models/iris:predict",
                                         body=json.dumps({"instances": IRIS_ROWS}).encode(), close=True))
        assert [r.json() for r in healthy.responses] == [{"predictions": [1, 1]}]
    if REPORT:
        Path(REPORT).write_text(json.dumps(tally.as_dict(), indent=2))


def h11_refuses(raw: bytes) -> bool:
    """Would h11, as a server, refuse this request as malformed?"""
    server = h11.Connection(h11.SERVER)
    server.receive_data(raw)
    try:
        while True:
            event = server.next_event()
            if event is h11.NEED_DATA or isinstance(event, h11.EndOfMessage):
                return False
    except h11.RemoteProtocolError:
        return True


def check(result: Exchange, case_methods: tuple[str, ...], where: str) -> None:
    assert result.closed, f"{where}: no answer or close within {HANG_S} s"
    assert len(result.responses) <= len(case_methods), f"{where}: more answers than requests"
    for response in result.responses:
        assert response.status < 500, f"{where}: {response.status} {response.body[:300]!r}"
        if response.body and response.headers.get("content-type") == "application/json":
            json.loads(response.body)  # every error is a JSON document


@pytest.mark.parametrize("target", TARGETS)
@FUZZ
@given(case=cases())
def test_raw_requests(servers: Live, tally: Tally, target: str, case: Case) -> None:
    result = exchange(servers.ports[target], case.raw, methods=case.methods, half_close=case.half_close)
    tally.record(target, result)
    check(result, case.methods, f"{target} <- {case.raw[:400]!r}")
    if h11_refuses(case.first):
        assert not result.responses or result.responses[0].status >= 400, \
            f"{target} served a request h11 refuses: {case.first[:400]!r}"
    elif result.responses and result.responses[0].status == 400:
        tally.h11_disagrees[target] += 1


@pytest.mark.parametrize("target", TARGETS)
@FUZZ
@given(path=st.sampled_from(["/v1/models/iris:predict", "/v2/models/iris/infer"]), body=BODIES,
       chunked=st.booleans(), expect=st.booleans())
def test_prediction_bodies(servers: Live, tally: Tally, target: str, path: str, body: bytes, chunked: bool,
                           expect: bool) -> None:
    headers = {"Content-Type": "application/json"}
    if expect:
        headers["Expect"] = "100-continue"
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    result = exchange(servers.ports[target], request("POST", path, body=body, headers=headers, close=True),
                      methods=("POST",))
    tally.record(target, result)
    check(result, ("POST",), f"{target} <- {body[:400]!r}")
    assert len(result.responses) == 1
