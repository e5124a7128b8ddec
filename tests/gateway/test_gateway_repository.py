"""The model repository extension at the real gateway: the index of endpoints, and load/unload refused (403)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.gateway import repository
from neuroscale.gateway.http1 import Request
from neuroscale.gateway.routes import RouteTable
from tests.conftest import wait_for
from tests.gateway.test_gateway_e2e import call, gateway, write_routes  # noqa: F401 - `gateway` is a fixture

pytestmark = pytest.mark.e2e

ROUTES = {
    "iris": {"namespace": "default", "ready": True, "upstream": "127.0.0.1:1", "revision": "iris-predictor-00002"},
    "idle": {"namespace": "default", "ready": True, "traffic": [
        {"revision": "idle-predictor-00001", "percent": 100, "upstreams": []}]},
    "broken": {"namespace": "default", "ready": False, "reason": "ModelLoadFailed",
               "message": "model file /m/model.joblib does not exist"},
}


def index(port: int, body: object = None) -> tuple[int, object]:
    return call(port, "POST", "/v2/repository/index", body)


def test_the_index_lists_every_endpoint_with_its_state(gateway: tuple[int, Path]) -> None:  # noqa: F811
    port, routes = gateway
    write_routes(routes, ROUTES)
    status, models = wait_for(lambda: (answer := index(port, {}))[1] and answer, what="the table reloaded")
    assert status == 200
    assert models == [
        {"name": "broken", "version": "", "state": "UNAVAILABLE", "reason": "model file /m/model.joblib does not exist"},
        {"name": "idle", "version": "idle-predictor-00001", "state": "UNAVAILABLE",
         "reason": "no replica running (scaled to zero, or restarting): the next request starts one"},
        {"name": "iris", "version": "iris-predictor-00002", "state": "READY", "reason": ""},
    ]
    assert index(port, {"ready": True}) == (200, [models[2]])
    assert index(port) == (200, models), "an empty body is an empty request"
    status, error = call(port, "POST", "/v2/repository/index", raw=b"{not json")
    assert status == 400 and error["reason"] == "InvalidInput"
    status, error = call(port, "GET", "/v2/repository/index")
    assert status == 405 and error["reason"] == "MethodNotAllowed"


def test_load_and_unload_are_refused_saying_what_would_allow_them(gateway: tuple[int, Path]) -> None:  # noqa: F811
    port, routes = gateway
    write_routes(routes, ROUTES)
    wait_for(lambda: index(port)[1], what="the table reloaded")
    for action in ("load", "unload"):
        status, error = call(port, "POST", f"/v2/repository/models/iris/{action}", {})
        assert status == 403 and error["reason"] == "RepositoryControlNotAllowed"
        assert "admin credential" in error["fix"] and "minReplicas: 0" in error["fix"]
    status, error = call(port, "POST", "/v2/repository/models/nope/load", {})
    assert status == 404 and error["reason"] == "ModelNotFound"
    status, error = call(port, "POST", "/v2/repository/models/iris/reload", {})
    assert status == 404 and error["reason"] == "RouteNotFound"


def test_the_index_is_refused_to_clients_on_other_machines() -> None:
    table = RouteTable.from_document({"endpoints": ROUTES}, default_domain="localhost")

    def ask(*, local: bool) -> bytes:
        return repository.answer(Request(method=b"POST", url=b"/v2/repository/index", headers=[], body=b"{}",
                                         keep_alive=True, host="127.0.0.1", local=local), table)

    assert ask(local=False).startswith(b"HTTP/1.1 403") and b"RepositoryNotExposed" in ask(local=False)
    assert ask(local=True).startswith(b"HTTP/1.1 200")
