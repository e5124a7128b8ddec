"""Kyverno variables (`{{ JMESPath }}`) and conditions (`preconditions`, `validate.deny`) offline.

Kyverno resolves `{{ ... }}` against the admission request (`request.object`,
`request.operation`, ...) and, inside `foreach`, the current `element`. A
string that is exactly one variable takes the variable's value (a list stays
a list); otherwise values are interpolated as text. A variable that resolves
to nothing is an error, as in Kyverno - write `{{ x || '' }}` for a default.

Only the JMESPath built-ins and a few pure Kyverno functions are available;
any other function, context variable or operator raises `ConditionUnsupported`
so the rule is reported as unevaluable instead of being guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from decimal import Decimal
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions

from neuroscale.errors import InvalidInput
from neuroscale.policy.selectors import wildcard_match
from neuroscale.spec.quantity import parse_quantity

_VARIABLE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_SINGLE = re.compile(r"^\s*\{\{\s*(.*?)\s*\}\}\s*$", re.DOTALL)
_ROOT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?![\w(])")


class ConditionUnsupported(Exception):
    """A function, variable or operator offline evaluation does not have."""


class ConditionError(Exception):
    """A variable did not resolve, or values cannot be compared: the rule errors."""


class _KyvernoFunctions(jmespath_functions.Functions):  # type: ignore[misc]  # jmespath ships no types
    """The pure subset of Kyverno's JMESPath extensions."""

    @jmespath_functions.signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_to_upper(self, text: str) -> str:
        return text.upper()

    @jmespath_functions.signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_to_lower(self, text: str) -> str:
        return text.lower()

    @jmespath_functions.signature({"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_trim(self, text: str) -> str:
        return text.strip()

    @jmespath_functions.signature({"types": ["string"]}, {"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_split(self, text: str, separator: str) -> list[str]:
        return text.split(separator)

    @jmespath_functions.signature({"types": ["string"]}, {"types": ["string", "number"]})  # type: ignore[untyped-decorator]
    def _func_regex_match(self, pattern: str, value: Any) -> bool:
        return re.search(pattern, str(value)) is not None

    @jmespath_functions.signature({"types": ["string"]}, {"types": ["string", "number"]})  # type: ignore[untyped-decorator]
    def _func_pattern_match(self, pattern: str, value: Any) -> bool:
        return wildcard_match(pattern, str(value))

    @jmespath_functions.signature({"types": ["string"]}, {"types": ["string"]})  # type: ignore[untyped-decorator]
    def _func_equal_fold(self, left: str, right: str) -> bool:
        return left.casefold() == right.casefold()

    @jmespath_functions.signature({"types": ["string"]}, {"types": ["number"]})  # type: ignore[untyped-decorator]
    def _func_truncate(self, text: str, length: float) -> str:
        return text[: int(length)]


_OPTIONS: jmespath.Options | None = None


def _options() -> jmespath.Options:
    global _OPTIONS
    if _OPTIONS is None:
        _OPTIONS = jmespath.Options(custom_functions=_KyvernoFunctions())
    return _OPTIONS


@lru_cache(maxsize=4096)
def _compiled(expression: str) -> Any:
    try:
        return jmespath.compile(expression)
    except jmespath_errors.JMESPathError as exc:
        raise ConditionUnsupported(f"JMESPath {expression!r} does not parse: {str(exc).splitlines()[0]}") from None


def check_syntax(value: Any) -> None:
    """Parse every `{{ }}` in `value` (any nesting) so syntax errors surface at load time."""
    if isinstance(value, str):
        for expression in _VARIABLE.findall(value):
            _compiled(expression)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_syntax(key)
            check_syntax(item)
    elif isinstance(value, list):
        for item in value:
            check_syntax(item)


def resolve(expression: str, data: Mapping[str, Any]) -> Any:
    try:
        result = _compiled(expression).search(data, options=_options())
    except jmespath_errors.UnknownFunctionError as exc:
        raise ConditionUnsupported(f"JMESPath function not available offline: {exc}") from None
    except jmespath_errors.JMESPathError as exc:
        raise ConditionError(f"{{{{ {expression} }}}}: {exc}") from None
    if result is None:
        root = _ROOT.match(expression)
        if root and root.group(1) not in data:
            raise ConditionUnsupported(f"variable {root.group(1)!r} (context data, not available offline)")
        raise ConditionError(f"variable {{{{ {expression} }}}} is not set (use `|| default`)")
    return result


def lookup(expression: str, data: Mapping[str, Any]) -> Any:
    """Like `resolve`, but nothing found is None rather than an error (foreach over a missing list)."""
    try:
        return resolve(expression, data)
    except ConditionError:
        return None


def substitute(value: Any, data: Mapping[str, Any]) -> Any:
    """`value` with every `{{ }}` resolved (recursively through maps and lists)."""
    if isinstance(value, str):
        single = _SINGLE.match(value)
        if single and "{{" not in single.group(1):
            return resolve(single.group(1), data)
        return _VARIABLE.sub(lambda m: _text(resolve(m.group(1), data)), value)
    if isinstance(value, Mapping):
        return {key: substitute(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, data) for item in value]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quantity(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except (InvalidInput, TypeError):
        return None


def _equals(key: Any, value: Any) -> bool:
    """Kyverno equality: wildcards in the value, numbers and quantities by amount, booleans as text."""
    if isinstance(key, bool) or isinstance(value, bool):
        return _text(key) == _text(value)
    if isinstance(key, str) and isinstance(value, str) and wildcard_match(value, key):
        return True
    if isinstance(key, (str, int, float)) and isinstance(value, (str, int, float)):
        left, right = _quantity(key), _quantity(value)
        return left is not None and left == right
    return bool(key == value)


def _members(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _in(item: Any, values: list[Any]) -> bool:
    return any(_equals(item, candidate) for candidate in values)


def _compare(key: Any, operator: str, value: Any) -> bool:
    left, right = _quantity(key), _quantity(value)
    if left is None or right is None:
        raise ConditionError(f"cannot compare {key!r} {operator} {value!r}")
    return {"GreaterThan": left > right, "GreaterThanOrEquals": left >= right,
            "LessThan": left < right, "LessThanOrEquals": left <= right}[operator]


def condition_holds(key: Any, operator: str, value: Any) -> bool:
    """One Kyverno condition, after variable substitution."""
    keys, values = _members(key), _members(value)
    if operator == "Equals":
        return _equals(key, value)
    if operator == "NotEquals":
        return not _equals(key, value)
    if operator in ("In", "AllIn"):
        return all(_in(k, values) for k in keys)
    if operator == "AnyIn":
        return any(_in(k, values) for k in keys)
    if operator in ("NotIn", "AllNotIn"):
        return not any(_in(k, values) for k in keys)
    if operator == "AnyNotIn":
        return any(not _in(k, values) for k in keys)
    if operator in ("GreaterThan", "GreaterThanOrEquals", "LessThan", "LessThanOrEquals"):
        return _compare(key, operator, value)
    raise ConditionUnsupported(f"condition operator {operator!r}")


def _one(condition: Any, data: Mapping[str, Any]) -> bool:
    if not isinstance(condition, Mapping):
        raise ConditionUnsupported("a condition must be a mapping with key, operator and value")
    return condition_holds(substitute(condition.get("key"), data), str(condition.get("operator", "")),
                           substitute(condition.get("value"), data))


def conditions_hold(block: Any, data: Mapping[str, Any]) -> bool:
    """`{any: [...], all: [...]}` (or a bare list, meaning all): true when both parts hold."""
    if isinstance(block, list):
        return all(_one(c, data) for c in block)
    if not isinstance(block, Mapping):
        raise ConditionUnsupported("conditions must be a list or a mapping with any/all")
    any_part = block.get("any") or []
    all_part = block.get("all") or []
    return (not any_part or any(_one(c, data) for c in any_part)) and all(_one(c, data) for c in all_part)
