"""The Open Inference Protocol's model repository extension at the gateway: the index, and why no load/unload.

`POST /v2/repository/index` lists every endpoint as Triton and KServe list models: name, version (the
revision with the largest share of traffic), state and reason; a body `{"ready": true}` keeps the
ready ones. `READY` means a replica is running; a routed endpoint with none (scaled to zero, or
restarting) is `UNAVAILABLE` with that reason, since its next request starts one. Like `/metrics`,
the index names every endpoint, which a caller of one model has no business reading, so it is
served to clients on this machine only.

`POST /v2/repository/models/<name>/load` and `.../unload` are for admins in the protocol, and the
gateway knows no admin: its only credentials are per-endpoint API keys (`api_keys`). So both answer
403 saying what does load and unload models here — main (a merge loads, a removal unloads) and
scale to zero — and what would allow the calls (an admin credential at the gateway). Inside, the
shared runtime process does load and unload models (`neuroscale.serving.shared`), on orders from
the engine over a pipe only: an HTTP control port would let any local user unload models.
"""

from __future__ import annotations

import orjson

from neuroscale.gateway.http1 import Request, frame, json_response
from neuroscale.gateway.routes import Route, RouteTable

PREFIX = b"/v2/repository/"
_INDEX = "/v2/repository/index"
_MODELS = "/v2/repository/models/"
_ACTIONS = ("load", "unload")


def answer(request: Request, table: RouteTable) -> bytes:
    """The framed answer to a request whose path starts with `PREFIX`."""
    keep_alive, head_only = request.keep_alive, request.head_only
    path = request.url.split(b"?", 1)[0].decode("latin-1")
    name, _, action = path[len(_MODELS):].partition("/") if path.startswith(_MODELS) else ("", "", "")
    if path != _INDEX and not (name and action in _ACTIONS):
        return json_response(404, {"error": f"no repository path {path}", "reason": "RouteNotFound",
                                   "fix": f"POST {_INDEX}, or {_MODELS}<name>/load|unload"},
                             keep_alive=keep_alive, head_only=head_only)
    if request.method != b"POST":
        return frame(405, [(b"allow", b"POST"), (b"content-type", b"application/json")],
                     orjson.dumps({"error": f"{path} answers POST", "reason": "MethodNotAllowed"}),
                     keep_alive=keep_alive, head_only=head_only)
    if path == _INDEX:
        return _index(request, table)
    if name not in table.by_name:
        return json_response(404, {"error": f"model '{name}' not found", "reason": "ModelNotFound",
                                   "fix": f"list models with POST {_INDEX}"}, keep_alive=keep_alive)
    return json_response(403, {
        "error": f"{action}ing a model through the gateway is for admins, and the gateway has no admin credential "
                 "(its API keys are per endpoint)",
        "reason": "RepositoryControlNotAllowed",
        "fix": "models load when their pull request merges and unload when one removes them; minReplicas: 0 "
               "unloads an idle endpoint and its next request loads it again. An admin credential at the gateway "
               "would allow these calls",
    }, keep_alive=keep_alive)


def _index(request: Request, table: RouteTable) -> bytes:
    keep_alive = request.keep_alive
    if not request.local:
        return json_response(403, {"error": f"{_INDEX} is served to clients on this machine only",
                                   "reason": "RepositoryNotExposed",
                                   "fix": "ask from the gateway's machine, or use `neuroscale status`"},
                             keep_alive=keep_alive)
    try:
        body = orjson.loads(request.body) if request.body.strip() else {}
    except orjson.JSONDecodeError as exc:
        return json_response(400, {"error": f"the index request is not JSON: {exc}", "reason": "InvalidInput",
                                   "fix": 'send {} or {"ready": true}'}, keep_alive=keep_alive)
    ready_only = isinstance(body, dict) and body.get("ready") is True
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
