"""The value types Kyverno compares and computes with besides numbers: Go durations, quantities, semver.

Kyverno's patterns, condition operators and arithmetic functions recognise a
string as a Go `time.Duration` (`90s`, `1h30m`), a Kubernetes quantity
(`1Gi`, `250m`) or a semantic version, and print results the way Go does
(`1h30m0s`, `1536Mi`) - a policy that compares a computed value with a
literal depends on that exact text. This module parses and prints those
forms; it knows nothing about policies.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.spec.quantity import parse_quantity

_DURATION_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
                   "h": 3600 * 10**9}
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_BINARY_SUFFIXES = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_DECIMAL_SUFFIXES = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3), ("", 0), ("m", -3),
                     ("u", -6), ("n", -9))


def parse_duration(text: Any) -> int | None:
    """Nanoseconds of a Go duration string (`1h30m`, `-1.5s`, `0`), or None when it is not one."""
    if not isinstance(text, str) or not text:
        return None
    body = text[1:] if text[0] in "+-" else text
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0
    position = total = 0
    while position < len(body):
        part = _DURATION_PART.match(body, position)
        if part is None or part.group(1) in ("", "."):
            return None
        total += int(Decimal(part.group(1)) * _DURATION_UNITS[part.group(2)])
        position = part.end()
    return sign * total if body else None


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_duration(nanoseconds: int) -> str:
    """Go's `Duration.String()`: `0s`, `1.5ms`, `2m0s`, `1h0m0s`."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    amount = abs(nanoseconds)
    if amount < 10**3:
        return f"{sign}{amount}ns"
    if amount < 10**6:
        return f"{sign}{_decimal_text(Decimal(amount) / 10**3)}µs"
    if amount < 10**9:
        return f"{sign}{_decimal_text(Decimal(amount) / 10**6)}ms"
    hours, rest = divmod(amount, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if hours or minutes else ""
    return f"{sign}{text}{_decimal_text(Decimal(rest) / 10**9)}s"


def parse_amount(value: Any) -> Decimal | None:
    """A Kubernetes quantity (or plain number) as a Decimal, or None."""
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        return None
    try:
        return parse_quantity(value)
    except (InvalidInput, TypeError, InvalidOperation):
        return None


def is_binary_quantity(text: str) -> bool:
    return text.endswith(tuple(suffix for suffix, _ in _BINARY_SUFFIXES))


def format_quantity(value: Decimal, *, binary: bool) -> str:
    """The canonical text of a quantity, as `resource.Quantity.String()` prints it."""
    if value == 0:
        return "0"
    if binary and value == value.to_integral_value():
        for suffix, size in _BINARY_SUFFIXES:
            if value % size == 0:
                return f"{int(value / size)}{suffix}"
        return str(int(value))
    for suffix, exponent in _DECIMAL_SUFFIXES:
        scaled = value.scaleb(-exponent)
        if scaled == scaled.to_integral_value():
            return f"{int(scaled)}{suffix}"
    return f"{int(value.scaleb(9).to_integral_value(rounding='ROUND_CEILING'))}n"


def parse_semver(text: Any) -> tuple[int, int, int, tuple[Any, ...]] | None:
    """(major, minor, patch, prerelease) with semver precedence, or None."""
    match = _SEMVER.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    pre: tuple[Any, ...] = ()
    if match.group(4):
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in match.group(4).split("."))
    # A release sorts after every prerelease of the same version.
    marker: tuple[Any, ...] = ((2, 0, ""),) if not pre else pre
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), marker


_RANGE_PART = re.compile(r"^(>=|<=|!=|==|>|<|=|!)?\s*(\S+)$")


def semver_in_range(version: str, expression: str) -> bool:
    """blang/semver ranges: `>=1.0.0 <2.0.0 || 3.0.0` (space is AND, `||` is OR)."""
    parsed = parse_semver(version)
    if parsed is None:
        raise ValueError(f"not a semantic version: {version!r}")
    for alternative in expression.split("||"):
        tokens = alternative.split()
        joined: list[str] = []
        for token in tokens:  # "> 1.0.0" is one comparator
            if joined and joined[-1] in (">=", "<=", "!=", "==", ">", "<", "=", "!"):
                joined[-1] += token
            else:
                joined.append(token)
        if joined and all(_compare_one(parsed, part) for part in joined):
            return True
    return False


def _compare_one(version: tuple[int, int, int, tuple[Any, ...]], comparator: str) -> bool:
    match = _RANGE_PART.match(comparator)
    other = parse_semver(match.group(2)) if match else None
    if match is None or other is None:
        raise ValueError(f"not a semantic version range: {comparator!r}")
    operator = match.group(1) or "="
    return {">=": version >= other, "<=": version <= other, ">": version > other, "<": version < other,
            "=": version == other, "==": version == other, "!=": version != other, "!": version != other}[operator]
