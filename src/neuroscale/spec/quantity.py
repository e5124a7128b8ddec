"""Kubernetes resource quantities (`100m`, `1.5`, `512Mi`, `1e3`).

Parsed exactly with `Decimal` so that policy ceilings, quotas and cost maths
agree with what the API server would compute. Pure: no I/O.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from neuroscale.errors import InvalidInput

_QUANTITY = re.compile(r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

QUANTITY_HINT = "use a Kubernetes quantity such as 250m or 2 for CPU, 512Mi or 2Gi for memory"


def is_quantity(text: str) -> bool:
    return bool(_QUANTITY.match(text.strip())) if isinstance(text, str) else False


def parse_quantity(text: str | int | float, *, where: str = "") -> Decimal:
    """Return the quantity in base units (cores for CPU, bytes for memory)."""
    if isinstance(text, bool):
        raise InvalidInput(f"{text!r} is not a quantity", where=where, fix=QUANTITY_HINT)
    if isinstance(text, (int, float)):
        return Decimal(str(text))
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise InvalidInput(f"{text!r} is not a Kubernetes quantity", where=where, fix=QUANTITY_HINT)
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise InvalidInput(f"{text!r} is not a Kubernetes quantity", where=where, fix=QUANTITY_HINT) from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def cpu_cores(text: str | int | float) -> float:
    return float(parse_quantity(text))


def memory_bytes(text: str | int | float) -> float:
    return float(parse_quantity(text))
