"""Regular expressions with RE2 semantics, the engine Kubernetes CEL and Kyverno use.

Policies come from repositories we do not control, and a backtracking engine
(Python's `re`) can spend minutes on a pattern like `(a+)+$` against a long
value - a policy check that hangs CI. RE2 (the `google-re2` binding) runs in
time linear in the input and accepts the same syntax as Go's `regexp`, so a
pattern behaves here exactly as in the API server or in Kyverno: no
backreferences or lookaround (those are reported as errors, as there), and
`\\d`, `\\w`, `\\s` are ASCII classes.

Compiled patterns are cached per process; a pattern that does not compile
raises `RegexError` with RE2's reason.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_GO_TEMPLATE_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class RegexError(ValueError):
    """The pattern is not valid RE2 syntax (backreferences, lookaround, bad escapes...)."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # the error becomes our exception; RE2 must not write to stderr
    return options


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Any:
    """The compiled RE2 program for `pattern` (cached)."""
    try:
        return re2.compile(pattern, options=_options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(f"invalid regular expression {pattern!r}: {reason}") from None


def search(pattern: str, text: str) -> bool:
    """True when `pattern` matches anywhere in `text` (CEL `matches`, Go `MatchString`)."""
    return compile_pattern(pattern).search(text) is not None


def find(pattern: str, text: str) -> str:
    """The first match, or "" (CEL `find`)."""
    match = compile_pattern(pattern).search(text)
    return str(match.group(0)) if match else ""


def find_all(pattern: str, text: str, limit: int = -1) -> list[str]:
    """Every match, at most `limit` when it is not negative (CEL `findAll`)."""
    found = [str(m.group(0)) for m in compile_pattern(pattern).finditer(text)]
    return found if limit < 0 else found[:limit]


def _expand(template: str, match: Any, groups: dict[str, int]) -> str:
    """Go's `Regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`, `$$`; an unknown group expands to ""."""
    out: list[str] = []
    position = 0
    while position < len(template):
        char = template[position]
        if char != "$" or position + 1 == len(template):
            out.append(char)
            position += 1
            continue
        following = template[position + 1]
        if following == "$":
            out.append("$")
            position += 2
            continue
        if following == "{":
            close = template.find("}", position + 2)
            name = template[position + 2:close] if close > 0 else ""
            if not name or any(c not in _GO_TEMPLATE_NAME for c in name):
                out.append(char)
                position += 1
                continue
            end = close + 1
        else:
            end = position + 1
            while end < len(template) and template[end] in _GO_TEMPLATE_NAME:
                end += 1
            name = template[position + 1:end]
            if not name:
                out.append(char)
                position += 1
                continue
        index = int(name) if name.isdigit() else groups.get(name, -1)
        value = match.group(index) if 0 <= index <= match.re.groups else None
        out.append(value or "")
        position = end
    return "".join(out)


def replace_all(pattern: str, text: str, template: str, *, literal: bool = False) -> str:
    """Go's `ReplaceAllString` (template expansion) or `ReplaceAllLiteralString` (`literal=True`)."""
    program = compile_pattern(pattern)
    if literal:
        return str(program.sub(lambda _match: template, text))
    groups = dict(program.groupindex)
    return str(program.sub(lambda match: _expand(template, match, groups), text))
