"""`neuroscale endpoint create|update|delete|rollback|list|show`: every change becomes a pull request.

`neuroscale endpoint key …` (API keys, not reviewed) lives in `endpoint_keys`.

The field options are generated from `neuroscale.spec.fields.FIELDS` (the one
definition the portal form and the policies also use), by giving the command
functions a generated signature that typer reads like a hand-written one.
`endpoint create` creates the platform home when it is missing (as
`neuroscale up` would); every other command needs an existing home.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from neuroscale.cli.endpoint_keys import keys_app
from neuroscale.cli.observe import show
from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table
from neuroscale.cli.pr import HOME_OPTION, REMOTE_OPTION, emit_pr, open_platform
from neuroscale.errors import InvalidInput
from neuroscale.services.endpoints import (
    EndpointChange,
    RawManifest,
    create_endpoint,
    current_values,
    delete_endpoint,
    endpoints_on_main,
    rollback_endpoint,
    update_endpoint,
)
from neuroscale.services.identity import cli_actor
from neuroscale.services.pulls import list_pull_requests
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import FIELDS, FIELDS_BY_ATTR

FROM_FILE_OPTION = typer.Option(None, "--from-file", show_default=False,
                                help="An InferenceService YAML file to propose as written (instead of field options).")
SAMPLE_OPTION = typer.Option(None, "--sample-request", show_default=False,
                             help="A JSON request (KServe V1 or V2 body) stored beside the manifest; "
                                  "`neuroscale smoke` sends it.")
_FIELDS_PANEL = "Endpoint fields"


def _field_parameter(attr: str) -> inspect.Parameter:
    field = FIELDS_BY_ATTR[attr]
    default = f" [default: {field.default}]" if field.default is not None else ""
    required = " [required unless --from-file]" if field.required and field.default is None else ""
    option = typer.Option(None, field.cli_flag, help=f"{field.description}{required}{default}",
                          show_default=False, rich_help_panel=_FIELDS_PANEL)
    annotation: Any = int | None if field.kind == "integer" else str | None
    if field.choices:  # typer offers a choice for an Enum annotation
        choices = Enum(field.key, {choice: choice for choice in field.choices}, type=str)  # type: ignore[misc]
        annotation = choices | None
    return inspect.Parameter(attr, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


def with_field_options(func: Callable[..., None], *, skip: tuple[str, ...] = ()) -> Callable[..., None]:
    """Give `func(..., **fields)` one keyword option per endpoint field, for typer to read."""
    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> None:
        func(*args, **kwargs)

    signature = inspect.signature(func)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    generated = [_field_parameter(f.attr) for f in FIELDS if f.attr not in skip]
    command.__signature__ = signature.replace(parameters=own + generated)  # type: ignore[attr-defined]
    return command


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """Options the user actually set, keyed as the API speaks them (camelCase)."""
    return {FIELDS_BY_ATTR[attr].key: value.value if isinstance(value, Enum) else value
            for attr, value in fields.items() if value is not None}


def _read_manifest(path: Path, given: dict[str, Any]) -> RawManifest:
    if given:
        raise InvalidInput(f"--from-file cannot be combined with {', '.join(sorted(given))}", where="options",
                           fix="put every field in the file, or use field options without --from-file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}",
                           where="--from-file", fix="give a readable UTF-8 YAML file") from None
    return RawManifest.parse(text, where=str(path))


def _read_sample(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", where="--sample-request",
                           fix="give a readable JSON file") from None


def _create(*, from_file: Path | None = FROM_FILE_OPTION, sample_request: Path | None = SAMPLE_OPTION,
            home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION,
            **fields: Any) -> None:
    """Propose a new endpoint: commits its InferenceService on branch endpoint/<name> and opens a pull request."""
    given = _given(fields)
    change: EndpointChange = (_read_manifest(from_file, given) if from_file
                              else EndpointSpec.from_input(given, where="endpoint"))
    sample = _read_sample(sample_request)
    with open_platform(home, create=True, remote=remote) as ctx:
        emit_pr(ctx, create_endpoint(ctx, change, actor=cli_actor(ctx), sample_request=sample), output)


def _update(name: str = typer.Argument(..., help="Endpoint to change."), *, from_file: Path | None = FROM_FILE_OPTION,
            sample_request: Path | None = SAMPLE_OPTION, home: str | None = HOME_OPTION,
            remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION, **fields: Any) -> None:
    """Propose a change: the given fields replace those of the endpoint as last proposed."""
    given = _given(fields)
    sample = _read_sample(sample_request)
    with open_platform(home, remote=remote) as ctx:
        if from_file:
            change: EndpointChange = _read_manifest(from_file, given)
            if change.name != name:
                raise InvalidInput(f"{from_file} describes endpoint {change.name!r}, not {name!r}",
                                   where="--from-file", fix="use `endpoint create` for a new endpoint")
        elif not given and sample is None:
            raise InvalidInput("nothing to change", where="options",
                               fix="give at least one field option (see `neuroscale endpoint update --help`)")
        else:
            change = EndpointSpec.from_input({**current_values(ctx, name), **given}, where=f"endpoint {name}")
        emit_pr(ctx, update_endpoint(ctx, change, actor=cli_actor(ctx), sample_request=sample), output)


def _delete(name: str = typer.Argument(..., help="Endpoint to remove."), *, home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Propose removing an endpoint (its directory under apps/) from main."""
    with open_platform(home, remote=remote) as ctx:
        emit_pr(ctx, delete_endpoint(ctx, name, actor=cli_actor(ctx)), output)


def _rollback(name: str = typer.Argument(..., help="Endpoint to roll back."), *, home: str | None = HOME_OPTION,
              remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Propose going back to the endpoint's previous revision (its manifest before the last model change)."""
    with open_platform(home, remote=remote) as ctx:
        emit_pr(ctx, rollback_endpoint(ctx, name, actor=cli_actor(ctx)), output)


def _list(home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
    """Every endpoint on main — those denied or invalid too, with why — and any open pull request changing it."""
    with open_platform(home, remote=remote) as ctx:
        listed = endpoints_on_main(ctx)
        pending = {pr.endpoint: pr.number for pr in list_pull_requests(ctx, state="open")}
    data = [{**(e.entry.spec.to_input() if e.entry.spec else e.entry.values), "path": e.entry.path,
             "pendingPullRequest": pending.get(e.entry.name), "state": e.state,
             **({"error": e.entry.error} if e.entry.error else {})} for e in listed]
    rows = [(e.entry.name, v.get("namespace", ""), v.get("owner", ""), v.get("costCenter", ""),
             v.get("modelFormat", ""), v.get("storageUri", ""),
             f"#{pending[e.entry.name]}" if e.entry.name in pending else "", e.state)
            for e in listed for v in [e.entry.spec.to_input() if e.entry.spec else e.entry.values]]
    emit(data, output, table=lambda: simple_table(
        "Endpoints on main", ("name", "namespace", "owner", "cost center", "format", "storage", "pending PR", "state"),
        rows))


def register(app: typer.Typer) -> None:
    endpoint_app = typer.Typer(help="Model endpoints: each create, update or delete opens a pull request.",
                               no_args_is_help=True)
    app.add_typer(endpoint_app, name="endpoint")
    endpoint_app.command("create")(with_field_options(_create))
    endpoint_app.command("update")(with_field_options(_update, skip=("name",)))
    endpoint_app.command("delete")(_delete)
    endpoint_app.command("rollback")(_rollback)
    endpoint_app.command("list")(_list)
    endpoint_app.command("show")(show)
    endpoint_app.add_typer(keys_app(), name="key")
