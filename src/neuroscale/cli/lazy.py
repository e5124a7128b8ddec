"""The root's command table, loaded one command module at a time.

Importing every command module costs about a second (the platform, engine and
portal behind `endpoint`, `pr` and `up`), and `neuroscale check` in CI needs
none of them. The root knows every command name up front, so `--help` lists
them all and typos still get suggestions; a command's module is imported and
registered only when one of its names is looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping

import typer
import typer.main
from typer._click import Command  # typer vendors click: its commands are not click's classes


def module_commands(module_name: str) -> dict[str, Command]:
    """The click commands and groups that `module_name`'s `register(app)` adds."""
    app = typer.Typer()
    importlib.import_module(module_name).register(app)
    return dict(typer.main.get_group(app).commands)


class LazyCommands(MutableMapping[str, Command]):
    """Command name -> command, built from `name -> module` on first lookup of a name."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._entries: dict[str, Command | str] = dict(modules)  # a module name until it is loaded

    def __getitem__(self, name: str) -> Command:
        entry = self._entries[name]
        if isinstance(entry, str):
            loaded = module_commands(entry)
            names = [key for key, module in self._entries.items() if module == entry]
            self._entries.update({key: loaded[key] for key in names})
            entry = loaded[name]
        return entry

    def __setitem__(self, name: str, command: Command) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
