"""Kyverno `validate.pattern` matching: overlay a pattern tree on an object.

Supported, with Kyverno's semantics:
- scalars: wildcards `*` / `?`, `!` (not), `|` (or), `&` (and), comparisons
  `>`, `<`, `>=`, `<=` and ranges `a-b` / `a!-b` on numbers and Kubernetes
  quantities (`<=2Gi`), exact numbers, booleans and null;
- maps: plain keys (must exist and match), wildcard keys, and the anchors
  conditional `(k)`, equality `=(k)`, negation `X(k)`, existence `^(k)` and
  global `<(k)`;
- lists: a map pattern must hold for every element (an element whose
  conditional or global anchor does not hold is skipped; when every element
  is skipped the list itself skips); scalar patterns compare element-wise.

A conditional or global anchor that does not hold makes the enclosing list
element skip; a skip that reaches the root makes the whole rule "skip", as
Kyverno reports it. Anchors
that only mean something to mutate rules (`+(k)`) or that this engine does not
know raise `PatternUnsupported`, which callers report as unevaluable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from neuroscale.errors import InvalidInput
from neuroscale.policy.selectors import wildcard_match
from neuroscale.spec.quantity import parse_quantity

_ANCHOR = re.compile(r"^(?P<prefix>[=X^<+]?)\((?P<name>.*)\)$")
_RANGE = re.compile(r"^(?P<low>[^!<>=-][^!-]*)(?P<neg>!?)-(?P<high>[^-].*)$")
_ANCHOR_KINDS = {"": "conditional", "=": "equality", "X": "negation", "^": "existence", "<": "global"}


class PatternUnsupported(Exception):
    """The pattern uses a construct validate rules cannot evaluate."""


@dataclass(frozen=True)
class PatternResult:
    status: Literal["pass", "fail", "skip"]
    path: str = ""
    message: str = ""


class _Fail(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class _Skip(Exception):
    """A conditional anchor did not hold."""


class _GlobalSkip(Exception):
    """A global anchor did not hold: the rule does not apply."""


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return parse_quantity(value)
    except (InvalidInput, TypeError):
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _compare(value: Any, operator: str, operand: str) -> bool:
    left, right = _quantity(value), _quantity(operand.strip())
    if left is None or right is None:
        return False
    return {">": left > right, "<": left < right, ">=": left >= right, "<=": left <= right}[operator]


def _single(value: Any, pattern: str) -> bool:
    pattern = pattern.strip()
    for operator in (">=", "<=", ">", "<"):
        if pattern.startswith(operator):
            return _compare(value, operator, pattern[len(operator):])
    if pattern.startswith("!"):
        return not _single(value, pattern[1:])
    ranged = _RANGE.match(pattern)
    if ranged and (low := _quantity(ranged["low"])) is not None and (high := _quantity(ranged["high"])) is not None:
        amount = _quantity(value)
        inside = amount is not None and low <= amount <= high
        return inside != bool(ranged["neg"])
    if value is None:
        return pattern in ("null", "")
    if wildcard_match(pattern, _text(value)):
        return True
    if "*" in pattern or "?" in pattern:
        return False
    left, right = _quantity(value), _quantity(pattern)
    return left is not None and right is not None and left == right


def scalar_matches(value: Any, pattern: Any) -> bool:
    """One leaf of a pattern against one value."""
    if isinstance(pattern, bool):
        return value is pattern or (isinstance(value, str) and value == _text(pattern))
    if isinstance(pattern, (int, float)):
        amount = _quantity(value)
        return amount is not None and amount == Decimal(str(pattern))
    if pattern is None:
        return value is None
    if not isinstance(pattern, str):
        raise PatternUnsupported(f"pattern leaf of type {type(pattern).__name__}")
    if isinstance(value, (Mapping, list)):
        return pattern == "*" or (pattern == "?*" and bool(value))
    return any(all(_single(value, part) for part in alternative.split("&")) for alternative in pattern.split("|"))


def _anchor(key: str) -> tuple[str, str]:
    match = _ANCHOR.match(key)
    if not match:
        return "plain", key
    prefix = match["prefix"]
    if prefix == "+":
        raise PatternUnsupported(f"add-if-not-present anchor '{key}' (mutate only)")
    return _ANCHOR_KINDS[prefix], match["name"]


def _validate(value: Any, pattern: Any, path: str) -> None:
    if isinstance(pattern, Mapping):
        _validate_map(value, pattern, path)
    elif isinstance(pattern, list):
        _validate_list(value, pattern, path)
    elif not scalar_matches(value, pattern):
        raise _Fail(path, f"value {_text(value)!r} does not match pattern {_text(pattern)!r}")


def _condition(value: Mapping[str, Any], name: str, *, sub: Any, path: str, error: type[Exception]) -> None:
    if name not in value:
        raise error()
    try:
        _validate(value[name], sub, f"{path}{name}/")
    except (_Fail, _Skip):
        raise error() from None


def _validate_map(value: Any, pattern: Mapping[str, Any], path: str) -> None:
    if not isinstance(value, Mapping):
        raise _Fail(path, f"expected a mapping, found {type(value).__name__}")
    parsed = [(_anchor(str(key)), sub) for key, sub in pattern.items()]
    for (kind, name), sub in parsed:
        if kind == "global":
            _condition(value, name, sub=sub, path=path, error=_GlobalSkip)
        elif kind == "conditional":
            _condition(value, name, sub=sub, path=path, error=_Skip)
    for (kind, name), sub in parsed:
        child = f"{path}{name}/"
        if kind == "negation":
            if name in value:
                raise _Fail(child, f"field '{name}' must not be present")
        elif kind == "equality":
            if name in value:
                _validate(value[name], sub, child)
        elif kind == "existence":
            _validate_existence(value, name, sub=sub, path=child)
        elif kind == "plain":
            _validate_plain(value, name, sub=sub, path=path)


def _validate_plain(value: Mapping[str, Any], name: str, *, sub: Any, path: str) -> None:
    if "*" in name or "?" in name:
        keys = [k for k in value if wildcard_match(name, str(k))]
        if not keys:
            raise _Fail(f"{path}{name}/", f"no field matches '{name}'")
        for key in keys:
            _validate(value[key], sub, f"{path}{key}/")
        return
    if name not in value:
        if sub is None:
            return
        raise _Fail(f"{path}{name}/", f"field '{name}' is required")
    _validate(value[name], sub, f"{path}{name}/")


def _validate_existence(value: Mapping[str, Any], name: str, *, sub: Any, path: str) -> None:
    if not isinstance(sub, list) or not sub:
        raise PatternUnsupported(f"existence anchor '^({name})' needs a list pattern")
    items = value.get(name)
    if not isinstance(items, list):
        raise _Fail(path, f"field '{name}' must be a list with at least one matching element")
    for item in items:
        try:
            _validate(item, sub[0], path)
            return
        except (_Fail, _Skip):
            continue
    raise _Fail(path, f"no element of '{name}' matches the pattern")


def _validate_list(value: Any, pattern: list[Any], path: str) -> None:
    if not isinstance(value, list):
        raise _Fail(path, f"expected a list, found {type(value).__name__}")
    if not pattern:
        return
    if isinstance(pattern[0], (Mapping, list)) or len(pattern) == 1:
        applied = skipped = 0
        for index, item in enumerate(value):
            try:
                _validate(item, pattern[0], f"{path}{index}/")
                applied += 1
            except (_Skip, _GlobalSkip):
                skipped += 1
        if skipped and not applied:
            raise _Skip()
        return
    if len(value) < len(pattern):
        raise _Fail(path, f"expected at least {len(pattern)} elements")
    for index, sub in enumerate(pattern):
        _validate(value[index], sub, f"{path}{index}/")


def match_pattern(resource: Any, pattern: Any) -> PatternResult:
    """Pass, fail (with the slash path Kyverno reports) or skip; raises `PatternUnsupported`."""
    try:
        _validate(resource, pattern, "/")
    except _Fail as failure:
        return PatternResult("fail", failure.path, failure.message)
    except (_Skip, _GlobalSkip):
        return PatternResult("skip", "/", "a conditional or global anchor did not match")
    return PatternResult("pass")
