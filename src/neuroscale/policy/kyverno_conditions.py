"""Kyverno conditions (`preconditions`, `validate.deny`, foreach preconditions) with Kyverno's operators.

Each condition's `key` and `value` are substituted only when the condition is
reached (`any` stops at the first true one, `all` at the first false one), so
a later condition's missing variable does not error, as in Kyverno. Operators
compare like Kyverno does: Equals by type (numbers with numbers, strings as
durations, then quantities, then wildcards), the set operators (`AnyIn`,
`AllNotIn`, ...) by wildcard in either direction over printed values (a string
value may be a JSON list or a numeric range `1-10`), the numeric operators on
durations, quantities, numbers or semantic versions - and values that cannot be
compared make the condition false, never an error. A string value that is not
JSON is a one-element list (so `ALL AnyNotIn ''` holds), as in Kyverno 1.10+.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from neuroscale.policy.kyverno_functions import go_text
from neuroscale.policy.kyverno_units import parse_amount, parse_duration, parse_semver
from neuroscale.policy.kyverno_variables import ConditionUnsupported, substitute
from neuroscale.policy.selectors import wildcard_match

_RANGE = re.compile(r"^(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)$")
_NUMERIC = {"GreaterThan": ">", "GreaterThanOrEquals": ">=", "LessThan": "<", "LessThanOrEquals": "<=",
            "DurationGreaterThan": ">", "DurationGreaterThanOrEquals": ">=", "DurationLessThan": "<",
            "DurationLessThanOrEquals": "<="}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_equals(key: float, value: Any) -> bool:
    if _is_number(value):
        return bool(key == value)
    if isinstance(value, str):
        amount = parse_amount(value)
        return amount is not None and amount == Decimal(str(key))
    return False


def _string_equals(key: str, value: Any) -> bool:
    if isinstance(value, str):
        left, right = parse_duration(key), parse_duration(value)
        if left is not None and right is not None:
            return left == right
        left_amount, right_amount = parse_amount(key), parse_amount(value)
        if left_amount is not None and right_amount is not None:
            return left_amount == right_amount
        return wildcard_match(value, key)
    if _is_number(value):
        amount = parse_amount(key)
        return amount is not None and amount == Decimal(str(value))
    return False


def equals(key: Any, value: Any) -> bool | None:
    """Kyverno's Equals; None when the key's type cannot be compared (both Equals and NotEquals are false)."""
    if isinstance(key, bool):
        return isinstance(value, bool) and key == value
    if _is_number(key):
        return _number_equals(key, value)
    if isinstance(key, str):
        return _string_equals(key, value)
    if isinstance(key, (Mapping, list)):
        return bool(key == value)
    return None


def _in_range(key: str, text: str) -> bool | None:
    match = _RANGE.match(text)
    amount = parse_amount(key)
    if match is None or amount is None:
        return None
    return Decimal(match.group(1)) <= amount <= Decimal(match.group(2))


def _exists(key: str, values: Any) -> bool | None:
    """Whether `key` is among `values`; None when `values` is not a list or a string (invalid type)."""
    if isinstance(values, list):
        return any(wildcard_match(go_text(v), key) or wildcard_match(key, go_text(v)) for v in values)
    if isinstance(values, str):
        if wildcard_match(values, key):
            return True
        ranged = _in_range(key, values)
        if ranged is not None:
            return ranged
        try:
            parsed = json.loads(values)
        except ValueError:
            return False  # not JSON: the string is a one-element list, and the wildcard above did not match
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            return None  # JSON that is not a list of strings: Kyverno's unmarshal fails, an invalid type
        return key in parsed
    return None


def _set_operator(key: Any, operator: str, value: Any) -> bool:
    if isinstance(key, list):
        keys = [go_text(k) for k in key]
    elif isinstance(key, (str, int, float, bool)):
        keys = [go_text(key)]
    else:
        return False
    found = [_exists(k, value) for k in keys]
    if any(f is None for f in found):
        return False
    if operator == "AnyIn":
        return any(found)
    if operator in ("AllIn", "In"):
        return all(found)
    if operator == "AnyNotIn":
        return not all(found)
    return not any(found)  # AllNotIn, NotIn


def _ordered(key: Any, value: Any) -> tuple[Any, Any] | None:
    """Two comparable values: durations, then quantities/numbers, then semantic versions."""
    left_duration = parse_duration(key) if isinstance(key, str) else None
    right_duration = parse_duration(value) if isinstance(value, str) else None
    if left_duration is not None and right_duration is not None:
        return left_duration, right_duration
    left, right = parse_amount(key), parse_amount(value)
    if left is not None and right is not None:
        return left, right
    left_version, right_version = parse_semver(key), parse_semver(value)
    if left_version is not None and right_version is not None:
        return left_version, right_version
    return None


def condition_holds(key: Any, operator: str, value: Any) -> bool:
    """One condition, after variable substitution."""
    if operator in ("Equals", "Equal"):
        return equals(key, value) is True
    if operator in ("NotEquals", "NotEqual"):
        return equals(key, value) is False
    if operator in ("In", "AnyIn", "AllIn", "NotIn", "AnyNotIn", "AllNotIn"):
        return _set_operator(key, operator, value)
    if operator in _NUMERIC:
        pair = _ordered(key, value)
        if pair is None:
            return False
        left, right = pair
        return bool({">": left > right, ">=": left >= right, "<": left < right,
                     "<=": left <= right}[_NUMERIC[operator]])
    raise ConditionUnsupported(f"condition operator {operator!r}")


def _one(condition: Any, data: Mapping[str, Any]) -> bool:
    if not isinstance(condition, Mapping):
        raise ConditionUnsupported("a condition must be a mapping with key, operator and value")
    key = substitute(condition.get("key"), data)
    value = substitute(condition.get("value"), data)
    return condition_holds(key, str(condition.get("operator", "")), value)


def conditions_hold(block: Any, data: Mapping[str, Any]) -> bool:
    """`{any: [...], all: [...]}` (or a bare list, meaning all): true when both parts hold."""
    if isinstance(block, list):
        return all(_one(c, data) for c in block)
    if not isinstance(block, Mapping):
        raise ConditionUnsupported("conditions must be a list or a mapping with any/all")
    any_part = block.get("any")
    all_part = block.get("all") or []
    if any_part is not None and not any(_one(c, data) for c in any_part):
        return False
    return all(_one(c, data) for c in all_part)
