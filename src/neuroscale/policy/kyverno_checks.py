"""What a Kyverno validate block asserts - pattern, anyPattern, deny, foreach - compiled and run.

A `Check` applies to the object itself or, for `foreach`, to every element of
a JMESPath list (with `element` / `elementIndex` bound for variables and the
entry's own preconditions). Results are counted like Kyverno does: an element
whose conditional anchors or preconditions do not hold is skipped; a rule
that applied to nothing is `skip`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neuroscale.policy.kyverno_conditions import (
    ConditionUnsupported, check_syntax, conditions_hold, lookup, substitute,
)
from neuroscale.policy.pattern import match_pattern

_OBJECT_PATH = re.compile(r"^\s*request\.object((?:\.[A-Za-z0-9_-]+)+)\s*$")


@dataclass(frozen=True)
class Check:
    """One assertion: patterns (any of them must hold) or deny conditions, over the object or a list."""

    patterns: tuple[Any, ...] = ()
    deny: Any = None
    list_expression: str = ""
    preconditions: Any = None
    templated: bool = False


@dataclass
class Outcome:
    applied: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


def _check(block: Mapping[str, Any], *, list_expression: str = "") -> Check:
    deny = block.get("deny")
    if deny is not None:
        conditions = deny.get("conditions") if isinstance(deny, Mapping) else None
        if conditions is None:
            raise ConditionUnsupported("validate.deny without conditions")
        return Check(deny=conditions, list_expression=list_expression, preconditions=block.get("preconditions"))
    if block.get("anyPattern"):
        patterns = tuple(block["anyPattern"])
    elif block.get("pattern") is not None:
        patterns = (block["pattern"],)
    else:
        raise ConditionUnsupported("validate block without pattern, anyPattern, deny or cel")
    return Check(patterns=patterns, list_expression=list_expression, preconditions=block.get("preconditions"),
                 templated="{{" in repr(patterns))


def compile_checks(validate: Mapping[str, Any]) -> list[Check]:
    """The checks of a validate block; `ConditionUnsupported` names what cannot run offline."""
    check_syntax(validate)
    if not validate.get("foreach"):
        return [_check(validate)]
    checks = []
    entries = validate["foreach"]
    for entry in entries if isinstance(entries, list) else [entries]:
        if not isinstance(entry, Mapping) or not entry.get("list"):
            raise ConditionUnsupported("validate.foreach entry without a list")
        unsupported = [key for key in ("foreach", "context") if entry.get(key)]
        if unsupported:
            raise ConditionUnsupported(f"validate.foreach with {', '.join(unsupported)}")
        checks.append(_check(entry, list_expression=str(entry["list"])))
    return checks


def _display(expression: str) -> str:
    plain = _OBJECT_PATH.match(expression)
    return plain.group(1).replace(".", "/") if plain else f"/{expression}"


def _targets(check: Check, obj: Any, data: Mapping[str, Any]) -> list[tuple[str, Any, Mapping[str, Any]]]:
    if not check.list_expression:
        return [("", obj, data)]
    items = lookup(check.list_expression, data)
    base = _display(check.list_expression)
    return [(f"{base}/{index}", item, {**data, "element": item, "elementIndex": index})
            for index, item in enumerate(items if isinstance(items, list) else [])]


def run_checks(checks: list[Check], obj: Any, data: Mapping[str, Any]) -> Outcome:
    """Apply every check; raises ConditionUnsupported / ConditionError / PatternUnsupported."""
    outcome = Outcome()
    for check in checks:
        for path, target, scope in _targets(check, obj, data):
            if check.preconditions is not None and not conditions_hold(check.preconditions, scope):
                continue
            if check.deny is not None:
                outcome.applied += 1
                if conditions_hold(check.deny, scope):
                    outcome.failures.append((path or "/", "the deny conditions hold"))
                continue
            patterns = [substitute(p, scope) for p in check.patterns] if check.templated else check.patterns
            results = [match_pattern(target, pattern) for pattern in patterns]
            if any(r.status == "pass" for r in results):
                outcome.applied += 1
            elif not all(r.status == "skip" for r in results):
                outcome.applied += 1
                failed = next(r for r in results if r.status == "fail")
                outcome.failures.append((path + failed.path if path else failed.path, failed.message))
    return outcome
