"""`neuroscale endpoint key create|list|revoke`: API keys for endpoints that require them.

A key is printed once, alone on stdout (so `KEY=$(neuroscale endpoint key
create iris)` works), with how to use it on stderr; `list` shows ids,
descriptions and who made each key, never a key.
"""

from __future__ import annotations

import typer
from rich.console import Console

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table
from neuroscale.cli.pr import HOME_OPTION, open_platform
from neuroscale.services.api_keys import create_key, list_keys, revoke_key
from neuroscale.services.identity import cli_actor
from neuroscale.spec.extensions import REQUIRE_API_KEY

ENDPOINT_ARGUMENT = typer.Argument(..., help="Endpoint name.")


def _create(endpoint: str = ENDPOINT_ARGUMENT,
            description: str = typer.Option("", "--description", help="Who or what uses the key."),
            home: str | None = HOME_OPTION) -> None:
    """Create an API key for the endpoint and print it once."""
    from neuroscale.supervisor.settings import load_settings

    with open_platform(home) as ctx:
        created = create_key(ctx, endpoint, description=description, actor=cli_actor(ctx))
        gateway = load_settings(ctx.home).gateway_url
    err = Console(stderr=True, soft_wrap=True)  # a wrapped curl line would not paste
    err.print(f"API key {created.key.id} for endpoint [bold]{endpoint}[/] (shown once; store it now):", highlight=False)
    typer.echo(created.secret)
    err.print(f"use it as a bearer token (KEY=<the key above>):\n"
              f"  curl -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' -d @request.json "
              f"{gateway}/v1/models/{endpoint}:predict\n"
              f"  gRPC: metadata authorization: Bearer $KEY\n"
              f"revoke it with `neuroscale endpoint key revoke {endpoint} {created.key.id}`",
              highlight=False, markup=False)
    if not created.enforced:
        err.print(f"note: {endpoint} does not require API keys on main yet, so calls without a key are served "
                  f"until a change adding the annotation {REQUIRE_API_KEY}: \"true\" is merged",
                  highlight=False, markup=False)


def _list(endpoint: str = ENDPOINT_ARGUMENT, home: str | None = HOME_OPTION,
          output: OutputFormat = OUTPUT_OPTION) -> None:
    """The endpoint's API keys: id, description, created, created by (never the keys)."""
    with open_platform(home) as ctx:
        keys = list_keys(ctx, endpoint, actor=cli_actor(ctx))
    emit([key.to_dict() for key in keys], output, table=lambda: simple_table(
        f"API keys of {endpoint}", ("id", "description", "created", "created by"),
        [(key.id, key.description, key.created_at, key.created_by) for key in keys]))


def _revoke(endpoint: str = ENDPOINT_ARGUMENT, key_id: str = typer.Argument(..., help="Key id (from `key list`)."),
            home: str | None = HOME_OPTION) -> None:
    """Revoke an API key: the gateway refuses it within a moment, without a restart."""
    with open_platform(home) as ctx:
        key = revoke_key(ctx, endpoint, key_id, actor=cli_actor(ctx))
    typer.echo(f"revoked API key {key.id} of {endpoint}")


def keys_app() -> typer.Typer:
    app = typer.Typer(help="API keys for endpoints that require them (serving.neuroscale.io/require-api-key).",
                      no_args_is_help=True)
    app.command("create")(_create)
    app.command("list")(_list)
    app.command("revoke")(_revoke)
    return app
