"""The gateway's `/metrics`: per endpoint and revision, read back with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from neuroscale.gateway.admins import AdminRing
from neuroscale.gateway.api_keys import KeyRing
from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.shadow_feed import ShadowFeed
from neuroscale.gateway.hosts import HostGuard
from neuroscale.gateway.http1 import Request
from neuroscale.gateway.proxy import HoldLimits, Proxy, Router
from neuroscale.gateway.repository import Repository
from neuroscale.gateway.routes import RouteTable
from neuroscale.gateway.upstream import UpstreamPool
from neuroscale.metrics import names
from tests.conftest import IRIS_ROWS
from tests.gateway.test_gateway_e2e import call, gateway, wait_for_route, write_routes  # noqa: F401 - fixture

pytestmark = pytest.mark.e2e


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    text = response.read().decode()
    assert response.status == 200
    assert response.getheader("content-type", "").startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_latency_and_refusals_per_endpoint_and_revision(gateway: tuple[int, Path], iris_server: Any) -> None:
    port, routes = gateway
    server_port, _ = iris_server
    revision = "iris-predictor-00001"
    write_routes(routes, {"iris": {"namespace": "ml", "ready": True, "upstream": f"127.0.0.1:{server_port}",
                                   "revision": revision}})
    wait_for_route(port, "/v1/models/iris:predict", 200)
    before = scrape(port)
    for _ in range(5):
        assert call(port, "POST", "/v1/models/iris:predict", {"instances": IRIS_ROWS})[0] == 200
    assert call(port, "POST", "/v1/models/iris:predict", {"wrong": 1})[0] == 422
    assert call(port, "POST", "/v1/models/ghost:predict", {"instances": IRIS_ROWS})[0] == 404
    after = scrape(port)

    key = {"endpoint": "iris", "revision": revision}
    ok = f"{names.REQUESTS}_total"
    assert value(after, ok, code="200", **key) - value(before, ok, code="200", **key) == 5
    assert value(after, ok, code="422", **key) - value(before, ok, code="422", **key) == 1
    assert value(after, f"{names.UNROUTED}_total", code="404") - value(before, f"{names.UNROUTED}_total",
                                                                         code="404") == 1
    count = f"{names.DURATION}_count"
    assert value(after, count, **key) - value(before, count, **key) == 6
    inf = value(after, f"{names.DURATION}_bucket", le="+Inf", **key)
    assert inf == value(after, count, **key)
    assert value(after, f"{names.DURATION}_sum", **key) > 0
    assert value(after, names.REPLICAS, **key) == 1
    assert value(after, names.QUEUED, **key) == 0
    assert value(after, names.IN_FLIGHT, **key) == 0


def test_a_request_to_a_revision_at_zero_counts_as_a_cold_start(gateway: tuple[int, Path]) -> None:
    port, routes = gateway
    write_routes(routes, {"idle": {"namespace": "default", "ready": True, "revision": "idle-predictor-00001",
                                   "traffic": [{"revision": "idle-predictor-00001", "percent": 100,
                                                  "upstreams": []}], "timeout": 1}})
    status, _ = wait_for_route(port, "/v1/models/idle:predict", 503)
    assert status == 503
    samples = scrape(port)
    key = {"endpoint": "idle", "revision": "idle-predictor-00001"}
    assert value(samples, f"{names.COLD_STARTS}_total", **key) >= 1
    assert value(samples, f"{names.REQUESTS}_total", code="503", **key) >= 1


def test_metrics_are_refused_to_clients_on_other_machines(tmp_path: Path) -> None:
    """The peer address decides, not the Host header: a remote client naming 127.0.0.1 still gets 403."""
    balancer = Balancer(lambda: 0.0)
    pool = UpstreamPool()
    table = RouteTable.empty("localhost")
    proxy = Proxy(Router(lambda: table), pool, hosts=HostGuard(allowed=(), bind_host="127.0.0.1"),
                  upstream_timeout_s=1.0, balancer=balancer, hold=HoldLimits(), on_wait=lambda: None, recorder=None,
                  mirror=ShadowFeed(balancer, routes=tmp_path / "routes.json", shadow_file=None,
                                                   timeout=1.0), keys=KeyRing(None),
                  repository=Repository(lambda: table, admins=AdminRing(None), orders=None, wait_s=1.0))

    def ask(*, local: bool) -> bytes:
        request = Request(method=b"GET", url=b"/metrics", headers=[], body=b"", keep_alive=True,
                          host="127.0.0.1", local=local)
        return asyncio.run(proxy(request))

    assert ask(local=False).startswith(b"HTTP/1.1 403")
    assert b"MetricsNotExposed" in ask(local=False)
    answer = ask(local=True)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b"# TYPE neuroscale_gateway_requests_total counter" in answer
