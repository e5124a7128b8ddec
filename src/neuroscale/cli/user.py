"""`neuroscale user add|list|remove|token` and `neuroscale login-link`: who may use the platform.

Tokens are printed once, when issued, and never again (only their hash is
stored). The commands act as the signed-in CLI user: `NEUROSCALE_TOKEN`, else
the home's admin credential.
"""

from __future__ import annotations

import typer
from rich.console import Console

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table
from neuroscale.cli.pr import HOME_OPTION, open_platform
from neuroscale.services.identity import (
    Role,
    add_user,
    cli_actor,
    issue_login_link,
    issue_token,
    list_users,
    parse_role,
    remove_user,
)

_ROLES = ", ".join(role.value for role in Role)


def _show_token(name: str, token: str) -> None:
    err = Console(stderr=True)
    err.print(f"personal token for [bold]{name}[/] (shown once; store it now):", highlight=False)
    typer.echo(token)
    err.print("use it as `Authorization: Bearer <token>` with the REST API, as NEUROSCALE_TOKEN with the CLI, "
              "or paste it on the portal's sign-in page", highlight=False)


def register(app: typer.Typer) -> None:
    user_app = typer.Typer(help="Users, roles and personal tokens (admins).", no_args_is_help=True)
    app.add_typer(user_app, name="user")

    @user_app.command("add")
    def add(name: str = typer.Argument(..., help="User name (lowercase)."),
            role: str = typer.Option(..., "--role", help=f"One of {_ROLES}."),
            email: str = typer.Option("", "--email", help="Commit e-mail for their changes."),
            home: str | None = HOME_OPTION) -> None:
        """Add a user and print their personal token once."""
        with open_platform(home) as ctx:
            user, token = add_user(ctx, name, parse_role(role, where="--role"), email=email, actor=cli_actor(ctx))
        _show_token(user.name, token)

    @user_app.command("token")
    def token(name: str = typer.Argument(..., help="User name."), home: str | None = HOME_OPTION) -> None:
        """Issue another personal token (your own, or anyone's as an admin); earlier tokens stay valid."""
        with open_platform(home) as ctx:
            _show_token(name, issue_token(ctx, name, actor=cli_actor(ctx)))

    @user_app.command("list")
    def list_(home: str | None = HOME_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
        """Users with their role and how many personal tokens they hold."""
        with open_platform(home) as ctx:
            views = list_users(ctx, actor=cli_actor(ctx))
        rows = [(v.user.name, v.user.role, v.user.email, v.tokens, v.user.created_at, v.user.created_by)
                for v in views]
        emit([v.to_dict() for v in views], output, table=lambda: simple_table(
            "Users", ("name", "role", "email", "tokens", "created", "by"), rows))

    @user_app.command("remove")
    def remove(name: str = typer.Argument(..., help="User name."), home: str | None = HOME_OPTION) -> None:
        """Remove a user; their tokens and sessions stop working at once."""
        with open_platform(home) as ctx:
            remove_user(ctx, name, actor=cli_actor(ctx))
        typer.echo(f"removed {name}")

    @app.command("login-link")
    def login_link(home: str | None = HOME_OPTION) -> None:
        """Print a one-time link that signs you in to the portal (as the CLI's user)."""
        from neuroscale.supervisor.settings import load_settings

        with open_platform(home) as ctx:
            secret = issue_login_link(ctx, actor=cli_actor(ctx))
            url = load_settings(ctx.home).portal_url
        typer.echo(f"{url}/login?token={secret}")
