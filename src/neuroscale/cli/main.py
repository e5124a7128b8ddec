"""The `neuroscale` command: a root that only assembles sub-commands.

Each command module exposes `register(app)`. Errors are mapped to messages
and exit codes here and nowhere else, so no user ever sees a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click
import typer
import typer.main
from typer.core import TyperGroup
if TYPE_CHECKING:
    from rich.console import Console

from neuroscale.cli.lazy import LazyCommands
from neuroscale.errors import NeuroScaleError

#: Every top-level command and group, with the module whose `register(app)` adds it, in `--help` order.
COMMANDS: dict[str, str] = {
    **dict.fromkeys(("up", "down", "status", "events", "demo"), "neuroscale.cli.platform"),
    "logs": "neuroscale.cli.observe",
    "cost": "neuroscale.cli.observe",
    "login-link": "neuroscale.cli.user",
    "check": "neuroscale.cli.check",
    "prediction-diff": "neuroscale.cli.diff",
    "doctor": "neuroscale.cli.doctor",
    "init": "neuroscale.cli.init",
    "smoke": "neuroscale.cli.cluster",
    "endpoint": "neuroscale.cli.endpoint",
    "pr": "neuroscale.cli.pr",
    "user": "neuroscale.cli.user",
    "crds": "neuroscale.cli.crds",
    "policy": "neuroscale.cli.policy",
    "cluster": "neuroscale.cli.cluster",
}


def create_app() -> TyperGroup:
    """The root group; a command's module is imported only when that command is looked up."""
    app = typer.Typer(
        name="neuroscale",
        help="Self-service model serving: describe an endpoint, get a pull request, checks and a live endpoint.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    group = typer.main.get_group(app)
    group.commands = LazyCommands(COMMANDS)
    return group


def _json_error(body: dict[str, object]) -> None:
    sys.stderr.write(json.dumps(body, indent=2) + "\n")


def requested_format(argv: Sequence[str]) -> str | None:
    """The `-o`/`--output` value on a command line, if any (read before parsing, for error output)."""
    for index, arg in enumerate(argv):
        for flag in ("-o", "--output"):
            if arg == flag and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(flag + "=") or (flag == "-o" and arg.startswith("-o") and len(arg) > 2):
                return arg.split("=", 1)[1] if "=" in arg else arg[2:]
    return None


def _stderr() -> Console:
    """The error console, made only when there is an error to print (rich is not needed otherwise)."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)  # errors are copied into tickets and logs: never wrap them


def main(argv: list[str] | None = None) -> int:
    as_json = requested_format(sys.argv[1:] if argv is None else argv) == "json"
    app = create_app()
    try:
        result = app.main(args=argv, prog_name="neuroscale", standalone_mode=False)
    except NeuroScaleError as exc:
        if as_json:
            _json_error(exc.to_dict())
            return exc.exit_code
        from rich.markup import escape

        err = _stderr()
        err.print(f"[bold red]error[/]: {escape(exc.message)}", highlight=False)
        if exc.where:
            err.print(f"  [dim]where[/]: {escape(exc.where)}", highlight=False)
        if exc.fix:
            err.print(f"  [dim]fix[/]:   {escape(exc.fix)}", highlight=False)
        return exc.exit_code
    except click.exceptions.Abort:
        _stderr().print("aborted")
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        if as_json:
            _json_error({"error": exc.format_message(), "reason": "UsageError",
                         "fix": "see `neuroscale --help` or the command's --help"})
        else:
            exc.show()
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except typer.TyperException as exc:  # typer vendors click: its usage errors are not click's classes
        show = getattr(exc, "show", None)
        if as_json:
            _json_error({"error": str(exc), "reason": "UsageError", "fix": "see the command's --help"})
        elif callable(show):
            show()
        else:
            _stderr().print(str(exc), highlight=False, markup=False)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        return 130
    return int(result) if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
