"""Kyverno's JMESPath functions, with Kyverno's semantics, for the `jmespath` library.

Kyverno extends JMESPath with string, regex, arithmetic (numbers, quantities
and durations), encoding, parsing, semver and time functions. They are
reimplemented here from Kyverno's documentation and behaviour: regexes run on
RE2 (`neuroscale.policy.regex`), arithmetic follows Kyverno's operand rules
(quantity + quantity, duration * number, quantity / quantity -> number, ...)
and prints results as Go does. A misuse (bad regex, type mismatch, division
by zero) raises `FunctionError`, which makes the rule an error, as in Kyverno.
Functions whose result depends on a cluster or on chance (`random`, image
lookups, `x509_decode`) are absent, so a policy calling them is reported as
not evaluable rather than guessed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import posixpath
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar, cast

from jmespath import functions as jmespath_functions

from neuroscale.errors import InvalidInput
from neuroscale.policy import regex
from neuroscale.policy.kyverno_units import (
    format_duration, format_quantity, is_binary_quantity, parse_amount, parse_duration, semver_in_range,
)
from neuroscale.policy.selectors import wildcard_match
from neuroscale.yamlio import load_one

_F = TypeVar("_F", bound=Callable[..., Any])
_signature = cast(Callable[..., Callable[[_F], _F]], jmespath_functions.signature)
_TEXT = {"types": ["string"]}
_NUMBER = {"types": ["number"]}
_TEXT_OR_NUMBER = {"types": ["string", "number"]}
_ANY: dict[str, list[str]] = {"types": []}
_RFC3339 = "2006-01-02T15:04:05Z07:00"
_GO_LAYOUT = (("2006", "%Y"), ("01", "%m"), ("02", "%d"), ("15", "%H"), ("04", "%M"), ("05", "%S"),
              ("Jan", "%b"), ("Mon", "%a"), ("MST", "%Z"), ("Z07:00", "%z"), ("-0700", "%z"), ("-07:00", "%z"))


class FunctionError(Exception):
    """A Kyverno function was called with values it rejects; the rule errors."""


def go_text(value: Any) -> str:
    """A scalar as Go's `fmt.Sprint` prints JSON data (`1` not `1.0`, `true` not `True`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return "" if value is None else str(value)


def _number(value: float) -> int | float:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**53 else value


class _Operand:
    """One arithmetic operand: a number, a quantity (with its binary/decimal format) or a duration."""

    def __init__(self, value: Any, function: str) -> None:
        self.kind = ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.kind, self.amount = "scalar", Decimal(str(value))
        elif isinstance(value, str) and (amount := parse_amount(value)) is not None:
            self.kind, self.amount, self.binary = "quantity", amount, is_binary_quantity(value)
        elif isinstance(value, str) and (nanoseconds := parse_duration(value)) is not None:
            self.kind, self.amount = "duration", Decimal(nanoseconds)
        else:
            raise FunctionError(f"{function}: invalid operand {value!r} (a number, quantity or duration)")

    def same_kind(self, amount: Decimal) -> Any:
        """`amount` as a value of this operand's kind, printed as Kyverno prints it."""
        if self.kind == "quantity":
            return format_quantity(amount, binary=self.binary)
        if self.kind == "duration":
            return format_duration(int(amount))
        return _number(float(amount))


def _mismatch(function: str, left: _Operand, right: _Operand) -> FunctionError:
    return FunctionError(f"{function}: cannot combine a {left.kind} with a {right.kind}")


def _sum(left: _Operand, right: _Operand, *, sign: int, function: str) -> Any:
    if left.kind != right.kind:
        raise _mismatch(function, left, right)
    return left.same_kind(left.amount + sign * right.amount)


def _product(left: _Operand, right: _Operand) -> Any:
    if left.kind == "scalar" and right.kind != "scalar":
        left, right = right, left
    if right.kind != "scalar":
        raise _mismatch("multiply", left, right)
    return left.same_kind(left.amount * right.amount)


def _quotient(left: _Operand, right: _Operand) -> Any:
    if right.amount == 0:
        raise FunctionError("divide: division by zero")
    if left.kind == right.kind:
        return _number(float(left.amount) / float(right.amount))
    if right.kind != "scalar":
        raise _mismatch("divide", left, right)
    quotient = left.amount / right.amount
    if left.kind == "quantity" and left.amount == left.amount.to_integral_value() and \
            right.amount == right.amount.to_integral_value():
        quotient = quotient.to_integral_value(rounding=ROUND_DOWN)  # Kyverno rounds down at the operands' scale
    return left.same_kind(quotient)


def _remainder(left: _Operand, right: _Operand) -> Any:
    if left.kind != right.kind:
        raise _mismatch("modulo", left, right)
    if left.amount != left.amount.to_integral_value() or right.amount != right.amount.to_integral_value():
        raise FunctionError("modulo: operands must be integers")
    if right.amount == 0:
        raise FunctionError("modulo: division by zero")
    dividend, divisor = int(left.amount), int(right.amount)
    remainder = abs(dividend) % abs(divisor) * (-1 if dividend < 0 else 1)  # Go's %: the dividend's sign
    return left.same_kind(Decimal(remainder))


def _strptime_layout(layout: str) -> str:
    converted = layout
    for go, python in sorted(_GO_LAYOUT, key=lambda pair: -len(pair[0])):
        converted = converted.replace(go, python)
    return converted


def parse_time(layout: str, text: str) -> datetime:
    """A timestamp in a Go layout (`2006-01-02T15:04:05Z07:00` = RFC 3339, the default for "")."""
    try:
        if layout in ("", _RFC3339):
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        else:
            parsed = datetime.strptime(text, _strptime_layout(layout))
    except ValueError:
        raise FunctionError(f"time {text!r} does not match layout {layout!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _rfc3339(moment: datetime) -> str:
    text = moment.isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


def _go_duration(delta: timedelta) -> str:
    return format_duration(int(Decimal(str(delta.total_seconds())) * 10**9))


class KyvernoFunctions(jmespath_functions.Functions):  # type: ignore[misc]  # jmespath ships no types
    """Kyverno's custom JMESPath functions (method `_func_<name>` is function `<name>`)."""

    @_signature(_TEXT, _TEXT)
    def _func_compare(self, left: str, right: str) -> int:
        return (left > right) - (left < right)

    @_signature(_TEXT, _TEXT)
    def _func_equal_fold(self, left: str, right: str) -> bool:
        return left.casefold() == right.casefold()

    @_signature(_TEXT, _TEXT, _TEXT, _NUMBER)
    def _func_replace(self, text: str, old: str, new: str, count: float) -> str:
        return text.replace(old, new, int(count)) if count >= 0 else text.replace(old, new)

    @_signature(_TEXT, _TEXT, _TEXT)
    def _func_replace_all(self, text: str, old: str, new: str) -> str:
        return text.replace(old, new)

    @_signature(_TEXT)
    def _func_to_upper(self, text: str) -> str:
        return text.upper()

    @_signature(_TEXT)
    def _func_to_lower(self, text: str) -> str:
        return text.lower()

    @_signature(_TEXT, _TEXT)
    def _func_trim(self, text: str, cutset: str) -> str:
        return text.strip(cutset)

    @_signature(_TEXT, _TEXT)
    def _func_trim_prefix(self, text: str, prefix: str) -> str:
        return text.removeprefix(prefix)

    @_signature(_TEXT, _TEXT)
    def _func_split(self, text: str, separator: str) -> list[str]:
        return list(text) if separator == "" else text.split(separator)

    @_signature(_TEXT, _TEXT_OR_NUMBER, _TEXT_OR_NUMBER)
    def _func_regex_replace_all(self, pattern: str, source: Any, replacement: Any) -> str:
        return str(self._regex(lambda: regex.replace_all(pattern, go_text(source), go_text(replacement))))

    @_signature(_TEXT, _TEXT_OR_NUMBER, _TEXT_OR_NUMBER)
    def _func_regex_replace_all_literal(self, pattern: str, source: Any, replacement: Any) -> str:
        return str(self._regex(lambda: regex.replace_all(pattern, go_text(source), go_text(replacement),
                                                         literal=True)))

    @_signature(_TEXT, _TEXT_OR_NUMBER)
    def _func_regex_match(self, pattern: str, source: Any) -> bool:
        return bool(self._regex(lambda: regex.search(pattern, go_text(source))))

    @staticmethod
    def _regex(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except regex.RegexError as exc:
            raise FunctionError(str(exc)) from None

    @_signature(_TEXT, _TEXT_OR_NUMBER)
    def _func_pattern_match(self, pattern: str, source: Any) -> bool:
        return wildcard_match(pattern, go_text(source))

    @_signature({"types": ["object"]}, {"types": ["object"]})
    def _func_label_match(self, selector: dict[str, Any], labels: dict[str, Any]) -> bool:
        return all(key in labels and go_text(labels[key]) == go_text(value) for key, value in selector.items())

    @_signature(_TEXT)
    def _func_to_boolean(self, text: str) -> bool:
        if text.lower() not in ("true", "false"):
            raise FunctionError(f"to_boolean: {text!r} is neither true nor false")
        return text.lower() == "true"

    @_signature(_ANY, _ANY)
    def _func_add(self, left: Any, right: Any) -> Any:
        return _sum(_Operand(left, "add"), _Operand(right, "add"), sign=1, function="add")

    @_signature({"types": ["array"]})
    def _func_sum(self, items: list[Any]) -> Any:
        if not items:
            raise FunctionError("sum: at least one element is required")
        total = items[0]
        for item in items[1:]:
            total = _sum(_Operand(total, "sum"), _Operand(item, "sum"), sign=1, function="sum")
        _Operand(total, "sum")
        return total

    @_signature(_ANY, _ANY)
    def _func_subtract(self, left: Any, right: Any) -> Any:
        return _sum(_Operand(left, "subtract"), _Operand(right, "subtract"), sign=-1, function="subtract")

    @_signature(_ANY, _ANY)
    def _func_multiply(self, left: Any, right: Any) -> Any:
        return _product(_Operand(left, "multiply"), _Operand(right, "multiply"))

    @_signature(_ANY, _ANY)
    def _func_divide(self, left: Any, right: Any) -> Any:
        return _quotient(_Operand(left, "divide"), _Operand(right, "divide"))

    @_signature(_ANY, _ANY)
    def _func_modulo(self, left: Any, right: Any) -> Any:
        return _remainder(_Operand(left, "modulo"), _Operand(right, "modulo"))

    @_signature(_NUMBER, _NUMBER)
    def _func_round(self, value: float, digits: float) -> Any:
        if digits != int(digits) or digits < 0:
            raise FunctionError("round: digits must be a non-negative integer")
        scale = 10 ** int(digits)
        scaled = value * scale
        rounded = math.floor(abs(scaled) + 0.5) * (1 if scaled >= 0 else -1)  # Go rounds half away from zero
        return _number(rounded / scale)

    @_signature(_TEXT)
    def _func_base64_decode(self, text: str) -> str:
        try:
            return base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            raise FunctionError("base64_decode: input is not base64") from None

    @_signature(_TEXT)
    def _func_base64_encode(self, text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    @_signature(_TEXT)
    def _func_sha256(self, text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    @_signature(_TEXT)
    def _func_path_canonicalize(self, path: str) -> str:
        cleaned = posixpath.normpath(path) if path else "."
        return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned  # Go keeps one root slash

    @_signature(_TEXT, _NUMBER)
    def _func_truncate(self, text: str, length: float) -> str:
        return text[: max(0, int(length))]

    @_signature(_TEXT, _TEXT)
    def _func_semver_compare(self, version: str, expression: str) -> bool:
        try:
            return semver_in_range(version, expression)
        except ValueError as exc:
            raise FunctionError(f"semver_compare: {exc}") from None

    @_signature(_TEXT)
    def _func_parse_json(self, text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise FunctionError("parse_json: input is not JSON") from None

    @_signature(_TEXT)
    def _func_parse_yaml(self, text: str) -> Any:
        try:
            return load_one(text, where="parse_yaml")
        except InvalidInput:
            raise FunctionError("parse_yaml: input is not YAML") from None

    @_signature({"types": ["object", "array"]}, {"types": ["string", "number"]})
    def _func_lookup(self, collection: Any, key: Any) -> Any:
        if isinstance(collection, dict):
            if not isinstance(key, str):
                raise FunctionError("lookup: an object is looked up by a string key")
            return collection.get(key)
        if isinstance(key, bool) or not isinstance(key, (int, float)) or key != int(key):
            raise FunctionError("lookup: an array is looked up by an integer index")
        index = int(key)
        return collection[index] if 0 <= index < len(collection) else None

    @_signature({"types": ["object", "array"]}, _TEXT, _TEXT)
    def _func_items(self, collection: Any, key_name: str, value_name: str) -> list[dict[str, Any]]:
        pairs = sorted(collection.items()) if isinstance(collection, dict) else enumerate(collection)
        return [{key_name: key, value_name: value} for key, value in pairs]

    @_signature({"types": ["array"]}, {"types": ["array"]})
    def _func_object_from_lists(self, keys: list[Any], values: list[Any]) -> dict[str, Any]:
        return {go_text(key): values[index] if index < len(values) else None for index, key in enumerate(keys)}

    @_signature()
    def _func_time_now(self) -> str:
        return _rfc3339(datetime.now(timezone.utc).astimezone())

    @_signature()
    def _func_time_now_utc(self) -> str:
        return _rfc3339(datetime.now(timezone.utc))

    @_signature(_TEXT, _TEXT)
    def _func_time_parse(self, layout: str, text: str) -> str:
        return _rfc3339(parse_time(layout, text))

    @_signature(_TEXT)
    def _func_time_utc(self, text: str) -> str:
        return _rfc3339(parse_time("", text).astimezone(timezone.utc))

    @_signature(_TEXT, _TEXT, _TEXT)
    def _func_time_since(self, layout: str, start: str, end: str) -> str:
        finish = parse_time(layout, end) if end else datetime.now(timezone.utc)
        return _go_duration(finish - parse_time(layout, start))

    @_signature(_TEXT, _TEXT)
    def _func_time_diff(self, start: str, end: str) -> str:
        return _go_duration(parse_time("", end) - parse_time("", start))

    @_signature(_TEXT, _TEXT)
    def _func_time_before(self, left: str, right: str) -> bool:
        return parse_time("", left) < parse_time("", right)

    @_signature(_TEXT, _TEXT)
    def _func_time_after(self, left: str, right: str) -> bool:
        return parse_time("", left) > parse_time("", right)

    @_signature(_TEXT, _TEXT, _TEXT)
    def _func_time_between(self, moment: str, start: str, end: str) -> bool:
        return parse_time("", start) < parse_time("", moment) < parse_time("", end)

    @_signature(_TEXT, _TEXT)
    def _func_time_add(self, moment: str, duration: str) -> str:
        nanoseconds = parse_duration(duration)
        if nanoseconds is None:
            raise FunctionError(f"time_add: {duration!r} is not a duration")
        return _rfc3339(parse_time("", moment) + timedelta(microseconds=nanoseconds // 1000))

    @_signature(_TEXT, _TEXT)
    def _func_time_truncate(self, moment: str, duration: str) -> str:
        nanoseconds = parse_duration(duration)
        if not nanoseconds or nanoseconds < 0:
            raise FunctionError(f"time_truncate: {duration!r} is not a positive duration")
        parsed = parse_time("", moment)
        epoch_ns = int(parsed.timestamp()) * 10**9
        truncated = epoch_ns - epoch_ns % nanoseconds
        return _rfc3339(datetime.fromtimestamp(truncated / 10**9, tz=parsed.tzinfo))
