"""Kyverno `validate.pattern` matching: overlay a pattern tree on an object, as Kyverno's engine does.

Order matters, so it is Kyverno's: in each mapping the conditional `(k)`,
existence `^(k)`, equality `=(k)` and negation `X(k)` anchors run first
(conditional ones before the others), then global anchors `<(k)` and keys
whose pattern holds nested anchors, then the remaining keys alphabetically.
A conditional or global anchor that does not hold is a "skip": a list
element that skips is left out, and a skip that reaches the root makes the
rule skip. Wildcard keys under `metadata.labels` / `metadata.annotations`
expand to the object's matching keys; elsewhere keys are literal.

Scalar leaves compare by the pattern's type, like Kyverno: a boolean pattern
wants a boolean, an integer pattern an integer (or a decimal string: `"1Gi"`
is not `1073741824`), and a string pattern is split on `|` (or) and `&`
(and), then read as an operator (`>`, `>=`, `<`, `<=`, `!`, ranges `a-b` and
`a!-b`) and compared as a Go duration, else as a quantity, else as a wildcard
string. `$(...)` references and anchors meant for mutate rules (`+(k)`) raise
`PatternUnsupported`, which callers report as unevaluable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from neuroscale.policy.kyverno_units import parse_amount, parse_duration
from neuroscale.policy.selectors import wildcard_match

_ANCHOR = re.compile(r"^(?P<prefix>[=X^<+]?)\((?P<name>.+)\)$")
_ANCHOR_KINDS = {"": "conditional", "=": "equality", "X": "negation", "^": "existence", "<": "global"}
_IN_RANGE = re.compile(r"^(\d+(?:\.\d+)?[^-]*)-(\d+(?:\.\d+)?[^-]*)$")
_NOT_IN_RANGE = re.compile(r"^(\d+(?:\.\d+)?[^-]*)!-(\d+(?:\.\d+)?[^-]*)$")
_REFERENCE = re.compile(r"(^|[^\\])\$\(.[^ ]*\)")
_FIRST_PHASE = ("conditional", "existence", "equality", "negation")


class PatternUnsupported(Exception):
    """The pattern uses a construct validate rules cannot evaluate."""


@dataclass(frozen=True)
class PatternResult:
    status: Literal["pass", "fail", "skip", "error"]
    path: str = ""
    message: str = ""


class _Fail(Exception):
    def __init__(self, path: str, message: str, *, negation: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.negation = negation


class _Skip(Exception):
    """A conditional or global anchor did not hold."""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _number_text(value: Any) -> str | None:
    """Kyverno's `convertNumberToString`: null is "0", floats print with six decimals."""
    if value is None:
        return "0"
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return f"{value:f}"
    if isinstance(value, (int, str)):
        return str(value)
    return None


def _ordered(result: int, operator: str) -> bool:
    return {"": result == 0, "!": result != 0, ">": result > 0, "<": result < 0, ">=": result >= 0,
            "<=": result <= 0}[operator]


def _compare_typed(value: Any, pattern: str, operator: str) -> bool | None:
    """Duration, then quantity comparison; None when neither applies (then strings are compared)."""
    text = _number_text(value)
    pattern_duration = parse_duration(pattern)
    if pattern_duration is not None and text is not None:
        value_duration = parse_duration(text)
        if value_duration is not None:
            return _ordered((value_duration > pattern_duration) - (value_duration < pattern_duration), operator)
    pattern_amount = parse_amount(pattern)
    if pattern_amount is not None and text is not None:
        value_amount = parse_amount(text)
        if value_amount is not None:
            return _ordered((value_amount > pattern_amount) - (value_amount < pattern_amount), operator)
    return None


def _compare_string(value: Any, pattern: str, operator: str) -> bool:
    if operator not in ("", "!") or value is None or isinstance(value, (Mapping, list)):
        return False
    if isinstance(value, float):  # Go's FormatFloat(v, 'E', -1, 64): shortest mantissa
        mantissa, exponent = f"{value:.15E}".split("E")
        text = f"{mantissa.rstrip('0').rstrip('.')}E{exponent}"
    else:
        text = _text(value)
    return wildcard_match(pattern, text) != (operator == "!")


def _operator(pattern: str) -> str:
    if len(pattern) < 2:
        return ""
    for operator in (">=", "<=", ">", "<", "!"):
        if pattern.startswith(operator):
            return operator
    return ""


def _string_condition(value: Any, pattern: str) -> bool:
    not_in = _NOT_IN_RANGE.match(pattern)
    if not_in and not pattern.startswith("!"):
        return _string_condition(value, f"< {not_in.group(1)}") or _string_condition(value, f"> {not_in.group(2)}")
    within = _IN_RANGE.match(pattern)
    if within and _operator(pattern) == "":
        return _string_condition(value, f">= {within.group(1)}") and _string_condition(value, f"<= {within.group(2)}")
    operator = _operator(pattern)
    operand = pattern[len(operator):].strip()
    typed = _compare_typed(value, operand, operator)
    return typed if typed is not None else _compare_string(value, operand, operator)


def _string_pattern(value: Any, pattern: str) -> bool:
    if isinstance(value, str) and value == pattern:
        return True
    return any(all(_string_condition(value, part.strip(" ")) for part in alternative.strip(" ").split("&"))
               for alternative in pattern.split("|"))


def scalar_matches(value: Any, pattern: Any) -> bool:
    """One leaf of a pattern against one value (Kyverno's `pattern.Validate`)."""
    if isinstance(pattern, bool):
        return isinstance(value, bool) and value == pattern
    if isinstance(pattern, int):
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return value == pattern
        if isinstance(value, float):
            return value.is_integer() and int(value) == pattern
        return isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value) is not None and int(value) == pattern
    if isinstance(pattern, float):
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return float(value) == pattern
        try:
            return isinstance(value, str) and float(value) == pattern
        except ValueError:
            return False
    if pattern is None:
        return value is None or (not isinstance(value, (Mapping, list)) and not value)
    if isinstance(pattern, str):
        if _REFERENCE.search(pattern):
            raise PatternUnsupported(f"$(...) reference in pattern value {pattern!r}")
        return _string_pattern(value, pattern)
    raise PatternUnsupported(f"pattern leaf of type {type(pattern).__name__}")


def _anchor(key: str) -> tuple[str, str]:
    match = _ANCHOR.match(key)
    if not match:
        return "plain", key
    if match["prefix"] == "+":
        raise PatternUnsupported(f"add-if-not-present anchor '{key}' (mutate only)")
    return _ANCHOR_KINDS[match["prefix"]], match["name"]


def _has_anchors(pattern: Any) -> bool:
    if isinstance(pattern, Mapping):
        return any(_anchor(str(key))[0] != "plain" or _has_anchors(value) for key, value in pattern.items())
    if isinstance(pattern, list):
        return any(_has_anchors(item) for item in pattern)
    return False


Entry = tuple[tuple[str, str], Any]


@dataclass(frozen=True)
class MapPlan:
    """The order `_validate_map` walks one pattern mapping in: it depends on the pattern alone, so a
    policy's patterns are planned once (`pattern_plans`), not once per object."""

    node: Mapping[str, Any]
    first: list[Entry]
    ordered: list[Entry]
    #: (key, name) of the conditional, existence and negation anchors, whose presence a failure is judged by.
    noted: list[tuple[str, str]] = field(default_factory=list)
    parse_error: str = ""  # raised before anything is matched (an anchor meant for mutate rules)
    order_error: str = ""  # raised after the first-phase anchors, where the order of the rest is worked out


def _map_plan(pattern: Mapping[str, Any]) -> MapPlan:
    try:
        parsed = [(_anchor(str(key)), sub) for key, sub in pattern.items()]
    except PatternUnsupported as exc:
        return MapPlan(pattern, [], [], parse_error=str(exc))
    noted = [(str(key), name) for key, ((kind, name), _) in zip(pattern, parsed)
             if kind in ("conditional", "existence", "negation")]
    first = sorted((item for item in parsed if item[0][0] in _FIRST_PHASE),
                   key=lambda item: (item[0][0] != "conditional", item[0][1]))
    rest = sorted((item for item in parsed if item[0][0] not in _FIRST_PHASE), key=lambda item: item[0][1])
    try:
        front = [item for item in rest if item[0][0] == "global" or _has_anchors(item[1])]
    except PatternUnsupported as exc:
        return MapPlan(pattern, first, [], noted, order_error=str(exc))
    return MapPlan(pattern, first, front[::-1] + [item for item in rest if item not in front], noted)


def pattern_plans(pattern: Any) -> dict[int, MapPlan]:
    """The plan of every mapping in `pattern`, by `id()` (each plan holds its mapping, so ids stay unique)."""
    plans: dict[int, MapPlan] = {}
    pending = [pattern]
    while pending:
        node = pending.pop()
        if isinstance(node, Mapping):
            plans[id(node)] = _map_plan(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return plans


class _Matcher:
    """One pattern match; remembers which conditional/existence/negation anchor keys the object had."""

    def __init__(self, plans: Mapping[int, MapPlan]) -> None:
        self.anchor_found: dict[str, bool] = {}
        self.plans = plans

    def plan(self, pattern: Mapping[str, Any]) -> MapPlan:
        planned = self.plans.get(id(pattern))
        return planned if planned is not None and planned.node is pattern else _map_plan(pattern)

    def note_anchors(self, value: Any, pattern: Mapping[str, Any]) -> None:
        plan = self.plan(pattern)
        if plan.parse_error:
            raise PatternUnsupported(plan.parse_error)
        for key, name in plan.noted:
            if not self.anchor_found.get(key):
                self.anchor_found[key] = _has_key(value, name)

    def validate(self, value: Any, pattern: Any, path: str) -> None:
        _validate(self, value, pattern, path)


def _has_key(value: Any, key: str) -> bool:
    if isinstance(value, Mapping):
        return key in value
    return isinstance(value, list) and any(_has_key(item, key) for item in value)


def _validate(matcher: _Matcher, value: Any, pattern: Any, path: str) -> None:
    if isinstance(pattern, Mapping):
        if not isinstance(value, Mapping):
            raise _Fail(path, f"expected a mapping, found {type(value).__name__}")
        matcher.note_anchors(value, pattern)
        _validate_map(matcher, value, pattern, path)
    elif isinstance(pattern, list):
        if not isinstance(value, list):
            raise _Fail(path, f"expected a list, found {type(value).__name__}")
        _validate_list(matcher, value, pattern, path)
    elif isinstance(value, list):
        for item in value:
            if not scalar_matches(item, pattern):
                raise _Fail(path, f"value {_text(item)!r} does not match pattern {_text(pattern)!r}")
    elif not scalar_matches(value, pattern):
        raise _Fail(path, f"value {_text(value)!r} does not match pattern {_text(pattern)!r}")


def _has_wildcard_keys(wanted: Any) -> bool:
    """Would `_expand_metadata` rewrite these keys (a wildcard, or a key that is not a string)?"""
    return isinstance(wanted, Mapping) and any(
        not isinstance(key, str) or "*" in key or "?" in key for key in wanted)


def _expand_metadata(value: Mapping[str, Any], pattern: Mapping[str, Any]) -> Mapping[str, Any]:
    """Wildcard keys in `metadata.labels` / `annotations` become the object's matching keys."""
    metadata = pattern.get("metadata")
    actual = value.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(actual, Mapping) or not any(
            _has_wildcard_keys(metadata.get(section)) for section in ("labels", "annotations")):
        return pattern  # nothing to expand: the pattern as it is (and as it was planned)
    expanded = dict(metadata)
    for section in ("labels", "annotations"):
        wanted, present = metadata.get(section), actual.get(section)
        if not isinstance(wanted, Mapping) or not isinstance(present, Mapping):
            continue
        keys: dict[str, Any] = {}
        for key, sub in wanted.items():
            match = _ANCHOR.match(str(key))
            name = match["name"] if match else str(key)
            names = [k for k in present if wildcard_match(name, str(k))] if "*" in name or "?" in name else []
            for found in names or [name]:
                keys[f"{match['prefix']}({found})" if match else found] = sub
        expanded[section] = keys
    return {**pattern, "metadata": expanded}


def _validate_map(matcher: _Matcher, value: Mapping[str, Any], pattern: Mapping[str, Any], path: str) -> None:
    plan = matcher.plan(_expand_metadata(value, pattern))
    if plan.parse_error:
        raise PatternUnsupported(plan.parse_error)
    for (kind, name), sub in plan.first:
        child = f"{path}{name}/"
        present = name in value
        if kind == "conditional":
            if not present:
                raise _Skip()
            try:
                matcher.validate(value[name], sub, child)
            except _Fail:
                raise _Skip() from None
        elif kind == "negation" and present:
            raise _Fail(child, f"field '{name}' is not allowed", negation=True)
        elif kind == "equality" and present:
            matcher.validate(value[name], sub, child)
        elif kind == "existence" and present:
            _validate_existence(matcher, value[name], sub, path=child)
    if plan.order_error:
        raise PatternUnsupported(plan.order_error)
    for (kind, name), sub in plan.ordered:
        child = f"{path}{name}/"
        if kind == "global":
            if name in value:
                try:
                    matcher.validate(value[name], sub, child)
                except _Fail:
                    raise _Skip() from None
        elif sub == "*":
            if value.get(name) is None:
                raise _Fail(child, f"field '{name}' is required")
        else:
            matcher.validate(value.get(name), sub, child)


def _validate_existence(matcher: _Matcher, items: Any, sub: Any, *, path: str) -> None:
    if not isinstance(items, list):
        raise _Fail(path, "an existence anchor ^() applies to a list")
    if not isinstance(sub, list) or not all(isinstance(p, Mapping) for p in sub):
        raise PatternUnsupported("existence anchor ^() needs a list of mappings as its pattern")
    for element_pattern in sub:
        if not any(_holds(matcher, item, element_pattern, f"{path}{i}/") for i, item in enumerate(items)):
            raise _Fail(path, f"no element at {path} matches the existence anchor pattern")


def _holds(matcher: _Matcher, value: Any, pattern: Any, path: str) -> bool:
    try:
        matcher.validate(value, pattern, path)
    except (_Fail, _Skip):
        return False
    return True


def _validate_list(matcher: _Matcher, value: list[Any], pattern: list[Any], path: str) -> None:
    if not pattern:
        raise _Fail(path, "empty list pattern")
    if isinstance(pattern[0], Mapping):
        _each(matcher, value, [pattern[0]] * len(value), path)
    elif not isinstance(pattern[0], list):
        matcher.validate(value, pattern[0], path)
    else:
        if len(value) < len(pattern):
            raise _Fail(path, f"expected at least {len(pattern)} elements")
        _each(matcher, value[: len(pattern)], pattern, path)


def _each(matcher: _Matcher, values: list[Any], patterns: list[Any], path: str) -> None:
    applied = skipped = 0
    for index, (item, sub) in enumerate(zip(values, patterns)):
        try:
            matcher.validate(item, sub, f"{path}{index}/")
            applied += 1
        except _Skip:
            skipped += 1
    if skipped and not applied:
        raise _Skip()


def match_pattern(resource: Any, pattern: Any, *, plans: Mapping[int, MapPlan] | None = None) -> PatternResult:
    """Pass, fail (with the slash path Kyverno reports), skip or error; raises `PatternUnsupported`.

    Kyverno reports an error, not a failure, when the pattern failed and one of its
    conditional, existence or negation anchor keys was never present in the object.
    `plans`: `pattern_plans(pattern)`, when the same pattern is matched against many objects."""
    matcher = _Matcher(plans or {})
    try:
        matcher.validate(resource, pattern, "/")
    except _Fail as failure:
        if failure.negation or all(matcher.anchor_found.values()):
            return PatternResult("fail", failure.path, failure.message)
        return PatternResult("error", "", f"{failure.message} (an anchor key is missing in the resource)")
    except _Skip:
        return PatternResult("skip", "/", "a conditional or global anchor did not match")
    return PatternResult("pass")
