"""Kyverno variables: `{{ JMESPath }}` substitution with Kyverno's rules, and the data they read.

Substitution follows Kyverno: a string that is exactly one variable takes the
variable's value (a list stays a list); otherwise each variable is printed
into the text (JSON for non-strings), innermost first, so nested variables
work; `\\{{ ... }}` is an escape that leaves `{{ ... }}` in place; keys are
substituted as well as values; `{{ @ }}` in a pattern is the resource value
at the same place. A plain path that names a key the data does not have
(`request.object.metadata.labels.team` on an object without that label) is
an error, as Kyverno's "Unknown key" is - policies write `|| ''` for a
default. Expressions run with Kyverno's custom functions (`kyverno_functions`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors

from neuroscale.policy.kyverno_functions import FunctionError, KyvernoFunctions

_VARIABLE = re.compile(r"(^|[^\\])(\{\{(?:\{[^{}]*\}|[^{}])*\}\})")
_ESCAPED = re.compile(r"\\(\{\{(?:\{[^{}]*\}|[^{}])*\}\})")
_PLAIN_PATH = re.compile(r'^\s*(?:[A-Za-z_][\w-]*|"[^"]*")(?:\s*(?:\.\s*(?:[A-Za-z_]\w*|"[^"]*")|\[\d+\]))*\s*$')
_PATH_STEP = re.compile(r'[A-Za-z_][\w-]*|"([^"]*)"|\[(\d+)\]')
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
#: Nested variables are resolved innermost first; a value that expands to itself must not loop forever.
_MAX_ROUNDS = 256


class ConditionUnsupported(Exception):
    """A function or construct offline evaluation does not have: the rule cannot be evaluated."""


class ConditionError(Exception):
    """A variable did not resolve, or a function rejected its input: the rule errors, as in Kyverno."""


_OPTIONS: jmespath.Options | None = None


def _options() -> jmespath.Options:
    global _OPTIONS
    if _OPTIONS is None:
        _OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())
    return _OPTIONS


@lru_cache(maxsize=4096)
def compiled(expression: str) -> Any:
    """The parsed JMESPath expression (cached); `ConditionUnsupported` when it does not parse."""
    try:
        return jmespath.compile(expression)
    except jmespath_errors.JMESPathError as exc:
        raise ConditionUnsupported(f"JMESPath {expression!r} does not parse: {str(exc).splitlines()[0]}") from None


def variables_in(text: str) -> list[str]:
    """The expressions of the `{{ }}` variables in `text` (outermost nesting level skipped)."""
    return [match.group(2)[2:-2].strip() for match in _VARIABLE.finditer(text)]


def check_syntax(value: Any) -> None:
    """Parse every `{{ }}` in `value` (any nesting) so syntax errors surface at load time."""
    if isinstance(value, str):
        for expression in variables_in(value):
            if expression != "@" and "{{" not in expression:
                compiled(expression)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_syntax(key)
            check_syntax(item)
    elif isinstance(value, list):
        for item in value:
            check_syntax(item)


def _missing_step(expression: str, data: Any) -> str | None:
    """For a plain path that found nothing: the key a mapping on the way lacks (Kyverno's NotFound)."""
    current = data
    for step in _PATH_STEP.finditer(expression):
        if step.group(2) is not None:
            index = int(step.group(2))
            if not isinstance(current, list) or index >= len(current):
                return None
            current = current[index]
            continue
        key = step.group(1) if step.group(1) is not None else step.group(0)
        if not isinstance(current, Mapping):
            return None
        if key not in current:
            return key
        current = current[key]
    return None


def resolve(expression: str, data: Any) -> Any:
    """The value of one JMESPath expression over `data`, with Kyverno's errors."""
    try:
        result = compiled(expression).search(data, options=_options())
    except jmespath_errors.UnknownFunctionError as exc:
        raise ConditionUnsupported(f"JMESPath function not available offline: {exc}") from None
    except FunctionError as exc:
        raise ConditionError(f"{{{{ {expression} }}}}: {exc}") from None
    except jmespath_errors.JMESPathError as exc:
        raise ConditionError(f"{{{{ {expression} }}}}: {str(exc).splitlines()[0]}") from None
    if result is None and _PLAIN_PATH.match(expression):
        missing = _missing_step(expression, data)
        if missing is not None:
            raise ConditionError(f"variable {{{{ {expression} }}}}: unknown key {missing!r} "
                                 "(write `|| ''` for a default)")
    return result


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


def _here(path: tuple[Any, ...]) -> str:
    """The JMESPath of the resource value at a pattern position (for `{{ @ }}`)."""
    parts = ["request", "object"]
    for step in path:
        if isinstance(step, int):
            parts[-1] += f"[{step}]"
            continue
        key = re.sub(r"^[=X^<+]?\((.*)\)$", r"\1", str(step))
        parts.append(key if _IDENTIFIER.match(key) else json.dumps(key))
    return ".".join(parts)


def substitute_text(text: str, data: Mapping[str, Any], *, path: tuple[Any, ...] = ()) -> Any:
    """One string with its variables resolved; a whole-string variable keeps the value's type."""
    found = _VARIABLE.search(text)
    rounds = 0
    while found is not None:
        rounds += 1
        if rounds > _MAX_ROUNDS:
            raise ConditionError(f"variables in {text[:80]!r} keep expanding to more variables")
        whole = found.group(2)
        expression = whole[2:-2].strip()
        if expression == "@":
            expression = _here(path)
        value = resolve(expression, data)
        if whole == text:
            return value
        start = found.start(2)
        text = text[:start] + _json_text(value) + text[found.end(2):]
        found = _VARIABLE.search(text)
    return _ESCAPED.sub(r"\1", text)


def substitute(value: Any, data: Mapping[str, Any], *, path: tuple[Any, ...] = ()) -> Any:
    """`value` with every `{{ }}` resolved, recursively through keys, values and lists."""
    if isinstance(value, str):
        return substitute_text(value, data, path=path) if "{{" in value else value
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            new_key = substitute(key, data, path=path) if isinstance(key, str) and "{{" in key else key
            result[_json_text(new_key) if not isinstance(new_key, str) else new_key] = substitute(
                item, data, path=(*path, key))
        return result
    if isinstance(value, list):
        return [substitute(item, data, path=(*path, index)) for index, item in enumerate(value)]
    return value


def has_variables(value: Any) -> bool:
    return "{{" in repr(value)


_PATH_PART = re.compile(r'"([^"]*)"|([^.]+)')


def path_parts(dotted: str) -> list[str]:
    """The keys of a values entry's dotted name; a double-quoted part is one key, dots and all
    (`metadata.annotations."example.com/team"`)."""
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _PATH_PART.finditer(dotted)]


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Store a `kyverno test` values entry (`request.object.metadata.name: x`, or a nested mapping, which
    merges) into nested data."""
    parts = path_parts(dotted)
    target = data
    for part in parts[:-1]:
        child = target.get(part)
        # Copy on the way down: the mappings may be the resource itself, shared with other rules.
        child = dict(child) if isinstance(child, Mapping) else {}
        target[part] = child
        target = child
    existing = target.get(parts[-1])
    target[parts[-1]] = _merged(existing, value) if isinstance(existing, Mapping) else value


def _merged(base: Mapping[str, Any], value: Any) -> Any:
    """A nested values entry (`request: {operation: UPDATE}`) merges into what is there, as the CLI does."""
    if not isinstance(value, Mapping):
        return value
    merged = dict(base)
    for key, item in value.items():
        merged[key] = _merged(merged[key], item) if isinstance(merged.get(key), Mapping) else item
    return merged
