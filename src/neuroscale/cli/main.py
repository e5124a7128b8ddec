"""The `neuroscale` command: a root that only assembles sub-commands.

Each command module exposes `register(app)`. Errors are mapped to messages
and exit codes here and nowhere else, so no user ever sees a traceback.
"""

from __future__ import annotations

import importlib
import json
import sys

import click
import typer
from rich.console import Console
from rich.markup import escape

from neuroscale.errors import NeuroScaleError

COMMAND_MODULES = (
    "neuroscale.cli.platform",
    "neuroscale.cli.endpoint",
    "neuroscale.cli.observe",
    "neuroscale.cli.pr",
    "neuroscale.cli.user",
    "neuroscale.cli.check",
    "neuroscale.cli.diff",
    "neuroscale.cli.crds",
    "neuroscale.cli.policy",
    "neuroscale.cli.doctor",
    "neuroscale.cli.init",
    "neuroscale.cli.cluster",
)


def create_app() -> typer.Typer:
    app = typer.Typer(
        name="neuroscale",
        help="Self-service model serving: describe an endpoint, get a pull request, checks and a live endpoint.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)
    return app


def _json_error(body: dict[str, object]) -> None:
    sys.stderr.write(json.dumps(body, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from neuroscale.cli.output import requested_format

    err = Console(stderr=True, soft_wrap=True)  # errors are copied into tickets and logs: never wrap them
    as_json = requested_format(sys.argv[1:] if argv is None else argv) == "json"
    app = create_app()
    try:
        result = app(args=argv, prog_name="neuroscale", standalone_mode=False)
    except NeuroScaleError as exc:
        if as_json:
            _json_error(exc.to_dict())
            return exc.exit_code
        err.print(f"[bold red]error[/]: {escape(exc.message)}", highlight=False)
        if exc.where:
            err.print(f"  [dim]where[/]: {escape(exc.where)}", highlight=False)
        if exc.fix:
            err.print(f"  [dim]fix[/]:   {escape(exc.fix)}", highlight=False)
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
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
            err.print(str(exc), highlight=False, markup=False)
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        return 130
    return int(result) if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
