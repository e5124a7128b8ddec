"""What an ApplicationSet git `files` generator reads: which files its patterns match, and their parameters.

Argo CD lists the files on the repo server and parses each as YAML (JSON is YAML). By default it lists
them with `git ls-files -- <pattern>`: a git pathspec, where `*` and `?` cross `/` (`apps/*.json` also
matches `apps/a/b.json`) and a pattern without wildcards matches a file or every file under a directory.
With the controller's new globbing on (`applicationsetcontroller.enable.new.git.file.globbing: "true"`
in an `argocd-cmd-params-cm` ConfigMap of this repository) it globs with doublestar instead: `*` stays
within one directory, `**` spans any number of them, `{a,b}` picks one.

A file holding one object gives one parameter set, a file holding a list of objects one per element, an
empty file one without keys. Anything else (a scalar, a list of scalars, a YAML error) stops the whole
ApplicationSet in Argo CD ("unable to process file"): `UnreadableConfig` says where. Without Go templates
the object's keys are flattened (`cluster.name`, `list.0`) and every value printed as Go prints it: JSON
numbers are float64, so `123456789` reads `1.23456789e+08`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from neuroscale.check.jsonshape import json_shape
from neuroscale.check.lints.base import dig
from neuroscale.check.model import Limits, RepoView
from neuroscale.check.yamldocs import parse_file

#: Only files `check` reads can be listed: a pattern must end in one of these (after its last wildcard).
READ_SUFFIXES = (".json", ".yaml", ".yml")
_WILDCARDS = re.compile(r"[*?\[{\\]")
_SCALARS = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}
_NEW_GLOBBING = "applicationsetcontroller.enable.new.git.file.globbing"


class UnreadableConfig(Exception):
    """A matched file Argo CD cannot turn into parameters: the ApplicationSet generates nothing."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        super().__init__(reason)
        self.path, self.line, self.reason = path, line, reason


def new_globbing(view: RepoView) -> bool:
    """True when this repository configures Argo CD's ApplicationSet controller to glob with doublestar."""
    return any(doc.name == "argocd-cmd-params-cm" and str(dig(doc.data, "data", _NEW_GLOBBING)).lower() == "true"
               for doc in view.of_kind("ConfigMap"))


def listable(pattern: str) -> bool:
    """True when every file `pattern` can match is one `check` reads (its name ends in a YAML or JSON suffix
    written after the last wildcard)."""
    tail = _WILDCARDS.split(pattern)[-1]
    return tail.endswith(READ_SUFFIXES) and pattern.endswith(tail)


def matched_files(items: Iterable[Any], files: Iterable[str], *, doublestar: bool) -> list[str]:
    """Files an include pattern matches and no `exclude: true` pattern does, sorted as Argo CD sorts them."""
    compile_ = _doublestar if doublestar else _pathspec
    include = [compile_(str(i.get("path", ""))) for i in items if isinstance(i, dict) and i.get("exclude") is not True]
    exclude = [compile_(str(i.get("path", ""))) for i in items if isinstance(i, dict) and i.get("exclude") is True]
    return sorted(f for f in files if any(p is not None and p.fullmatch(f) for p in include)
                  and not any(p is not None and p.fullmatch(f) for p in exclude))


def _pathspec(pattern: str) -> re.Pattern[str] | None:
    """A git pathspec (no magic) as a regular expression: wildcards cross `/`; a literal path matches
    itself and everything under it."""
    literal = not _WILDCARDS.search(pattern)
    if literal:
        return re.compile(re.escape(pattern.rstrip("/")) + "(?:/.*)?", re.DOTALL)
    return glob_regex(pattern, star=".*", one=".")


def _doublestar(pattern: str) -> re.Pattern[str] | None:
    """doublestar's glob: `**` as a whole path segment spans zero or more directories."""
    parts = pattern.split("/")
    out: list[str] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        body = glob_regex(part, star="[^/]*", one="[^/]", braces=True)
        if body is None:
            return None
        out.append(body.pattern + ("" if last else "/"))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def glob_regex(pattern: str, *, star: str, one: str, braces: bool = False,
               negators: str = "!^") -> re.Pattern[str] | None:
    """A glob as a regular expression: `*` and `?` as given, `[class]` (negated by a leading character of
    `negators`: git and doublestar take `!` and `^`, Go's `path.Match` only `^`), `\\` escapes and, with
    `braces`, `{a,b}`; None when malformed (the matchers then match nothing with it)."""
    out, index, depth = [], 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append(star)
        elif char == "?":
            out.append(one)
        elif char == "\\":
            if index + 1 == len(pattern):
                return None
            index += 1
            out.append(re.escape(pattern[index]))
        elif char == "[":
            end = pattern.find("]", index + 2)
            if end < 0:
                return None
            body = pattern[index + 1:end]
            negated = body[:1] != "" and body[:1] in negators
            out.append("[" + ("^" if negated else "") + re.escape(body[1:] if negated else body).replace(r"\-", "-")
                       + "]")
            index = end
        elif braces and char == "{":
            depth += 1
            out.append("(?:")
        elif braces and char == "}" and depth:
            depth -= 1
            out.append(")")
        elif braces and char == "," and depth:
            out.append("|")
        else:
            out.append(re.escape(char))
        index += 1
    try:
        return None if depth else re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def config_objects(path: str, raw: bytes) -> list[dict[str, Any]]:
    """The parameter objects of one matched file, as Argo CD reads it (its first YAML document)."""
    documents, problems = parse_file(path, raw, limits=Limits())
    if problems:
        first = problems[0]
        raise UnreadableConfig(path, first.line, first.message)
    document = next((doc for doc in documents if doc.index == 0), None)
    if document is None:
        return [{}]
    data, _ = json_shape(document.data)
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and all(isinstance(item, dict) or item is None for item in data):
        return [item or {} for item in data]
    what = "a list with an item that is not an object" if isinstance(data, list) else \
        _SCALARS.get(type(data), "a scalar")
    raise UnreadableConfig(path, document.line, f"it holds {what}, not an object or a list of objects")


def flattened(data: dict[str, Any]) -> dict[str, str]:
    """Keys joined with `.` (list items by index) and values printed as Go's `%v` prints them."""
    flat: dict[str, str] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, f"{key}.{go_string(name)}" if key else go_string(name))
        elif isinstance(value, list):
            for number, item in enumerate(value):
                walk(item, f"{key}.{number}" if key else str(number))
        else:
            flat[key] = "<nil>" if value is None else go_string(value)

    walk(data, "")
    return flat


def go_string(value: Any) -> str:
    """A scalar decoded from JSON as Go prints it: booleans lower case, numbers as float64 (`%v`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_float(float(value))
    return str(value)


def _go_float(number: float) -> str:
    """Go's shortest `%v` of a float64: plain digits, or `1.5e+07` once the exponent is below -4 or above 5."""
    if number != number or number in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}[repr(number)]
    if number == 0:
        return "0"
    shortest = Decimal(repr(number)).normalize()
    sign, digits, exponent = shortest.as_tuple()
    assert isinstance(exponent, int)
    power = len(digits) + exponent - 1
    if -4 <= power < 6:
        return format(shortest, "f")
    mantissa = "".join(map(str, digits))
    mantissa = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
