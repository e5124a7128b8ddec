"""`python -m neuroscale.portal --home HOME [--host] [--port]`: the portal process.

The platform home is opened before the port is bound, so a missing or broken
home is one clear line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import uvicorn

from neuroscale.errors import NeuroScaleError
from neuroscale.home import DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home
from neuroscale.portal.app import create_app
from neuroscale.portal.settings import DEFAULT_MAX_BODY_BYTES, OIDC_SECRET_ENV, OidcSettings, PortalSettings
from neuroscale.portal.signin import oidc_mapping
from neuroscale.services.context import PlatformContext


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m neuroscale.portal",
                                     description="NeuroScale portal: endpoint form, pull requests, REST API.")
    parser.add_argument("--home", default=None, help="platform home (default: $NEUROSCALE_HOME or ./.neuroscale)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORTAL_PORT, help=f"port (default {DEFAULT_PORTAL_PORT})")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="largest request body accepted (default %(default)s)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a Host name to answer besides loopback ones (repeatable)")
    parser.add_argument("--tls-cert", default="", help="PEM certificate: serve HTTPS")
    parser.add_argument("--tls-key", default="", help="PEM private key of --tls-cert")
    parser.add_argument("--oidc-issuer", default="", help="OpenID Connect issuer URL: offer sign-in through it")
    parser.add_argument("--oidc-client-id", default="", help="client id registered at the issuer")
    parser.add_argument("--oidc-username-claim", default="preferred_username",
                        help="ID-token claim naming the NeuroScale user (default %(default)s)")
    parser.add_argument("--oidc-default-role", default="",
                        help="role for people signing in for the first time (default: refuse until added)")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> PortalSettings:
    oidc = None
    if args.oidc_issuer:
        oidc = OidcSettings(issuer=args.oidc_issuer, client_id=args.oidc_client_id,
                            client_secret=os.environ.get(OIDC_SECRET_ENV, ""),
                            username_claim=args.oidc_username_claim, default_role=args.oidc_default_role)
    return PortalSettings(home=Home.resolve(args.home), host=args.host, port=args.port,
                          max_body_bytes=args.max_body_bytes, allowed_hosts=tuple(args.allowed_host),
                          tls_cert=args.tls_cert, tls_key=args.tls_key, oidc=oidc)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    try:
        if settings.oidc is not None:
            oidc_mapping(settings.oidc)  # an unknown --oidc-default-role is one clear line, before binding
        ctx = PlatformContext.open(settings.home)
    except NeuroScaleError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        app = create_app(settings, context=ctx)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info", access_log=False,
                                server_header=False, ssl_certfile=settings.tls_cert or None,
                                ssl_keyfile=settings.tls_key or None)
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1
    finally:
        ctx.close()


def run() -> None:
    sys.exit(main())
