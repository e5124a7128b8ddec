"""`create_app(settings)`: assemble the portal's routes, templates, trust checks, limits and error mapping.

Nothing happens at import; the platform context is opened when the app starts
(or handed in by the caller, as `main` does to report a missing home cleanly).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import secrets
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from neuroscale.errors import NeuroScaleError
from neuroscale.portal import api, observe_pages, pages, signin
from neuroscale.portal.backend import Backend
from neuroscale.portal.guard import Guard, identity_of, served_hosts
from neuroscale.portal.http import BodyLimit, on_http_error, on_neuroscale_error, on_unexpected
from neuroscale.portal.settings import PortalSettings
from neuroscale.services.context import PlatformContext

#: How long a browser may take at the identity provider before the sign-in's state expires.
OIDC_STATE_TTL_S = 600


def when(value: object) -> str:
    """A timestamp (ISO text or epoch seconds) as `YYYY-MM-DD HH:MM:SS UTC`."""
    if isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        return ""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def short(sha: object) -> str:
    return str(sha or "")[:10]


def _request_context(request: Request) -> dict[str, Any]:
    """What every page shows about who is signed in, and the CSRF token its forms carry."""
    identity = identity_of(request)
    return {"me": identity.actor if identity else None,
            "csrf_token": identity.csrf if identity and identity.via == "session" else ""}


def build_templates() -> Jinja2Templates:
    env = Environment(loader=PackageLoader("neuroscale.portal", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["short"] = short
    return Jinja2Templates(env=env, context_processors=[_request_context])


def _middleware(settings: PortalSettings) -> list[Middleware]:
    served = served_hosts(bind_host=settings.host, configured=settings.allowed_hosts)
    stack = [Middleware(BodyLimit, max_bytes=settings.max_body_bytes), Middleware(Guard, served=served)]
    if settings.oidc is not None:  # Authlib keeps the sign-in's state, nonce and PKCE verifier here
        stack.append(Middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(32), session_cookie="ns_oidc",
                                max_age=OIDC_STATE_TTL_S, same_site="lax", https_only=settings.tls))
    return stack


def create_app(settings: PortalSettings, *, context: PlatformContext | None = None) -> Starlette:
    """The portal ASGI app; opens `settings.home` on startup unless `context` is given."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx = context or PlatformContext.open(settings.home)
        app.state.backend = Backend(ctx)
        try:
            yield
        finally:
            if context is None:
                ctx.close()

    app = Starlette(
        routes=[
            *api.routes(),
            *signin.routes(),
            *pages.routes(),
            *observe_pages.page_routes(),
            Mount("/static", StaticFiles(packages=[("neuroscale.portal", "static")]), name="static"),
        ],
        middleware=_middleware(settings),
        exception_handlers={
            NeuroScaleError: on_neuroscale_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.templates = build_templates()
    app.state.oidc = signin.oidc_client(settings.oidc) if settings.oidc else None
    app.state.oidc_mapping = signin.oidc_mapping(settings.oidc) if settings.oidc else None
    return app
