"""Call a command's function straight from a plain command line, without building typer's command.

Typer turns every parameter into a pydantic adapter before it parses one
argument: on `neuroscale check` in CI that is about a fifth of a second of
imports and schema building, for a command line of a path and a few options.
This reads the same declarations typer reads (the function's `typer.Option` /
`typer.Argument` defaults and annotations) and handles only the plain forms:
`--name value`, `--name=value`, a short name and its value, flags, repeated
list options, positional arguments. Anything else — `--help`, an unknown
option, a missing or dash-led value, a value of the wrong type, a repeated
single option, a declaration with callbacks or environment variables — is
left to typer (`None`), so help and usage errors are typer's, word for word.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.models import ArgumentInfo, OptionInfo, ParameterInfo

def _digits(text: str) -> int:
    """Plain decimal digits only: other spellings `int()` takes are typer's to accept or refuse."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return int(text)


_SCALARS: dict[Any, Callable[[str], Any]] = {str: str, Path: Path, int: _digits}


@dataclass(frozen=True, eq=False)  # identity: a default may be a list
class _Param:
    name: str
    convert: Callable[[str], Any]
    default: Any
    flag: bool = False
    many: bool = False


def _plain(info: ParameterInfo) -> bool:
    return all(getattr(info, attribute, None) is None for attribute in (
        "callback", "envvar", "parser", "click_type", "default_factory", "autocompletion", "shell_complete")) \
        and not getattr(info, "is_eager", False) and not getattr(info, "count", False)


def _param(name: str, hint: Any, info: ParameterInfo) -> _Param | None:
    if hint is bool and isinstance(info, OptionInfo):
        return _Param(name, str, info.default, flag=True)
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return _Param(name, _SCALARS[item], info.default, many=True) if item in _SCALARS else None
    return _Param(name, _SCALARS[hint], info.default) if hint in _SCALARS else None


def _signature(function: Callable[..., Any]) -> tuple[dict[str, _Param], list[_Param]] | None:
    """Option names -> parameter, and the positional parameters; None for anything not plain."""
    hints = typing.get_type_hints(function)
    options: dict[str, _Param] = {}
    positional: list[_Param] = []
    for name, parameter in inspect.signature(function).parameters.items():
        info = parameter.default
        if not isinstance(info, (OptionInfo, ArgumentInfo)) or not _plain(info):
            return None
        param = _param(name, hints[name], info)
        if param is None or (param.flag and any("/" in d for d in info.param_decls or ())):
            return None
        if isinstance(info, ArgumentInfo):
            positional.append(param)
        else:
            options.update(dict.fromkeys(info.param_decls or (), param))
    return options, positional


def _values(args: Sequence[str], options: dict[str, _Param], positional: list[_Param]) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    free = list(positional)
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        if not arg.startswith("-"):
            if not free:
                return None
            param, raw = free.pop(0), arg
        else:
            name, equals, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            option = options.get(name)
            if option is None:
                return None
            param = option
            if param.flag:
                if equals or param.name in values:
                    return None
                values[param.name] = True
                continue
            if not equals:
                if not pending or pending[0].startswith("-"):
                    return None
                inline = pending.pop(0)
            raw = inline
        try:
            value = param.convert(raw)
        except ValueError:
            return None
        if param.many:
            values.setdefault(param.name, []).append(value)
        elif param.name in values:
            return None
        else:
            values[param.name] = value
    return values


def arguments(function: Callable[..., Any], args: Sequence[str]) -> dict[str, Any] | None:
    """The keyword arguments typer would call `function` with for `args`; None unless the line is plain."""
    signature = _signature(function)
    if signature is None:
        return None
    options, positional = signature
    values = _values(args, options, positional)
    if values is None:
        return None
    return {p.name: values.get(p.name, p.default) for p in dict.fromkeys([*options.values(), *positional])}


def call(command: tuple[str, str], args: Sequence[str]) -> tuple[bool, Any]:
    """(True, what the function returned) when `args` is a plain command line for it, else (False, None)."""
    module, attribute = command
    function = getattr(importlib.import_module(module), attribute)
    kwargs = arguments(function, args)
    return (False, None) if kwargs is None else (True, function(**kwargs))
