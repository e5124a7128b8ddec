"""The Open Inference Protocol's model repository extension at the gateway: the index, and load/unload for admins.

`POST /v2/repository/index` lists every endpoint as Triton and KServe list models: name, version (the
revision with the largest share of traffic), state and reason; a body `{"ready": true}` keeps the
ready ones. `READY` means a replica is running; a routed endpoint with none (scaled to zero, or
restarting) is `UNAVAILABLE` with that reason, since its next request starts one. Like `/metrics`,
the index names every endpoint, which a caller of one model has no business reading, so it is
served to clients on this machine only; so are load and unload.

`POST /v2/repository/models/<name>/load` and `.../unload` are for admins, as the protocol has them:
they need `Authorization: Bearer <token>` with the personal token of a user whose role may
administer (`admins`); no token, or any other (an author's, an API key), gets the same 401. The
gateway decides nothing here: it records the admin's order for the engine (`neuroscale.model_orders`)
and waits, at most its hold time, for the engine's routes to show it carried out.

* `unload` stops the endpoint's replicas now (the gateway stops routing to them; they finish what
  they serve and exit) and keeps it unloaded: its requests get the V2 "model not ready" answer, 503
  `ModelUnloaded` saying which admin unloaded it and how to load it, and the index shows it
  `UNAVAILABLE` with that reason. The answer is 200 once the gateway no longer routes to a replica.
* `load` starts a replica (of an unloaded endpoint, or of one scaled to zero) and answers 200 once it
  is ready.
* When the hold time passes first, the answer is 202 with the endpoint's state: the order stands.
* Only endpoints on main: an unknown name or a pull request's preview is 404.
* The engine keeps the unloaded state in its database, so it survives restarts of the gateway and of
  the engine; a merge of a new revision while unloaded keeps the endpoint unloaded (the new revision
  starts when an admin loads it); deleting the endpoint from main forgets it. Each change is an event
  of the endpoint, `ModelUnloaded` or `ModelLoaded`, naming the admin.
* The body may be empty or carry the `parameters` tritonclient sends with unload (`unload_dependents`:
  there are no dependent models here). Triton's load `config` and model files are refused (400): what
  a model is comes from its InferenceService on main.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from neuroscale.gateway.admins import AdminRing
from neuroscale.gateway.api_keys import authorization, challenge
from neuroscale.gateway.http1 import Request, frame, json_response
from neuroscale.gateway.routes import Route, RouteTable
from neuroscale.model_orders import Action, Order, submit
from neuroscale.requestpath import BadPath, request_path
from neuroscale.status.reasons import Reason

PREFIX = b"/v2/repository/"
_INDEX = "/v2/repository/index"
_MODELS = "/v2/repository/models/"
#: How often a load or unload looks at the routes while it waits (the gateway reloads them every 20 ms).
POLL_S = 0.02
#: Parameters of each order that are accepted (and have nothing to do here).
_ACCEPTED = {Action.load: frozenset[str](), Action.unload: frozenset({"unload_dependents"})}


class Repository:
    """Answers every request whose path starts with `PREFIX`."""

    def __init__(self, table_source: Callable[[], RouteTable], *, admins: AdminRing, orders: Path | None,
                 wait_s: float) -> None:
        self.table_source = table_source
        self.admins = admins
        self.orders = orders  # where orders are recorded; None: nobody may give one (every load/unload is 401)
        self.wait_s = wait_s

    async def answer(self, request: Request) -> bytes:
        keep_alive, head_only = request.keep_alive, request.head_only
        try:
            path = request_path(request.url)
        except BadPath as exc:
            return json_response(exc.http_status, exc.to_dict(), keep_alive=keep_alive, head_only=head_only)
        name, _, action = path[len(_MODELS):].partition("/") if path.startswith(_MODELS) else ("", "", "")
        if path != _INDEX and not (name and action in Action.__members__):
            return json_response(404, {"error": f"no repository path {path}", "reason": "RouteNotFound",
                                       "fix": f"POST {_INDEX}, or {_MODELS}<name>/load|unload"},
                                 keep_alive=keep_alive, head_only=head_only)
        if request.method != b"POST":
            return frame(405, [(b"allow", b"POST"), (b"content-type", b"application/json")],
                         orjson.dumps({"error": f"{path} answers POST", "reason": "MethodNotAllowed"}),
                         keep_alive=keep_alive, head_only=head_only)
        if not request.local:
            return json_response(403, {"error": f"{path} is served to clients on this machine only",
                                       "reason": "RepositoryNotExposed",
                                       "fix": "ask from the gateway's machine, or use `neuroscale status`"},
                                 keep_alive=keep_alive)
        if path == _INDEX:
            return _index(request, self.table_source())
        return await self._order(request, name, Action(action))

    async def _order(self, request: Request, name: str, action: Action) -> bytes:
        keep_alive = request.keep_alive
        admin = self.admins.admin(authorization(request.headers))
        if admin is None or self.orders is None:
            return challenge({
                "error": f"{action}ing a model is for admins: send an admin's token",
                "reason": "Unauthenticated",
                "fix": "send `Authorization: Bearer <token>` with the personal token of a user with the admin role "
                       "(on the gateway's machine, the home's admin.token)"}, keep_alive=keep_alive)
        route = self.table_source().by_name.get(name)
        if route is None or route.preview:
            return _not_on_main(name, keep_alive=keep_alive)
        problem = _parameters_problem(request.body, action)
        if problem:
            return json_response(400, {"error": problem, "reason": "InvalidInput",
                                       "fix": "send {} (what a model is comes from its InferenceService on main)"},
                                 keep_alive=keep_alive)
        submit(self.orders, Order(name, action, admin, datetime.now(UTC).isoformat(timespec="seconds")))
        done = _unloaded if action is Action.unload else _loaded
        deadline = asyncio.get_running_loop().time() + self.wait_s
        while not done(route):
            if asyncio.get_running_loop().time() >= deadline:
                return json_response(202, {
                    **_entry(route),
                    "error": f"the order to {action} model '{name}' stands, but it was not carried out within "
                             f"{self.wait_s:g}s",
                    "fix": f"watch it with POST {_INDEX} or `neuroscale status {name}`; is the platform running?"},
                    keep_alive=keep_alive)
            await asyncio.sleep(POLL_S)
            found = self.table_source().by_name.get(name)
            if found is None:  # deleted from main meanwhile
                return _not_on_main(name, keep_alive=keep_alive)
            route = found
        return json_response(200, {**_entry(route)}, keep_alive=keep_alive)


def _not_on_main(name: str, *, keep_alive: bool) -> bytes:
    return json_response(404, {"error": f"model '{name}' is not an endpoint on main", "reason": "ModelNotFound",
                               "fix": f"list models with POST {_INDEX}; a pull request's preview is not loaded "
                                      "or unloaded here"}, keep_alive=keep_alive)


def _body(raw: bytes) -> dict[str, object] | str:
    """The request's JSON object (an empty body is `{}`), or what is wrong with it."""
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        return f"the request is not JSON: {exc}"
    return body if isinstance(body, dict) else "the request is not a JSON object"


def _parameters_problem(raw: bytes, action: Action) -> str:
    body = _body(raw)
    if isinstance(body, str):
        return body
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        return "`parameters` is not an object"
    refused = sorted(set(parameters) - _ACCEPTED[action])
    return f"{action} does not take the parameters {', '.join(refused)} here" if refused else ""


def _unloaded(route: Route) -> bool:
    return route.reason == Reason.ModelUnloaded and not any(revision.upstreams for revision in route.revisions)


def _loaded(route: Route) -> bool:
    return _entry(route)["state"] == "READY"


def _index(request: Request, table: RouteTable) -> bytes:
    keep_alive = request.keep_alive
    body = _body(request.body)
    if isinstance(body, str):
        return json_response(400, {"error": body, "reason": "InvalidInput", "fix": 'send {} or {"ready": true}'},
                             keep_alive=keep_alive)
    ready_only = body.get("ready") is True
    entries = (_entry(route) for route in sorted(table.by_name.values(), key=lambda r: r.name))
    models = [entry for entry in entries if not ready_only or entry["state"] == "READY"]
    return frame(200, [(b"content-type", b"application/json")], orjson.dumps(models), keep_alive=keep_alive)


def _entry(route: Route) -> dict[str, str]:
    running = any(revision.upstreams for revision in route.revisions if revision.percent)
    if route.ready and running:
        return {"name": route.name, "version": route.revision, "state": "READY", "reason": ""}
    reason = ("no replica running (scaled to zero, or restarting): the next request starts one" if route.ready
              else route.message or route.reason or "not ready")
    return {"name": route.name, "version": route.revision, "state": "UNAVAILABLE", "reason": reason}
