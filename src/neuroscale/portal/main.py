"""`python -m neuroscale.portal --home HOME [--host] [--port]`: the portal process.

The platform home is opened before the port is bound, so a missing or broken
home is one clear line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import uvicorn

from neuroscale.errors import NeuroScaleError
from neuroscale.home import DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home
from neuroscale.portal.app import create_app
from neuroscale.portal.settings import DEFAULT_MAX_BODY_BYTES, PortalSettings
from neuroscale.services.context import PlatformContext


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m neuroscale.portal",
                                     description="NeuroScale portal: endpoint form, pull requests, REST API.")
    parser.add_argument("--home", default=None, help="platform home (default: $NEUROSCALE_HOME or ./.neuroscale)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORTAL_PORT, help=f"port (default {DEFAULT_PORTAL_PORT})")
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                        help="largest request body accepted (default %(default)s)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = PortalSettings(home=Home.resolve(args.home), host=args.host, port=args.port,
                              max_body_bytes=args.max_body_bytes)
    try:
        ctx = PlatformContext.open(settings.home)
    except NeuroScaleError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        config = uvicorn.Config(create_app(settings, context=ctx), host=settings.host, port=settings.port,
                                log_level="info", access_log=False, server_header=False)
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1
    finally:
        ctx.close()


def run() -> None:
    sys.exit(main())
