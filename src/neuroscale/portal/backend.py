"""The portal's one door to the platform: services for writes, `StatusStore` for status.

Every call runs in a worker thread under one lock, because the services run
`git` subprocesses and share one SQLite connection; the event loop stays free
to answer other requests meanwhile. Results come back as camelCase plain data
(see `jsonable`), ready for JSON or for templates.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from starlette.concurrency import run_in_threadpool

from neuroscale.cost.prices import PriceTable
from neuroscale.engine.store import StatusStore
from neuroscale.errors import GitError, InvalidInput, NotFound
from neuroscale.gitops.provider import PullRequest
from neuroscale.jsonable import as_plain
from neuroscale.services import api_keys as key_service
from neuroscale.services import endpoints as endpoint_service
from neuroscale.services import identity as identity_service
from neuroscale.services import observe as observe_service
from neuroscale.services import usage as usage_service
from neuroscale.services import pulls as pull_service
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import ManifestEntry
from neuroscale.services.identity import Actor, Issued, OidcMapping, Resolved
from neuroscale.services.previews import preview_info
from neuroscale.services.review import review_of, review_rules
from neuroscale.services.usage import AllocationParams
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path
from neuroscale.status.model import EndpointStatus

P = ParamSpec("P")
T = TypeVar("T")
#: The bytes of changed files a pull request's page and API show at most (the files before and after).
SHOWN_CHANGE_BYTES = 1 << 20


class Backend:
    """Use cases the pages and the API share; each returns plain camelCase data."""

    def __init__(self, ctx: PlatformContext) -> None:
        self.ctx = ctx
        self.status = StatusStore(ctx.db)
        self._lock = threading.Lock()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one backend method off the event loop, one at a time."""

        def locked() -> T:
            with self._lock:
                return fn(*args, **kwargs)

        return await run_in_threadpool(locked)

    # -- who is asking ----------------------------------------------------------------------

    def actor_for_token(self, token: str) -> Actor:
        return identity_service.actor_for_token(self.ctx, token)

    def session(self, secret: str) -> Resolved | None:
        return identity_service.session(self.ctx, secret)

    def sign_in_with_link(self, secret: str) -> Issued:
        return identity_service.sign_in_with_link(self.ctx, secret)

    def sign_in_with_token(self, token: str) -> Issued:
        return identity_service.sign_in_with_token(self.ctx, token)

    def sign_in_with_oidc(self, claims: dict[str, Any], mapping: OidcMapping) -> Issued:
        return identity_service.sign_in_with_oidc(self.ctx, claims, mapping)

    def sign_out(self, secret: str) -> None:
        identity_service.sign_out(self.ctx, secret)

    # -- writes ---------------------------------------------------------------------------

    def create(self, data: dict[str, Any], *, actor: Actor) -> dict[str, Any]:
        spec = EndpointSpec.from_input(data, where="request body")
        return _plain(endpoint_service.create_endpoint(self.ctx, spec, actor=actor))

    def update(self, name: str, data: dict[str, Any], *, actor: Actor) -> dict[str, Any]:
        body_name = data.get("name")
        if body_name not in (None, "", name):
            raise InvalidInput(
                f"the body names endpoint {body_name!r} but the URL names {name!r}",
                where="name",
                fix="leave `name` out of the body or make it match the URL",
                details={"fields": [{"field": "name", "message": "must match the endpoint being updated"}]},
            )
        spec = EndpointSpec.from_input({**data, "name": name}, where="request body")
        return _plain(endpoint_service.update_endpoint(self.ctx, spec, actor=actor))

    def delete(self, name: str, *, actor: Actor) -> dict[str, Any]:
        return _plain(endpoint_service.delete_endpoint(self.ctx, name, actor=actor))

    def create_key(self, name: str, data: dict[str, Any], *, actor: Actor) -> dict[str, Any]:
        """A new API key, returned once in `key`, with whether main already asks for keys (`enforced`)."""
        description = data.get("description", "")
        if set(data) - {"description"} or not isinstance(description, str):
            raise InvalidInput("the body takes one optional string, `description`", where="request body",
                               fix='send {"description": "who uses the key"} or {}')
        created = key_service.create_key(self.ctx, name, description=description, actor=actor)
        return {**_plain(created.key), "key": created.secret, "enforced": created.enforced}

    def revoke_key(self, name: str, key_id: str, *, actor: Actor) -> dict[str, Any]:
        return _plain(key_service.revoke_key(self.ctx, name, key_id, actor=actor))

    def approve(self, number: int, *, actor: Actor, head_sha: str | None = None) -> dict[str, Any]:
        return self._with_review(pull_service.approve_pull_request(self.ctx, number, actor=actor, head_sha=head_sha))

    def merge(self, number: int, *, actor: Actor) -> dict[str, Any]:
        """Merge; while checks fail or approvals are missing the services raise `Conflict` saying which."""
        return self._with_review(pull_service.merge_pull_request(self.ctx, number, actor=actor))

    def close(self, number: int, *, actor: Actor) -> dict[str, Any]:
        return self._with_review(pull_service.close_pull_request(self.ctx, number, actor=actor))

    # -- reads ----------------------------------------------------------------------------

    def endpoints(self) -> list[dict[str, Any]]:
        """Every endpoint known to `main` (denied or invalid ones too) or to the engine, with spec and status."""
        on_main = {entry.name: entry for entry in endpoint_service.manifests_on_main(self.ctx)}
        statuses = {status.name: status for status in self.status.list_endpoints()}
        return [_endpoint_view(name, on_main.get(name), statuses.get(name)) for name in sorted({*on_main, *statuses})]

    def endpoint(self, name: str) -> dict[str, Any]:
        endpoint_service.validate_name(name)
        for entry in endpoint_service.manifests_on_main(self.ctx):
            if entry.name == name:
                return _endpoint_view(name, entry, self.status.get(name))
        status = self.status.get(name)
        if status is None:
            raise NotFound(f"no endpoint named {name!r}", where="endpoint",
                           fix="list endpoints with GET /api/endpoints or create one")
        return _endpoint_view(name, None, status)

    def keys(self, name: str, *, actor: Actor) -> list[dict[str, Any]]:
        return [_plain(key) for key in key_service.list_keys(self.ctx, name, actor=actor)]

    def proposed_spec(self, name: str) -> dict[str, Any]:
        """The endpoint as last proposed (its open pull request, else main), as form input."""
        return endpoint_service.current_values(self.ctx, name)

    def pulls(self, state: str | None = None) -> list[dict[str, Any]]:
        return [self._with_review(pull) for pull in pull_service.list_pull_requests(self.ctx, state=state)]

    def pull(self, number: int, *, actor: Actor) -> dict[str, Any]:
        """One pull request as `actor` reads it, with its review state, its preview and the manifest changes it carries."""
        pull = pull_service.show_pull_request(self.ctx, number, actor=actor)
        view = self._with_review(pull)
        preview = preview_info(self.ctx, pull) if self.ctx.provider.reviews_locally else None
        view["preview"] = _plain(preview) if preview else None
        view["files"] = self._files(view)
        return view

    def rules(self) -> dict[str, Any]:
        return _plain(review_rules(self.ctx))

    def _with_review(self, pull: PullRequest) -> dict[str, Any]:
        view = _plain(pull)
        view["review"] = _plain(review_of(self.ctx, pull)) if self.ctx.provider.reviews_locally else None
        return view

    def events(self, *, endpoint: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return [as_plain(event) for event in self.status.events(name=endpoint, limit=limit)]

    def event_page(self, *, endpoint: str | None, kind: str | None, since: str | None, until: str | None,
                   before: int | None, limit: int) -> dict[str, Any]:
        """One page of matching events, oldest first, and the id to ask for the page before it."""
        found = self.status.event_page(name=endpoint, kind=kind, since=since, until=until, before=before,
                                       limit=limit + 1)
        older = len(found) > limit
        page = found[1:] if older else found
        return {"events": [{**as_plain(event), "id": number} for number, event in page],
                "before": page[0][0] if older and page else None}

    def detail(self, name: str) -> dict[str, Any]:
        return _plain(observe_service.endpoint_detail(self.ctx, name))

    def rollback(self, name: str, *, actor: Actor) -> dict[str, Any]:
        return _plain(endpoint_service.rollback_endpoint(self.ctx, name, actor=actor))

    def series(self, name: str, window: str) -> list[dict[str, Any]]:
        return [as_plain(point) for point in usage_service.chart_series(self.ctx, name, window=window)]

    def allocation(self, params: AllocationParams) -> dict[str, Any]:
        return usage_service.showback(self.ctx, params, prices=PriceTable())

    def allocations(self, *views: AllocationParams) -> list[dict[str, Any]]:
        return usage_service.showbacks(self.ctx, views, prices=PriceTable())

    def _files(self, pull: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The endpoint's files before (base) and after (head) with a unified diff; None if gone.

        A push may put anything beside the manifest (a sample of 8 MiB, a model file): files are shown in
        path order while their bytes fit in what is left of `SHOWN_CHANGE_BYTES`; each other one is named
        with its size.
        """
        name = pull["endpoint"]
        prefix = manifest_path(name).rsplit("/", 1)[0] + "/"
        try:
            before = self.ctx.repo.read_files(pull["baseSha"], prefix)
            after = self.ctx.repo.read_files(pull["headSha"], prefix)
        except (GitError, NotFound):  # commits of a closed PR may be gone; the PR record still shows
            return None
        changes, budget = [], SHOWN_CHANGE_BYTES
        for path in sorted({*before, *after}):
            old, new = before.get(path), after.get(path)
            if old == new:
                continue
            size = len(old or b"") + len(new or b"")
            shown = size <= budget
            budget -= size if shown else 0
            changes.append(_file_change(path, old, new) if shown else _left_out(path, old, new, size))
        return changes


def _plain(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], as_plain(obj))


def _endpoint_view(name: str, entry: ManifestEntry | None, status: EndpointStatus | None) -> dict[str, Any]:
    """One endpoint for pages and the API; `refused` says main's manifest is denied or invalid (still editable)."""
    refusal = status.refusal if status is not None else None
    return {
        "name": name,
        "onMain": entry is not None,
        "spec": (entry.spec.to_input() if entry.spec is not None else entry.values) if entry is not None else None,
        "status": as_plain(status) if status is not None else None,
        "refused": {"reason": refusal.reason, "message": refusal.message} if refusal is not None else None,
        "invalid": entry.error if entry is not None else "",
    }


def _change_kind(before: bytes | None, after: bytes | None) -> str:
    return "added" if before is None else "deleted" if after is None else "modified"


def _file_change(path: str, before: bytes | None, after: bytes | None) -> dict[str, Any]:
    old = before.decode("utf-8", "replace") if before is not None else ""
    new = after.decode("utf-8", "replace") if after is not None else ""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), "/dev/null" if before is None else f"a/{path}",
                                "/dev/null" if after is None else f"b/{path}", lineterm="")
    return {"path": path, "change": _change_kind(before, after), "content": new, "diff": list(diff), "omitted": ""}


def _left_out(path: str, before: bytes | None, after: bytes | None, size: int) -> dict[str, Any]:
    where = "the head commit" if after is not None else "the base commit"
    return {"path": path, "change": _change_kind(before, after), "content": "", "diff": [],
            "omitted": f"not shown: {size:,} bytes, past the {SHOWN_CHANGE_BYTES >> 20} MiB of changes a pull request "
                       f"shows; read it with `git show <sha>:{path}` at {where}"}
