"""The Kubernetes CEL extension functions, as plain Python callables for the `cel` library.

The API server evaluates ValidatingAdmissionPolicy expressions with cel-go plus
Kubernetes libraries (quantity, url, regex, lists). The Rust-backed `cel`
package only knows the core language, so the functions policies actually use
are provided here. A quantity travels through CEL as a one-key map
`{"@quantity": "<normalised decimal>"}` because the binding only converts
plain values; normalising makes `quantity("1") == quantity("1000m")` true, as
in Kubernetes. Regular expressions (`matches`, `find`, `findAll`) run on RE2,
as in cel-go, through `neuroscale.policy.regex`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from neuroscale.policy.celbinding import binding, stdlib

from neuroscale.errors import InvalidInput
from neuroscale.policy import regex
from neuroscale.spec.quantity import parse_quantity

QUANTITY_KEY = "@quantity"
#: What `celenv` renames CEL's `matches` to, so it runs on RE2 (the binding's own engine differs).
REGEX_MATCHES = "re2Matches"
URL_KEY = "@url"


def _qvalue(value: Any) -> Decimal:
    if isinstance(value, dict) and QUANTITY_KEY in value:
        return Decimal(value[QUANTITY_KEY])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    raise TypeError(f"expected a quantity, got {type(value).__name__}")


def _qmake(value: Decimal) -> dict[str, str]:
    return {QUANTITY_KEY: str(value.normalize())}


def quantity(text: Any) -> dict[str, str]:
    """`quantity("500m")`: parse a Kubernetes quantity (error if malformed, as in Kubernetes)."""
    try:
        return _qmake(parse_quantity(text))
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def is_quantity(text: Any) -> bool:
    try:
        parse_quantity(text)
    except (InvalidInput, TypeError):
        return False
    return isinstance(text, str)


def _compare(a: Any, b: Any) -> int:
    left, right = _qvalue(a), _qvalue(b)
    return (left > right) - (left < right)


def _sign(value: Any) -> int:
    if isinstance(value, dict) and QUANTITY_KEY in value:
        return _compare(value, 0)
    return int(stdlib.math_sign(value))


def _add(a: Any, b: Any) -> dict[str, str]:
    return _qmake(_qvalue(a) + _qvalue(b))


def _sub(a: Any, b: Any) -> dict[str, str]:
    return _qmake(_qvalue(a) - _qvalue(b))


def _as_integer(value: Any) -> int:
    number = _qvalue(value)
    if number != number.to_integral_value():
        raise ValueError("quantity is not an integer")
    return int(number)


def url(text: str) -> dict[str, str]:
    """`url("https://host:8080/p?q")`: an absolute URI or absolute path, as Kubernetes accepts."""
    parts = urlsplit(text)
    if not (parts.scheme and parts.netloc) and not text.startswith("/"):
        raise ValueError(f"{text!r} is not an absolute URL or path")
    return {URL_KEY: text}


def is_url(text: Any) -> bool:
    try:
        url(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def _url_parts(value: Any) -> Any:
    if not (isinstance(value, dict) and URL_KEY in value):
        raise TypeError("expected a url")
    return urlsplit(value[URL_KEY])


def _get_port(value: Any) -> str:
    port = _url_parts(value).port
    return "" if port is None else str(port)


def _index_of(container: Any, item: Any, *rest: Any) -> int:
    if isinstance(container, list):
        return container.index(item) if item in container else -1
    return stdlib.index_of(container, item, *rest)


def _last_index_of(container: Any, item: Any, *rest: Any) -> int:
    if isinstance(container, list):
        for position in range(len(container) - 1, -1, -1):
            if container[position] == item:
                return position
        return -1
    return stdlib.last_index_of(container, item, *rest)


_VERB = re.compile(r"%(?:\.(\d+))?([sdfeEXxob%])")


def _cel_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_cel_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_cel_text(k)}: {_cel_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _format(template: str, args: list[Any]) -> str:
    """cel-go's `"...%s...".format([args])` (verbs s d f e x X o b, optional `.N` precision)."""
    values = iter(args)

    def verb(match: re.Match[str]) -> str:
        precision, kind = match.group(1), match.group(2)
        if kind == "%":
            return "%"
        try:
            value = next(values)
        except StopIteration:
            raise ValueError("format: not enough arguments") from None
        if kind == "s":
            return _cel_text(value)
        if kind in "feE":
            return f"{float(value):.{int(precision or 6)}{kind}}"
        if isinstance(value, str) and kind in "xX":
            text = value.encode().hex()
            return text.upper() if kind == "X" else text
        return format(int(value), kind)

    return _VERB.sub(verb, template)


def _is_sorted(items: list[Any]) -> bool:
    return all(a <= b for a, b in zip(items, items[1:]))


def kubernetes_functions() -> dict[str, Callable[..., Any]]:
    """The function table: cel-go's strings/math/lists extensions plus the Kubernetes libraries."""
    base = binding.Context()
    stdlib.add_stdlib_to_context(base)
    functions = dict(base.functions)
    # Not a Kubernetes function, and the one way to make a single expression allocate without bound.
    functions.pop("lists.range", None)
    functions.update({
        "quantity": quantity,
        "isQuantity": is_quantity,
        "isLessThan": lambda a, b: _compare(a, b) < 0,
        "isGreaterThan": lambda a, b: _compare(a, b) > 0,
        "compareTo": _compare,
        "add": _add,
        "sub": _sub,
        "sign": _sign,
        "isInteger": lambda q: _qvalue(q) == _qvalue(q).to_integral_value(),
        "asInteger": _as_integer,
        "asApproximateFloat": lambda q: float(_qvalue(q)),
        "url": url,
        "isURL": is_url,
        "getScheme": lambda u: _url_parts(u).scheme,
        "getHost": lambda u: _url_parts(u).netloc.rsplit("@", 1)[-1],
        "getHostname": lambda u: _url_parts(u).hostname or "",
        "getPort": _get_port,
        "getEscapedPath": lambda u: _url_parts(u).path,
        "find": lambda text, pattern: regex.find(pattern, text),
        "findAll": lambda text, pattern, limit=-1: regex.find_all(pattern, text, limit),
        REGEX_MATCHES: lambda text, pattern: regex.search(pattern, text),
        "indexOf": _index_of,
        "lastIndexOf": _last_index_of,
        "isSorted": _is_sorted,
        "format": _format,
    })
    return functions
