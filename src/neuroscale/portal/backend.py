"""The portal's one door to the platform: services for writes, `StatusStore` for status.

Every call runs in a worker thread under one lock, because the services run
`git` subprocesses and share one SQLite connection; the event loop stays free
to answer other requests meanwhile. Results come back as camelCase plain data
(see `jsonable`), ready for JSON or for templates.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from starlette.concurrency import run_in_threadpool

from neuroscale.engine.store import StatusStore
from neuroscale.errors import Conflict, GitError, InvalidInput, NotFound
from neuroscale.portal.jsonable import as_plain
from neuroscale.services import endpoints as endpoint_service
from neuroscale.services import pulls as pull_service
from neuroscale.services.context import Author, PlatformContext
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import DNS1123_LABEL, FIELDS_BY_KEY
from neuroscale.spec.manifest import manifest_path

P = ParamSpec("P")
T = TypeVar("T")
PULL_STATES = ("open", "merged", "closed")
_NAME = FIELDS_BY_KEY["name"]
MAX_NAME_LENGTH = 63  # DNS-1123 label


class Backend:
    """Use cases the pages and the API share; each returns plain camelCase data."""

    def __init__(self, ctx: PlatformContext, *, author: Author) -> None:
        self.ctx = ctx
        self.author = author
        self.status = StatusStore(ctx.db)
        self._lock = threading.Lock()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one backend method off the event loop, one at a time."""
        return await run_in_threadpool(self._locked, fn, *args, **kwargs)

    def _locked(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self._lock:
            return fn(*args, **kwargs)

    # -- writes ---------------------------------------------------------------------------

    def create(self, data: dict[str, Any]) -> dict[str, Any]:
        spec = EndpointSpec.from_input(data, where="request body")
        return _plain(endpoint_service.create_endpoint(self.ctx, spec, author=self.author))

    def update(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        body_name = data.get("name")
        if body_name not in (None, "", name):
            raise InvalidInput(
                f"the body names endpoint {body_name!r} but the URL names {name!r}",
                where="name",
                fix="leave `name` out of the body or make it match the URL",
                details={"fields": [{"field": "name", "message": "must match the endpoint being updated"}]},
            )
        spec = EndpointSpec.from_input({**data, "name": name}, where="request body")
        return _plain(endpoint_service.update_endpoint(self.ctx, spec, author=self.author))

    def delete(self, name: str) -> dict[str, Any]:
        _check_name(name)
        return _plain(endpoint_service.delete_endpoint(self.ctx, name, author=self.author))

    def merge(self, number: int) -> dict[str, Any]:
        try:
            pull = pull_service.merge_pull_request(self.ctx, number, author=self.author)
        except Conflict as exc:
            if "checks" not in exc.details:
                current = _plain(pull_service.get_pull_request(self.ctx, number))
                exc.details["checks"] = [c for c in current.get("checks", []) if c.get("status") != "pass"]
            raise
        return _plain(pull)

    def close(self, number: int) -> dict[str, Any]:
        return _plain(pull_service.close_pull_request(self.ctx, number))

    # -- reads ----------------------------------------------------------------------------

    def endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint known to `main` or to the engine, with its spec and status."""
        specs = {spec.name: spec for spec in endpoint_service.list_endpoints_on_main(self.ctx)}
        statuses = {status.name: status for status in self.status.list_endpoints()}
        return [_endpoint_view(name, specs.get(name), statuses.get(name)) for name in sorted({*specs, *statuses})]

    def endpoint(self, name: str) -> dict[str, Any]:
        _check_name(name)
        for spec in endpoint_service.list_endpoints_on_main(self.ctx):
            if spec.name == name:
                return _endpoint_view(name, spec, self.status.get(name))
        status = self.status.get(name)
        if status is None:
            raise NotFound(f"no endpoint named {name!r}", where="endpoint",
                           fix="list endpoints with GET /api/endpoints or create one")
        return _endpoint_view(name, None, status)

    def pulls(self, state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in PULL_STATES:
            raise InvalidInput(f"unknown pull request state {state!r}", where="state",
                               fix=f"use one of {', '.join(PULL_STATES)}")
        return [_plain(pull) for pull in pull_service.list_pull_requests(self.ctx, state=state)]

    def pull(self, number: int) -> dict[str, Any]:
        """One pull request with the manifest changes it carries."""
        view = _plain(pull_service.get_pull_request(self.ctx, number))
        view["files"] = self._files(view)
        return view

    def events(self, *, endpoint: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return [as_plain(event) for event in self.status.events(name=endpoint, limit=limit)]

    def _files(self, pull: dict[str, Any]) -> list[dict[str, Any]]:
        """The endpoint's files before (base) and after (head), with a unified diff."""
        name = pull_endpoint(pull)
        if not name or not pull.get("headSha"):
            return []
        prefix = manifest_path(name).rsplit("/", 1)[0] + "/"
        try:
            before = self.ctx.repo.read_files(pull["baseSha"], prefix) if pull.get("baseSha") else {}
            after = self.ctx.repo.read_files(pull["headSha"], prefix)
        except GitError:  # the branch of a closed PR may be gone; the PR record still shows
            return []
        return [_file_change(path, before.get(path), after.get(path)) for path in sorted({*before, *after})
                if before.get(path) != after.get(path)]


def pull_endpoint(pull: dict[str, Any]) -> str:
    """The endpoint a pull request is about."""
    return str(pull.get("endpoint") or "")


def _check_name(name: str) -> None:
    """Names from URLs get the same DNS-1123 check as names in a spec."""
    if len(name) > MAX_NAME_LENGTH or not re.match(DNS1123_LABEL, name):
        raise InvalidInput(f"{name[:70]!r} is not a valid endpoint name", where="name", fix=_NAME.description)


def _plain(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], as_plain(obj))


def _endpoint_view(name: str, spec: EndpointSpec | None, status: Any) -> dict[str, Any]:
    return {
        "name": name,
        "onMain": spec is not None,
        "spec": spec.to_input() if spec is not None else None,
        "status": as_plain(status) if status is not None else None,
    }


def _file_change(path: str, before: bytes | None, after: bytes | None) -> dict[str, Any]:
    old = before.decode("utf-8", "replace") if before is not None else ""
    new = after.decode("utf-8", "replace") if after is not None else ""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), f"a/{path}", f"b/{path}", lineterm="")
    change = "added" if before is None else "deleted" if after is None else "modified"
    return {"path": path, "change": change, "content": new, "diff": list(diff)}
