"""What a Kyverno validate block asserts - pattern, anyPattern, deny, foreach - compiled and run as Kyverno does.

A block is compiled once (`compile_block`: syntax of every variable, context
entries offline can provide, known keys) and run per resource (`run_block`)
with Kyverno's statuses: `pass`, `fail`, `skip` (preconditions not met, a
conditional anchor did not hold, foreach over nothing) and `error` (a
variable did not resolve, a function rejected its input). A `deny` without
conditions denies whenever the rule applies. `foreach` runs its body once per
element of its list with `element` / `elementIndex` (and `element<N>` /
`elementIndex<N>` by nesting depth) bound; a mapping element is also the
resource its patterns see unless `elementScope: false`. Entries may nest, and
carry their own `context` and `preconditions`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neuroscale.policy.kyverno_conditions import conditions_hold
from neuroscale.policy.kyverno_context import ContextSources, check_entries, load_entries
from neuroscale.policy.kyverno_variables import (
    ConditionError, ConditionUnsupported, check_syntax, has_variables, resolve, substitute,
)
from neuroscale.policy.pattern import MapPlan, match_pattern, pattern_plans

_BLOCK_KEYS = ("pattern", "anyPattern", "deny", "foreach")
_OBJECT_PATH = re.compile(r"^\s*(?:\{\{\s*)?request\.object((?:\.[A-Za-z0-9_-]+)+)\s*(?:\}\}\s*)?$")


@dataclass(frozen=True)
class Block:
    """A validate block or one foreach entry."""

    patterns: tuple[Any, ...] = ()
    #: Per pattern: its mappings' match order, worked out once; None for a pattern with variables
    #: (substituted per resource, so planned per resource).
    plans: tuple[dict[int, MapPlan] | None, ...] = ()
    any_pattern: bool = False
    deny: Any = None
    foreach: tuple[ForEach, ...] = ()
    context: Any = None
    preconditions: Any = None


@dataclass(frozen=True)
class ForEach:
    list_expression: str
    element_scope: bool | None
    body: Block


@dataclass(frozen=True)
class Result:
    status: str
    path: str = ""
    message: str = ""


def compile_block(block: Mapping[str, Any], *, given: Mapping[str, Any] | None = None, nested: bool = False) -> Block:
    """A validate block (or foreach entry); `ConditionUnsupported` names what cannot run offline."""
    check_syntax(block)
    if nested:
        check_entries(block.get("context"), given=given)
    present = [key for key in _BLOCK_KEYS if block.get(key) is not None]
    if len(present) != 1:
        raise ConditionUnsupported("a validate block needs exactly one of pattern, anyPattern, deny or foreach"
                                   f" (found {', '.join(present) or 'none'})")
    deny = block.get("deny")
    if deny is not None and not isinstance(deny, Mapping):
        raise ConditionUnsupported("validate.deny must be a mapping")
    foreach: list[ForEach] = []
    entries = block.get("foreach")
    for entry in entries if isinstance(entries, list) else ([entries] if entries else []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("list"), str):
            raise ConditionUnsupported("foreach entry without a list expression")
        scope = entry.get("elementScope")
        foreach.append(ForEach(list_expression=entry["list"], body=compile_block(entry, given=given, nested=True),
                               element_scope=scope if isinstance(scope, bool) else None))
    any_pattern = block.get("anyPattern")
    patterns = tuple(any_pattern) if isinstance(any_pattern, list) else (
        (block["pattern"],) if block.get("pattern") is not None else ())
    plans = tuple(None if has_variables(p) else pattern_plans(p) for p in patterns)
    return Block(patterns=patterns, plans=plans, any_pattern=any_pattern is not None, foreach=tuple(foreach),
                 deny=(deny.get("conditions") or {}) if isinstance(deny, Mapping) else None,
                 context=block.get("context") if nested else None,
                 preconditions=block.get("preconditions") if nested else None)


def _match(block: Block, resource: Any, data: Mapping[str, Any]) -> Result:
    try:
        patterns = [(substitute(p, data), None) if plans is None else (p, plans)
                    for p, plans in zip(block.patterns, block.plans)]
    except ConditionError as exc:
        return Result("error", message=f"variable substitution failed: {exc}")
    results = [match_pattern(resource, pattern, plans=plans) for pattern, plans in patterns]
    if any(r.status == "pass" for r in results):
        return Result("pass")
    failed = [r for r in results if r.status in ("fail", "error")]
    if not failed:
        return Result("skip", message="conditional anchors did not match")
    if not block.any_pattern and failed[0].status == "error":
        return Result("error", message=failed[0].message)
    first = next((r for r in failed if r.status == "fail"), failed[0])
    return Result("fail", first.path, first.message)


def _display(expression: str) -> str:
    plain = _OBJECT_PATH.match(expression)
    return plain.group(1).replace(".", "/") if plain else f"/{expression.strip()}"


def _elements(expression: str, data: Mapping[str, Any]) -> list[Any] | None:
    text = expression.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[2:-2].strip()
    try:
        found = resolve(text, data)
    except ConditionError:
        return None
    return found if isinstance(found, list) else None


def _run_foreach(entry: ForEach, resource: Any, data: Mapping[str, Any], *, sources: ContextSources,
                 depth: int) -> tuple[Result, int]:
    elements = _elements(entry.list_expression, data)
    applied = 0
    for index, element in enumerate(elements or []):
        if element is None:
            continue
        scope = {**data, "element": element, "elementIndex": index, f"element{depth}": element,
                 f"elementIndex{depth}": index}
        scoped = isinstance(element, Mapping) if entry.element_scope is None else entry.element_scope
        if scoped and not isinstance(element, Mapping):
            return Result("error", message="elementScope: true needs mapping elements"), applied
        result = run_block(entry.body, element if scoped else resource, scope, sources=sources, depth=depth + 1)
        if result.status == "skip":
            continue
        if result.status == "error" and index < len(elements or []) - 1:
            continue
        if result.status == "fail":
            return Result("fail", f"{_display(entry.list_expression)}/{index}{result.path}".rstrip("/") + "/",
                          result.message), applied
        if result.status != "pass":
            return result, applied
        applied += 1
    return Result("pass"), applied


def run_block(block: Block, resource: Any, data: Mapping[str, Any], *, sources: ContextSources,
              depth: int = 0) -> Result:
    """Run one block; raises `ConditionUnsupported` / `PatternUnsupported` for what cannot run offline."""
    scope = dict(data)
    try:
        if block.context:
            load_entries(block.context, scope, sources)
        if block.preconditions is not None and not conditions_hold(block.preconditions, scope):
            return Result("skip", message="preconditions not met")
        if block.deny is not None:
            return Result("fail", "/", "the deny conditions hold") if conditions_hold(block.deny, scope) \
                else Result("pass")
    except ConditionError as exc:
        return Result("error", message=str(exc))
    if block.patterns:
        return _match(block, resource, scope)
    applied = 0
    for entry in block.foreach:
        result, count = _run_foreach(entry, resource, scope, sources=sources, depth=depth)
        if result.status != "pass":
            return result
        applied += count
    return Result("pass") if applied else Result("skip", message="foreach applied to no element")
