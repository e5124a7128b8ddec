"""Signing in and out of the portal: login links, personal tokens, OpenID Connect.

Why a "signed in" page instead of a plain redirect: the session cookie is
`SameSite=Strict`, and a browser withholds it from every request of a
redirect chain that began on another site (an identity provider, a chat
link). The page continues to the portal with a navigation of its own, which
is same-site, so the first page after signing in already sees the session.
"""

from __future__ import annotations

import warnings
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from neuroscale.errors import NeuroScaleError, Unauthenticated
from neuroscale.portal.guard import SESSION_COOKIE, identity_of
from neuroscale.portal.http import method_routes
from neuroscale.portal.pages import render
from neuroscale.portal.params import backend
from neuroscale.portal.settings import OidcSettings
from neuroscale.services.identity import SESSION_TTL_S, Issued, OidcMapping, parse_role

DEFAULT_TARGET = "/endpoints"


def safe_target(raw: str | None) -> str:
    """A path on this portal to continue to; anything else (other hosts, `//x`, `/\\x`) is ignored."""
    if not raw or not raw.startswith("/") or raw.startswith(("//", "/\\")) or any(c in raw for c in "\r\n\\"):
        return DEFAULT_TARGET
    return raw


def _login_page(request: Request, *, error: NeuroScaleError | None = None, target: str = DEFAULT_TARGET) -> Response:
    context = {"nav": "login", "error": error.to_dict() if error else None, "next": target,
               "oidc": request.app.state.oidc is not None}
    return render(request, "login.html", context, status=error.http_status if error else 200)


def _signed_in(request: Request, issued: Issued, target: str) -> Response:
    response = render(request, "signed_in.html", {"nav": "login", "signed_in_as": issued.user, "next": target})
    response.set_cookie(SESSION_COOKIE, issued.secret, max_age=int(SESSION_TTL_S), path="/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    response.headers["Cache-Control"] = "no-store"
    return response


async def login_page(request: Request) -> Response:
    """The sign-in form; with `?token=` (a one-time login link) signs in at once."""
    target = safe_target(request.query_params.get("next"))
    secret = request.query_params.get("token")
    if not secret:
        return _login_page(request, target=target)
    b = backend(request)
    try:
        issued = await b.run(b.sign_in_with_link, secret)
    except Unauthenticated as exc:
        return _login_page(request, error=exc, target=target)
    return _signed_in(request, issued, target)


async def login_with_token(request: Request) -> Response:
    form = await request.form()
    target = safe_target(str(form.get("next") or ""))
    b = backend(request)
    try:
        issued = await b.run(b.sign_in_with_token, str(form.get("token") or ""))
    except Unauthenticated as exc:
        return _login_page(request, error=exc, target=target)
    return _signed_in(request, issued, target)


async def logout(request: Request) -> Response:
    identity = identity_of(request)
    if identity is not None and identity.session:
        b = backend(request)
        await b.run(b.sign_out, identity.session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


# -- OpenID Connect -------------------------------------------------------------------------


def oidc_client(settings: OidcSettings) -> Any:
    """An Authlib client for the provider (discovery, PKCE, state, nonce and ID-token checks are Authlib's)."""
    with warnings.catch_warnings():  # Authlib warns at import that it prefers httpx2 over httpx
        warnings.simplefilter("ignore")
        from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register("provider", client_id=settings.client_id, client_secret=settings.client_secret or None,
                   server_metadata_url=settings.metadata_url,
                   client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"})
    return oauth.create_client("provider")


def oidc_mapping(settings: OidcSettings) -> OidcMapping:
    role = parse_role(settings.default_role, where="--oidc-default-role") if settings.default_role else None
    return OidcMapping(username_claim=settings.username_claim, default_role=role)


def _oidc_off(request: Request) -> Response | None:
    if request.app.state.oidc is None:
        return _login_page(request, error=Unauthenticated(
            "sign-in through an identity provider is not configured", where="OpenID Connect",
            fix="sign in with a login link or a personal token, or start with `neuroscale up --oidc-issuer ...`"))
    return None


async def oidc_start(request: Request) -> Response:
    off = _oidc_off(request)
    if off is not None:
        return off
    request.session["next"] = safe_target(request.query_params.get("next"))
    redirect: Response = await request.app.state.oidc.authorize_redirect(request, str(request.url_for("oidc_callback")))
    return redirect


async def oidc_callback(request: Request) -> Response:
    off = _oidc_off(request)
    if off is not None:
        return off
    from authlib.integrations.base_client import OAuthError

    target = safe_target(request.session.pop("next", None))
    try:
        token = await request.app.state.oidc.authorize_access_token(request)
    except OAuthError as exc:
        return _login_page(request, target=target, error=Unauthenticated(
            f"the identity provider's answer was refused: {exc.error}", where="OpenID Connect",
            fix="sign in again; if it keeps failing, check the client id, secret and redirect URL"))
    claims = dict(token.get("userinfo") or {})
    b = backend(request)
    try:
        issued = await b.run(b.sign_in_with_oidc, claims, request.app.state.oidc_mapping)
    except NeuroScaleError as exc:
        return _login_page(request, error=exc, target=target)
    return _signed_in(request, issued, target)


def routes() -> list[BaseRoute]:
    return method_routes([
        ("/login", "GET", login_page),
        ("/login", "POST", login_with_token),
        ("/logout", "POST", logout),
        ("/auth/oidc/start", "GET", oidc_start),
        ("/auth/oidc/callback", "GET", oidc_callback),
    ])
