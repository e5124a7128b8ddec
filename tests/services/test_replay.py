"""The prediction-diff replay: every request asked on both sides, in sample order, with every failure counted.

The serving side is the platform's own model server (iris answers [1, 1] for IRIS_ROWS and [0, 0]
for SETOSA); the other side is a loopback stand-in that misbehaves in one chosen way.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuroscale.services.prediction_diff import Target, replay, verdict
from neuroscale.services.samples import SampleRequest
from neuroscale.spec import extensions
from tests.conftest import IRIS_ROWS, free_port, running
from tests.engine.test_engine_previews import SETOSA
from tests.gateway.conftest import StandIn

ALWAYS_ONE = b'{"predictions":[1,1]}'
REQUESTS = [SampleRequest(line, "v1", {"instances": SETOSA if line % 5 < 2 else IRIS_ROWS}) for line in range(1, 51)]


class HangsUp:
    """Answers one request per connection, then closes it without saying so (as an idle-timeout race does)."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                if connection.recv(65536):  # one small request per read on loopback
                    connection.sendall(self.reply)


@pytest.fixture(scope="module")
def iris(iris_model: Path) -> Iterator[Target]:
    port = free_port()
    server = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
              "--storage-uri", str(iris_model), "--port", str(port), "--model-root", str(iris_model.parent)]
    with running(server, ready_url=f"http://127.0.0.1:{port}/v2/health/ready"):
        yield Target(f"http://127.0.0.1:{port}", "iris")


def summary(results: list[tuple[SampleRequest, object, object]]) -> str:
    return str(verdict("iris", "proposed", "sample", results, extensions.DiffGate()).findings[0]["message"])


def test_each_request_is_compared_in_order_even_when_connections_close_between_requests(iris: Target) -> None:
    proposed = HangsUp(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(ALWAYS_ONE), ALWAYS_ONE))
    results = replay(iris, Target(f"http://127.0.0.1:{proposed.port}", "iris"), REQUESTS)
    assert [r.line for r, _, _ in results] == list(range(1, 51))
    assert [c.body for _, c, _ in results] == [{"predictions": [0, 0] if r.body["instances"] == SETOSA else [1, 1]}
                                               for r, _, _ in results]
    assert all(p.status == 200 and p.body == {"predictions": [1, 1]} for _, _, p in results)
    assert all(c.ms > 0 and p.ms > 0 for _, c, p in results), "a latency per request and side"
    assert proposed.connections >= 50, "every closed connection was replaced, and its request sent again"
    assert "agreement 60.0% (30 of 50 compared); errors: 0 serving, 0 new" in summary(results)


def test_a_side_that_is_down_silent_or_not_json_is_an_error_per_request(iris: Target) -> None:
    down = Target(f"http://127.0.0.1:{free_port()}", "iris")
    silent = StandIn(None)
    text = StandIn(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\noops")
    try:
        refused = replay(iris, down, REQUESTS[:10])
        assert {p.status for _, _, p in refused} == {0} and all("refused" in p.body for _, _, p in refused)
        assert "errors: 0 serving, 10 new in the preview" in summary(refused)
        hung = replay(Target(f"http://127.0.0.1:{silent.port}", "iris"), iris, REQUESTS[:3], timeout_s=0.3)
        assert {c.status for _, c, _ in hung} == {0} and all("timed out" in c.body for _, c, _ in hung)
        assert "errors: 3 serving, 0 new" in summary(hung)
        failing = replay(iris, Target(f"http://127.0.0.1:{text.port}", "iris"), REQUESTS[:4])
        assert [(p.status, p.body) for _, _, p in failing] == [(500, "oops")] * 4
    finally:
        silent.close()
        text.close()


def test_an_answer_nested_past_the_parsers_limit_is_an_error_of_that_side_not_a_crash(iris: Target) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    nested = StandIn(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(deep), deep))
    try:
        results = replay(iris, Target(f"http://127.0.0.1:{nested.port}", "iris"), REQUESTS[:3])
    finally:
        nested.close()
    assert {p.status for _, _, p in results} == {0} and all("recursion" in p.body for _, _, p in results)
    assert "errors: 0 serving, 3 new in the preview" in summary(results)


def test_a_gate_with_nothing_compared_fails_saying_so_and_no_gate_warns() -> None:
    from neuroscale.services.prediction_diff import Exchange

    both_fail = [(request, Exchange(400, "bad input", 1.0), Exchange(400, "bad input", 1.0)) for request in REQUESTS]
    gated = verdict("iris", "proposed", "sample", both_fail, extensions.DiffGate(min_agreement=0.5))
    assert gated.status == "fail"
    assert any("none could be measured" in f["message"] for f in gated.findings if f["severity"] == "error")
    plain = verdict("iris", "proposed", "sample", both_fail, extensions.DiffGate())
    assert plain.status == "pass" and any("nothing was compared" in f["message"] for f in plain.findings
                                          if f["severity"] == "warning")


def test_a_v2_answer_repeating_an_output_name_is_an_error_of_that_side_not_an_agreement(iris: Target) -> None:
    """The serving side is the real model server's V2 answer; the proposed one repeats its output's name with
    other data second (keyed by name, the two once collapsed into the serving answer and "agreed")."""
    import httpx

    request = SampleRequest(1, "v2", {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
                                                  "data": [x for row in IRIS_ROWS for x in row]}]})
    real = httpx.post(f"{iris.url}/v2/models/iris/infer", json=request.body, timeout=30).json()
    [output] = real["outputs"]
    doubled = json.dumps({**real, "outputs": [{**output, "data": [0] * len(output["data"])}, output]}).encode()
    proposed = StandIn(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                       % (len(doubled), doubled))
    try:
        results = replay(iris, Target(f"http://127.0.0.1:{proposed.port}", "iris"), [request] * 3)
    finally:
        proposed.close()
    checked = verdict("iris", "proposed", "sample", results, extensions.DiffGate(fail_on_new_errors=True))
    assert "agreement 0.0% (0 of 0 compared); errors: 0 serving, 3 new in the preview" in str(
        checked.findings[0]["message"])
    said = [str(f["message"]) for f in checked.findings if f["severity"] == "warning"]
    assert any(f"two outputs named {output['name']!r}" in message for message in said), said
    assert checked.status == "fail"


def test_a_changed_prediction_of_megabytes_still_shows_the_input_it_answered() -> None:
    """A proposed model may answer anything (a 10 MB class label): each part of a changed prediction is cut on
    its own, so the reviewer still sees which input it was, and the finding stays short."""
    from neuroscale.services.prediction_diff import Exchange

    request = SampleRequest(3, "v1", {"instances": [[6.8, 2.8, 4.8, 1.4]], "id": "row-17"})
    huge = {"predictions": ["<img src=x onerror=alert(1)>" + "x" * (10 << 20)]}
    result = verdict("iris", "proposed", "sample",
                     [(request, Exchange(200, {"predictions": [1]}, 1.0), Exchange(200, huge, 1.0))],
                     extensions.DiffGate())
    [changed] = [f["message"] for f in result.findings if f["severity"] == "warning"]
    assert changed.startswith("line 3: serving [1], preview ['<img src=x onerror=alert(1)>xxx")
    assert "'id': 'row-17'" in changed and len(changed) <= 600
