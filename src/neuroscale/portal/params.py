"""Reading what a request names: the backend, the signed-in actor, path numbers and query integers, checked."""

from __future__ import annotations

from starlette.requests import Request

from neuroscale.errors import InvalidInput, NotFound, Unauthenticated
from neuroscale.portal.backend import Backend
from neuroscale.services.identity import Actor

#: Pull-request numbers are SQLite integers; larger ones cannot exist.
MAX_PULL_NUMBER = 2**63 - 1


def backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
    return found


def actor(request: Request) -> Actor:
    """Who sent the request, as the guard established it (every route but sign-in is behind it)."""
    found = request.scope.get("user")
    if not isinstance(found, Actor):
        raise Unauthenticated("sign in first", where=request.url.path, fix="open the portal's login page")
    return found


def pull_number(request: Request) -> int:
    number: int = request.path_params["number"]
    if number > MAX_PULL_NUMBER:
        raise NotFound(f"pull request #{number} not found", where="number", fix="list pull requests with GET /api/pulls")
    return number


def int_query(request: Request, key: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"{key}={raw!r} is not a whole number between {low} and {high}", where=key,
                           fix=f"pass ?{key}=<{low}..{high}>")
    return int(raw)
