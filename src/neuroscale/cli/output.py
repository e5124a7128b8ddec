"""`-o table|json|yaml` for every command that prints data, rendered one way.

JSON and YAML carry the REST API's shape (`jsonable.as_plain`: camelCase keys,
timestamps to the second), so a script can switch between the two freely.
Tables and text are for a terminal, and much of what they show was written by
someone else (a model's load error, a log line, a pull request's title): their
control characters are shown escaped (`printable`), never sent to the terminal
to obey (an OSC 8 link, a cleared screen), and their `[...]` is text, not rich
markup.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from neuroscale.jsonable import as_plain
from neuroscale.yamlio import dump


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


OUTPUT_OPTION = typer.Option(OutputFormat.table, "--output", "-o", help="table, json or yaml")


#: Control characters (C0 but tab and newline, DEL, C1) as the `\\xNN` a Python literal would show.
_ESCAPED = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0)) if code not in (0x09, 0x0a)}


def printable(text: str) -> str:
    """`text` with every control character escaped, so a terminal shows it instead of obeying it."""
    return text.translate(_ESCAPED)


#: Width for tables written to a pipe or file: rich would otherwise wrap every cell at 80 columns.
PIPE_WIDTH = 200


def emit(data: Any, fmt: OutputFormat, *, table: Callable[[], RenderableType] | None = None) -> None:
    console = Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(as_plain(data), indent=2, default=str))
    elif fmt is OutputFormat.yaml:
        typer.echo(dump(json.loads(json.dumps(as_plain(data), default=str))), nl=False)
    elif table is not None:
        console.print(table())
    else:
        console.print(data)


def simple_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    table = Table(title=Text(printable(title)), title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text(printable("" if cell is None else str(cell)))
                        for cell in row))
    return table


