"""Kubernetes resource quantities (`100m`, `1.5`, `512Mi`, `1e3`): the one parser every module asks.

The grammar is Kubernetes' own (apimachinery `resource.ParseQuantity`): an
optional sign, ASCII decimal digits with an optional point, then one binary
suffix (Ki…Ei), decimal suffix (n, u, m, k, M…E) or decimal exponent
(`e`/`E` and a signed integer). Why not the `kubernetes` client's
`parse_quantity`: it hands the number to `Decimal`, which also takes
`Infinity`, `NaN` and non-ASCII digits, and it raises bare errors on overflow.

Values are exact `Decimal`s so that policy ceilings, quotas and cost maths
agree with what the API server computes, and they are bounded the way the API
server's int64 arithmetic bounds them: a value above 2^63-1 base units
overflows, a non-zero value below 1n is finer than Kubernetes can represent,
and an exponent beyond int32 is refused before any arithmetic (so
`1e9999999` costs nothing). Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, localcontext

from neuroscale.errors import InvalidInput

_QUANTITY = re.compile(
    r"(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<binary>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<decimal>[numkMGTPE])|[eE](?P<exponent>[+-]?[0-9]+))?",
    re.ASCII,
)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}  # powers of two
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}  # powers of ten

#: Kubernetes keeps quantities as int64 multiples of a scale; beyond these they overflow or round.
LARGEST = Decimal(2**63 - 1)
SMALLEST = Decimal("1e-9")
_INT32 = 2**31 - 1
#: Exponent arithmetic only: `scaleb` by up to ±int32 must neither overflow nor round away digits.
_WIDE = Context(prec=200, Emax=10 * _INT32, Emin=-10 * _INT32)

QUANTITY_HINT = "use a Kubernetes quantity such as 250m or 2 for CPU, 512Mi or 2Gi for memory"


def _invalid(problem: str, *, where: str) -> InvalidInput:
    return InvalidInput(problem, where=where, fix=QUANTITY_HINT)


def _bounded(value: Decimal, *, text: str, where: str) -> Decimal:
    magnitude = abs(value)
    if magnitude > LARGEST:
        raise _invalid(f"{text[:40]!r} is too large for a Kubernetes quantity (overflows 2^63-1)", where=where)
    if magnitude and magnitude < SMALLEST:
        raise _invalid(f"{text[:40]!r} is smaller than 1n, the finest Kubernetes quantity", where=where)
    return value


def _parse_text(text: str, *, where: str) -> Decimal:
    match = _QUANTITY.fullmatch(text.strip())
    if not match:
        shown = text[:40] + ("…" if len(text) > 40 else "")
        raise _invalid(f"{shown!r} is not a Kubernetes quantity", where=where)
    number = Decimal(match["num"])
    if match["binary"]:
        return _bounded(number * 2 ** _BINARY[match["binary"]], text=text, where=where)
    exponent = _DECIMAL[match["decimal"]] if match["decimal"] else 0
    if match["exponent"] is not None:
        digits = match["exponent"].lstrip("+-").lstrip("0")
        if len(digits) > 10 or int(match["exponent"]) > _INT32 or int(match["exponent"]) < -_INT32 - 1:
            raise _invalid(f"{text[:40]!r} has an exponent beyond what Kubernetes accepts", where=where)
        exponent = int(match["exponent"])
    with localcontext(_WIDE):
        scaled = number.scaleb(exponent)
        value = _bounded(scaled, text=text, where=where)
    return value + 0  # back in the default context: a plain, normalised-precision Decimal


def parse_quantity(text: str | int | float, *, where: str = "") -> Decimal:
    """Return the quantity in base units (cores for CPU, bytes for memory); `InvalidInput` otherwise."""
    if isinstance(text, bool):
        raise _invalid(f"{text!r} is not a quantity", where=where)
    if isinstance(text, int):
        if abs(text) > LARGEST:
            raise _invalid("the number is too large for a Kubernetes quantity (overflows 2^63-1)", where=where)
        return Decimal(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise _invalid(f"{text!r} is not a Kubernetes quantity", where=where)
        return _parse_text(repr(text), where=where)
    if not isinstance(text, str):
        raise _invalid(f"a {type(text).__name__} is not a Kubernetes quantity", where=where)
    return _parse_text(text, where=where)


def quantity_problem(value: object) -> str:
    """Why `value` is not a usable quantity, or '' (for validators that report their own field)."""
    try:
        parse_quantity(value)  # type: ignore[arg-type]  # any other type is reported, not raised past
    except InvalidInput as exc:
        return exc.message
    return ""


def cpu_cores(text: str | int | float) -> float:
    return float(parse_quantity(text))


def memory_bytes(text: str | int | float) -> float:
    return float(parse_quantity(text))
