"""Reading what a request names: the backend, path numbers and query integers, checked."""

from __future__ import annotations

from starlette.requests import Request

from neuroscale.errors import InvalidInput, NotFound
from neuroscale.portal.backend import Backend

#: Pull-request numbers are SQLite integers; larger ones cannot exist.
MAX_PULL_NUMBER = 2**63 - 1


def backend(request: Request) -> Backend:
    found: Backend = request.app.state.backend
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
