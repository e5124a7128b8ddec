"""The portal's trust boundary, applied to every request before any route runs.

Any web page the user opens can make their browser send requests to the
portal, and pages on another port of 127.0.0.1 are even *same-site*, so the
session cookie's `SameSite=Strict` alone does not stop them. In order:

1. Host: only the names this portal serves (loopback names and configured
   ones) are answered; anything else is DNS rebinding or a misrouted request
   (421). Starlette's `TrustedHostMiddleware` answers 400 and knows no
   loopback addresses, hence this check.
2. Origin: a request that changes state and names an origin (`Origin`, else
   `Referer`) must name this portal; `Origin: null` is refused too.
3. Credential: a bearer token (API, scripts) or the session cookie; only the
   sign-in pages, static files and `/healthz` are open.
4. Changes: the REST API takes them only with a bearer token, and only as
   `application/json`; pages take them with the session cookie only with the
   session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`)
   and an origin that proves the browser sent them from the portal's page.

Every answer also refuses to be framed (`X-Frame-Options`, CSP
`frame-ancestors`): a same-site page could otherwise show the signed-in portal
in an invisible frame and steer the user's own clicks onto Merge or Delete,
which no origin or CSRF check can tell from a real click (clickjacking).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neuroscale.errors import (
    Forbidden,
    MisdirectedRequest,
    NeuroScaleError,
    Unauthenticated,
    UnsupportedMediaType,
)
from neuroscale.hosts import WILDCARD_HOSTS, is_loopback_name
from neuroscale.portal.backend import Backend
from neuroscale.portal.http import error_response, wants_json
from neuroscale.services.identity import Actor

SESSION_COOKIE = "ns_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Reachable without a credential: signing in, the page styles and the supervisor's health probe.
OPEN_PATHS = frozenset({"/healthz", "/login", "/auth/oidc/start", "/auth/oidc/callback"})
OPEN_PREFIXES = ("/static/",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Sent with every answer: never inside another page's frame, never content-sniffed.
RESPONSE_HEADERS = ((b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"),
                    (b"x-content-type-options", b"nosniff"))


@dataclass(frozen=True)
class Identity:
    """Who sent a request and how they proved it."""

    actor: Actor
    via: str  # "bearer" or "session"
    csrf: str = ""
    session: str = ""


def served_hosts(*, bind_host: str, configured: Iterable[str]) -> frozenset[str]:
    """Names answered besides loopback: the configured ones and a specific (non-wildcard) bind address."""
    names = {name.strip().lower().strip("[]").rstrip(".") for name in configured if name.strip()}
    if bind_host not in WILDCARD_HOSTS:
        names.add(bind_host.lower().strip("[]"))
    return frozenset(names)


def _host_of(request: Request) -> str:
    raw = request.headers.get("host", "")
    try:
        parts = urlsplit(f"//{raw}")
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return ""
    return (parts.hostname or "").rstrip(".")


def check_host(request: Request, served: frozenset[str]) -> None:
    host = _host_of(request)
    if host and (is_loopback_name(host) or host in served):
        return
    shown = request.headers.get("host", "")[:100] or "(none)"
    raise MisdirectedRequest(f"this portal does not serve Host {shown!r}", where="Host",
                             fix="use the portal's own address (e.g. http://127.0.0.1:7010), or add the name with "
                                 "`neuroscale up --allowed-host NAME`")


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.rstrip("."), port or _DEFAULT_PORTS[scheme]


def check_origin(request: Request) -> bool:
    """Refuse a cross-origin change; True when the browser named the origin (Origin or Referer)."""
    claimed, header = request.headers.get("origin"), "Origin"
    if claimed is None:
        claimed, header = request.headers.get("referer"), "Referer"
    if claimed is None:
        return False
    own = _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")
    if own is None or _origin(claimed) != own:
        raise Forbidden(f"cross-site request refused: {header} {claimed[:100]!r} is not this portal", where=header,
                        fix="make changes from the portal's own pages, or call the REST API with a bearer token")
    return True


def check_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    has_body = request.headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in request.headers
    if media == "application/json" or (not media and not has_body):
        return
    raise UnsupportedMediaType(f"the REST API takes changes as application/json, not {media or 'an untyped body'}",
                               where="Content-Type", fix="send `Content-Type: application/json`")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`", where="Authorization",
                              fix="send `Authorization: Bearer <your personal token>`")
    return token.strip()


async def authenticate(request: Request, backend: Backend) -> Identity | None:
    token = _bearer(request)
    if token is not None:
        return Identity(await backend.run(backend.actor_for_token, token), via="bearer")
    cookie = request.cookies.get(SESSION_COOKIE, "")
    found = await backend.run(backend.session, cookie) if cookie else None
    if found is None:
        return None
    return Identity(found.user.actor, via="session", csrf=found.csrf, session=cookie)


def _csrf_matches(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _stale_form() -> Forbidden:
    return Forbidden("the form's CSRF token is missing or does not match your session", where=CSRF_FIELD,
                     fix="reload the page and submit it again")


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    chunks, messages = [], []
    while True:
        message = await receive()
        messages.append(message)
        chunks.append(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return b"".join(chunks), messages


async def check_csrf(request: Request, receive: Receive, expected: str) -> Receive:
    """Verify the session's CSRF token; returns a `receive` that replays the body already read."""
    if _csrf_matches(request.headers.get(CSRF_HEADER, ""), expected):
        return receive
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise _stale_form()
    body, messages = await _read_body(receive)
    given = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(CSRF_FIELD, [""])[0]
    if not _csrf_matches(given, expected):
        raise _stale_form()
    pending = [{"type": "http.request", "body": body, "more_body": False},
               *(m for m in messages if m["type"] != "http.request")]

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _sign_in_first(request: Request, exc: Unauthenticated) -> Response:
    if request.method == "GET" and not wants_json(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    response = error_response(request, status=exc.http_status, body=exc.to_dict())
    response.headers["WWW-Authenticate"] = 'Bearer realm="neuroscale"'
    return response


def _unframeable(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *RESPONSE_HEADERS]}
        await send(message)

    return sending


class Guard:
    """ASGI middleware: host, origin, credential and CSRF checks; sets `scope["user"]` and `scope["auth"]`."""

    def __init__(self, app: ASGIApp, *, served: frozenset[str]) -> None:
        self.app = app
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        send = _unframeable(send)
        try:
            receive = await self._admit(request, receive)
        except Unauthenticated as exc:
            await _sign_in_first(request, exc)(scope, receive, send)
            return
        except NeuroScaleError as exc:
            await error_response(request, status=exc.http_status, body=exc.to_dict())(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _admit(self, request: Request, receive: Receive) -> Receive:
        check_host(request, self.served)
        changes = request.method not in SAFE_METHODS
        named_origin = check_origin(request) if changes else False
        path = request.url.path
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return receive
        identity = await authenticate(request, request.app.state.backend)
        if identity is None:
            raise Unauthenticated("sign in first", where=path,
                                  fix="open the login link `neuroscale up` printed (or `neuroscale login-link`), "
                                      "or send `Authorization: Bearer <token>`")
        request.scope["user"] = identity.actor
        request.scope["auth"] = identity
        if not changes:
            return receive
        if wants_json(request):
            if identity.via != "bearer":
                raise Forbidden("changes through the REST API need a bearer token, not a browser session",
                                where="Authorization", fix="send `Authorization: Bearer <your personal token>`")
            check_json(request)
            return receive
        if identity.via == "bearer":
            return receive
        if not named_origin:
            raise Forbidden("a change from a browser session must carry an Origin or Referer header",
                            where="Origin", fix="submit the form from the portal's own page")
        return await check_csrf(request, receive, identity.csrf)


def identity_of(request: Request) -> Identity | None:
    found = request.scope.get("auth")
    return found if isinstance(found, Identity) else None
