"""`neuroscale cost --opencost-url`: the cluster's OpenCost asked the same question, against a recorded exchange.

OpenCost cannot run here, so a loopback server answers `/allocation/compute` with a response recorded in
OpenCost's allocation shape (one set, two controllers and `__idle__`), and keeps the query it was asked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from neuroscale.cli.main import main

WINDOW = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}


def allocation(name: str, controller: str, *, cpu_hours: float, ram_byte_hours: float, cost: float,
               efficiency: float) -> dict[str, Any]:
    return {"name": name, "properties": {"cluster": "cluster-one", "namespace": "ml-prod", "controller": controller,
                                         "controllerKind": "deployment",
                                         "labels": {"owner": "team-risk", "cost_center": "cc-1234"}},
            "window": WINDOW, "start": WINDOW["start"], "end": WINDOW["end"], "minutes": 1440.0,
            "cpuCores": cpu_hours / 24, "cpuCoreRequestAverage": 0.5, "cpuCoreUsageAverage": cpu_hours / 24,
            "cpuCoreHours": cpu_hours, "cpuCost": cost * 0.7, "cpuEfficiency": efficiency,
            "gpuCount": 0, "gpuHours": 0, "gpuCost": 0, "networkCost": 0, "loadBalancerCost": 0, "pvCost": 0,
            "ramBytes": ram_byte_hours / 24, "ramByteRequestAverage": 2**30, "ramByteUsageAverage": ram_byte_hours / 24,
            "ramByteHours": ram_byte_hours, "ramCost": cost * 0.3, "ramEfficiency": efficiency,
            "sharedCost": 0, "externalCost": 0, "totalCost": cost, "totalEfficiency": efficiency}


RECORDED = {"code": 200, "status": "success", "data": [{
    "fraud-scorer-predictor": allocation("fraud-scorer-predictor", "fraud-scorer-predictor", cpu_hours=6.0,
                                         ram_byte_hours=12 * 2**30, cost=0.2541, efficiency=0.42),
    "iris-predictor": allocation("iris-predictor", "iris-predictor", cpu_hours=1.5, ram_byte_hours=3 * 2**30,
                                 cost=0.0612, efficiency=0.81),
    "__idle__": allocation("__idle__", "", cpu_hours=20.0, ram_byte_hours=40 * 2**30, cost=0.9, efficiency=0.0),
}]}


class OpenCost:
    """A loopback stand-in for OpenCost's API: answers what it was told to, remembers the queries."""

    def __init__(self, status: int, body: Any) -> None:
        self.queries: list[dict[str, list[str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlparse(self.path)
                owner.queries.append({"path": [url.path], **parse_qs(url.query)})
                raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def opencost(request: pytest.FixtureRequest) -> Iterator[OpenCost]:
    status, body = getattr(request, "param", (200, RECORDED))
    server = OpenCost(status, body)
    yield server
    server.close()


def test_the_question_goes_to_opencost_as_its_api_names_it_and_the_answer_is_shown(
        opencost: OpenCost, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--opencost-url", opencost.url, "--window", "1d", "--aggregate", "controller",
                 "--accumulate", "--no-idle"]) == 0
    table = capsys.readouterr().out
    [query] = opencost.queries
    assert query == {"path": ["/allocation/compute"], "window": ["1d"], "aggregate": ["controller"],
                     "accumulate": ["true"], "includeIdle": ["false"], "shareIdle": ["false"]}
    assert "fraud-scorer-predictor" in table and "0.2541" in table and "6.0000" in table and "42%" in table
    assert main(["cost", "--opencost-url", opencost.url, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == RECORDED, "JSON output is OpenCost's answer as it gave it"


@pytest.mark.parametrize("opencost", [(400, {"code": 400, "message": "error parsing window (1x)"})], indirect=True)
def test_an_error_from_opencost_is_its_own_message_with_exit_2(opencost: OpenCost,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--opencost-url", opencost.url, "--window", "1x"]) == 2
    assert "OpenCost answered 400: error parsing window (1x)" in capsys.readouterr().err


@pytest.mark.parametrize("opencost", [(200, b"<html>not OpenCost</html>")], indirect=True)
def test_something_else_answering_is_not_taken_for_opencost(opencost: OpenCost,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--opencost-url", opencost.url]) == 2
    assert "OpenCost answered 200" in capsys.readouterr().err


def test_no_opencost_listening_says_how_to_reach_it(capsys: pytest.CaptureFixture[str]) -> None:
    from neuroscale.ports import free_port

    assert main(["cost", "--opencost-url", f"http://127.0.0.1:{free_port()}"]) == 2
    assert "port-forward" in capsys.readouterr().err
