"""The model repository extension at the real gateway: the index, and load/unload for admins only.

The engine's side (carrying the orders out) is covered with real model servers in
`tests/engine/test_engine_repository.py`; here the routes file plays the engine's answer.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import stat
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from neuroscale.db import connect
from neuroscale.gateway.admins import AdminRing
from neuroscale.gateway.http1 import Request
from neuroscale.gateway.repository import Repository
from neuroscale.gateway.routes import RouteTable
from neuroscale.home import Home
from neuroscale.identity.roles import Role
from neuroscale.identity.store import IdentityStore, Kind
from tests.conftest import free_port, running, wait_for
from tests.gateway.test_gateway_e2e import call, gateway, write_routes  # noqa: F401 - `gateway` is a fixture

pytestmark = pytest.mark.e2e

ROUTES: dict[str, Any] = {
    "iris": {"namespace": "default", "ready": True, "upstream": "127.0.0.1:1", "revision": "iris-predictor-00002"},
    "idle": {"namespace": "default", "ready": True, "traffic": [
        {"revision": "idle-predictor-00001", "percent": 100, "upstreams": []}]},
    "broken": {"namespace": "default", "ready": False, "reason": "ModelLoadFailed",
               "message": "model file /m/model.joblib does not exist"},
    "iris-pr-3": {"namespace": "default", "ready": True, "preview": True, "traffic": [
        {"revision": "iris-pr-3-predictor-00001", "percent": 100, "upstreams": []}]},
}
UNLOADED = "unloaded by admin ann at 2026-01-01T00:00:00+00:00; an admin loads it again with POST …/load"


def index(port: int, body: object = None) -> tuple[int, object]:
    return call(port, "POST", "/v2/repository/index", body)


def test_the_index_lists_every_endpoint_with_its_state(gateway: tuple[int, Path]) -> None:  # noqa: F811
    port, routes = gateway
    write_routes(routes, ROUTES)
    status, models = wait_for(lambda: (answer := index(port, {}))[1] and answer, what="the table reloaded")
    assert status == 200
    assert isinstance(models, list) and [m["name"] for m in models] == ["broken", "idle", "iris", "iris-pr-3"]
    assert models[:3] == [
        {"name": "broken", "version": "", "state": "UNAVAILABLE", "reason": "model file /m/model.joblib does not exist"},
        {"name": "idle", "version": "idle-predictor-00001", "state": "UNAVAILABLE",
         "reason": "no replica running (scaled to zero, or restarting): the next request starts one"},
        {"name": "iris", "version": "iris-predictor-00002", "state": "READY", "reason": ""},
    ]
    assert index(port, {"ready": True}) == (200, [models[2]])
    assert index(port) == (200, models), "an empty body is an empty request"
    for raw in (b"{not json", b"[1]"):
        status, error = call(port, "POST", "/v2/repository/index", raw=raw)
        assert status == 400 and error["reason"] == "InvalidInput"
    status, error = call(port, "GET", "/v2/repository/index")
    assert status == 405 and error["reason"] == "MethodNotAllowed"


@dataclass(frozen=True)
class Admins:
    port: int
    home: Home
    admin: str  # ann's token (role admin)
    author: str  # bob's token (role author)


@pytest.fixture()
def admins(tmp_path: Path) -> Iterator[Admins]:
    """A gateway whose home has an admin and an author, each with a personal token; it waits 1 s for orders."""
    home = Home(tmp_path / "home")
    write_routes(home.routes_file, ROUTES)
    store = IdentityStore(connect(home.state_db), admins_file=home.admin_tokens_file)
    tokens = {}
    for name, role in (("ann", Role.admin), ("bob", Role.author)):
        store.add_user(name, role)
        tokens[name] = store.issue(name, Kind.token).secret
    port = free_port()
    argv = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home.root), "--port", str(port),
            "--hold-timeout", "1"]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/healthz"):
        wait_for(lambda: index(port)[1], what="the table loaded")
        yield Admins(port, home, tokens["ann"], tokens["bob"])
    store.db.close()


def order(port: int, name: str, action: str, token: str | None, body: object = None,
          *, raw: bytes | None = None) -> tuple[int, Any, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    connection.request("POST", f"/v2/repository/models/{name}/{action}", headers=headers,
                       body=raw if raw is not None else json.dumps(body if body is not None else {}).encode())
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data), {k.lower(): v for k, v in response.getheaders()}


def orders(home: Home) -> list[dict[str, str]]:
    spool = home.model_orders_dir
    return [json.loads(path.read_text()) for path in sorted(spool.iterdir())] if spool.exists() else []


def test_only_an_admin_token_orders_and_every_refusal_reads_the_same(admins: Admins) -> None:
    refusals = [order(admins.port, "iris", action, token)
                for action in ("load", "unload") for token in (None, admins.author, "nst_made-up", admins.admin[:-1])]
    assert {status for status, _, _ in refusals} == {401}
    assert all(headers["www-authenticate"] == 'Bearer realm="neuroscale"' for _, _, headers in refusals)
    assert len({json.dumps(body) for _, body, _ in refusals[:4]}) == 1, "missing, an author's, wrong: one answer"
    assert refusals[0][1]["reason"] == "Unauthenticated" and "admin role" in refusals[0][1]["fix"]
    assert orders(admins.home) == [], "a refused order is never recorded"


def test_an_admin_order_is_recorded_for_the_engine_and_awaited(admins: Admins) -> None:
    status, body, _ = order(admins.port, "iris", "unload", admins.admin, {"parameters": {"unload_dependents": False}})
    assert status == 202, "nobody carries it out here: after the hold time, the order stands"
    assert body["state"] == "READY" and "not carried out within 1s" in body["error"]
    [recorded] = orders(admins.home)
    assert recorded["endpoint"] == "iris" and recorded["action"] == "unload" and recorded["by"] == "ann"
    [spooled] = admins.home.model_orders_dir.iterdir()
    assert stat.S_IMODE(spooled.stat().st_mode) == 0o600
    assert admins.admin not in spooled.read_text()

    with ThreadPoolExecutor(1) as pool:  # the "engine" answers while the gateway waits: 200 with the new state
        waiting = pool.submit(order, admins.port, "iris", "unload", admins.admin)
        wait_for(lambda: len(orders(admins.home)) == 2, what="the second order")
        write_routes(admins.home.routes_file, {**ROUTES, "iris": {
            "namespace": "default", "ready": False, "reason": "ModelUnloaded", "message": UNLOADED,
            "traffic": [{"revision": "iris-predictor-00002", "percent": 100, "upstreams": []}]}})
        status, body, _ = waiting.result(timeout=10)
    assert (status, body) == (200, {"name": "iris", "version": "iris-predictor-00002", "state": "UNAVAILABLE",
                                    "reason": UNLOADED})
    status, refused = call(admins.port, "POST", "/v2/models/iris/infer", {"inputs": []})
    assert status == 503 and refused["reason"] == "ModelUnloaded" and UNLOADED in refused["error"]


def test_orders_name_endpoints_on_main_and_take_no_model_config(admins: Admins) -> None:
    for name in ("nope", "iris-pr-3"):
        status, body, _ = order(admins.port, name, "unload", admins.admin)
        assert status == 404 and body["reason"] == "ModelNotFound" and "not an endpoint on main" in body["error"]
    for action, sent in (("load", {"parameters": {"config": "{}"}}), ("load", {"parameters": {"file:1/m": "AA=="}}),
                         ("unload", {"parameters": {"config": "{}"}}), ("unload", {"parameters": []})):
        status, body, _ = order(admins.port, "iris", action, admins.admin, sent)
        assert status == 400 and body["reason"] == "InvalidInput", (action, sent)
    status, body, _ = order(admins.port, "iris", "load", admins.admin, raw=b"{oops")
    assert status == 400 and "not JSON" in body["error"]
    assert orders(admins.home) == []
    status, body = call(admins.port, "POST", "/v2/repository/models/iris/reload", {})
    assert status == 404 and body["reason"] == "RouteNotFound"
    status, body = call(admins.port, "GET", "/v2/repository/models/iris/load")
    assert status == 405 and body["reason"] == "MethodNotAllowed"


def test_the_repository_is_refused_to_clients_on_other_machines(tmp_path: Path) -> None:
    table = RouteTable.from_document({"endpoints": ROUTES}, default_domain="localhost")
    repository = Repository(lambda: table, admins=AdminRing(None), orders=tmp_path, wait_s=1.0)

    def ask(path: bytes, *, local: bool) -> bytes:
        return asyncio.run(repository.answer(Request(method=b"POST", url=path, headers=[], body=b"{}",
                                                     keep_alive=True, host="127.0.0.1", local=local)))

    for path in (b"/v2/repository/index", b"/v2/repository/models/iris/unload"):
        assert ask(path, local=False).startswith(b"HTTP/1.1 403") and b"RepositoryNotExposed" in ask(path, local=False)
    assert ask(b"/v2/repository/index", local=True).startswith(b"HTTP/1.1 200")
    assert ask(b"/v2/repository/models/iris/unload", local=True).startswith(b"HTTP/1.1 401")
