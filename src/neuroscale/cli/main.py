"""The `neuroscale` command: a root that only assembles sub-commands.

Each command module exposes `register(app)`. Errors are mapped to messages
and exit codes here and nowhere else, so no user ever sees a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

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


#: Commands run straight from a plain command line (`direct`): typer's parsing is a fifth of a CI check's time.
DIRECT: dict[str, tuple[str, str]] = {"check": ("neuroscale.cli.check", "check")}


def _run(args: list[str]) -> object:
    if args and args[0] in DIRECT:
        from neuroscale.cli.direct import call

        done, result = call(DIRECT[args[0]], args[1:])
        if done:
            return result
    return create_app().main(args=args, prog_name="neuroscale", standalone_mode=False)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    as_json = requested_format(args) == "json"
    try:
        result = _run(list(args))
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
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - usage errors; anything else is re-raised
        return _usage_error(exc, as_json=as_json)
    return int(result) if isinstance(result, int) else 0


def _usage_error(exc: Exception, *, as_json: bool) -> int:
    """The exit code for a click or typer usage error, after printing it; re-raises anything else.

    click is imported only here: a command line that parses never needs it.
    """
    import click

    if isinstance(exc, click.exceptions.Abort):
        _stderr().print("aborted")
        return 130
    if isinstance(exc, click.exceptions.Exit):
        return int(exc.exit_code)
    if isinstance(exc, click.ClickException):
        if as_json:
            _json_error({"error": exc.format_message(), "reason": "UsageError",
                         "fix": "see `neuroscale --help` or the command's --help"})
        else:
            exc.show()
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    if isinstance(exc, typer.TyperException):  # typer vendors click: its usage errors are not click's classes
        show = getattr(exc, "show", None)
        if as_json:
            _json_error({"error": str(exc), "reason": "UsageError", "fix": "see the command's --help"})
        elif callable(show):
            show()
        else:
            _stderr().print(str(exc), highlight=False, markup=False)
        return int(getattr(exc, "exit_code", 2))
    raise exc


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
