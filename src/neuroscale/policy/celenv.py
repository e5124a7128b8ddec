"""Compile CEL once, evaluate it many times, and refuse what cannot be evaluated faithfully.

Policies are evaluated for every object of a repository in CI, so each
expression is compiled exactly once per process (a dict cache: compiling costs
far more than executing). Before a program is accepted, the functions it
calls are checked against what this environment provides: an expression that
calls a function we do not have (e.g. the `authorizer` library) becomes an
`Unevaluable` error, never a silent pass.

The `cel` binding does not parse cel-go's optional syntax (`a.?b`, `m[?k]`),
which Kyverno and Kubernetes policies use a lot; `rewrite_optionals` turns it
into calls of two helper functions with the same semantics. Its `matches`
runs on another regex engine than cel-go's RE2, so `rewrite_matches` sends
it to RE2 (`neuroscale.policy.regex`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from neuroscale.policy.celbinding import binding as cel
from neuroscale.policy.k8s_cel import REGEX_MATCHES, kubernetes_functions

#: Functions and macros the Rust core provides (operators are named `_x_`, `@x` or `!_`).
_CORE_FUNCTIONS = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double", "string", "bytes",
    "bool", "timestamp", "duration", "dyn", "type", "has", "all", "exists", "exists_one", "map", "filter",
    "getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours",
    "getMinutes", "getSeconds", "getMilliseconds", "of", "none", "ofNonZeroValue", "orValue", "hasValue",
    "value", "or", "optSelect", "optIndex",
})

_MAX_SOURCE = 16_384

#: Variables the API server offers that need a live cluster.
_LIVE_ONLY_VARIABLES = {"authorizer": "the authorizer library (needs a live API server)"}


class Unevaluable(Exception):
    """The expression uses something this engine cannot evaluate faithfully."""


class EvaluationError(Exception):
    """The expression ran and failed (missing key, wrong type): the policy's failurePolicy decides."""


def _opt_select(target: Any, key: Any) -> cel.OptionalValue:
    if isinstance(target, cel.OptionalValue):
        if not target.has_value():
            return target
        target = target.value()
    if isinstance(target, dict) and key in target:
        return cel.OptionalValue.of(target[key])
    if isinstance(target, list) and isinstance(key, int) and -len(target) <= key < len(target) and key >= 0:
        return cel.OptionalValue.of(target[key])
    return cel.OptionalValue.none()


def _skip_string(source: str, start: int) -> int:
    """Index just past the string literal starting at `start` (a quote character)."""
    quote = source[start]
    triple = source[start:start + 3] == quote * 3
    delimiter = quote * 3 if triple else quote
    position = start + len(delimiter)
    while position < len(source):
        if source[position] == "\\":
            position += 2
            continue
        if source.startswith(delimiter, position):
            return position + len(delimiter)
        position += 1
    return position


_MATCHES_CALL = re.compile(r"(?<![\w$])matches(?=\s*\()")


def rewrite_matches(source: str) -> str:
    """Call RE2 for `matches` (the binding's built-in uses another engine), outside literals and comments."""
    if "matches" not in source:
        return source
    out: list[str] = []
    position = 0
    while position < len(source):
        quote = min((i for i in (source.find("'", position), source.find('"', position), source.find("//", position))
                     if i >= 0), default=len(source))
        out.append(_MATCHES_CALL.sub(REGEX_MATCHES, source[position:quote]))
        if quote == len(source):
            break
        end = _skip_literal(source, quote)
        out.append(source[quote:end])
        position = end
    return "".join(out)


def rewrite_optionals(source: str) -> str:
    """Turn `a.?b` into `a.optSelect("b")` and `a[?k]` into `a.optIndex(k)`, outside literals and comments."""
    if "?" not in source:
        return source
    out: list[str] = []
    brackets: list[bool] = []
    position = 0
    while position < len(source):
        char = source[position]
        if char in "'\"" or source.startswith("//", position):
            end = _skip_literal(source, position)
            out.append(source[position:end])
            position = end
            continue
        if char == "." and source.startswith(".?", position):
            ident_end = position + 2
            while ident_end < len(source) and (source[ident_end].isalnum() or source[ident_end] == "_"):
                ident_end += 1
            out.append(f'.optSelect("{source[position + 2:ident_end]}")')
            position = ident_end
            continue
        if char == "[":
            optional = source.startswith("[?", position) and bool("".join(out).rstrip()[-1:].strip("([,{:?!&|"))
            brackets.append(optional)
            out.append(".optIndex(" if optional else "[")
            position += 2 if optional else 1
            continue
        if char == "]" and brackets:
            out.append(")" if brackets.pop() else "]")
            position += 1
            continue
        out.append(char)
        position += 1
    return "".join(out)


_IDENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)")
_NUMBER_END = re.compile(r"(?<![A-Za-z0-9_.])[0-9]+$")
_CALL = re.compile(r"\s*\(")
_SELECT_SCAN = re.compile(r"['\".]|//|(?<![\w.])has\s*\(")
_HAS_ARGUMENT_END = re.compile(r"\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def _skip_literal(source: str, start: int) -> int:
    """Index just past the string literal or `//` comment (CEL has them) starting at `start`."""
    if source.startswith("//", start):
        end = source.find("\n", start)
        return len(source) if end < 0 else end
    return _skip_string(source, start)


def _closing(source: str, start: int) -> int:
    """Index of the `)` closing the `(` at `start`, outside string literals (len(source) when unbalanced)."""
    depth, position = 0, start
    while position < len(source):
        char = source[position]
        if char in "'\"" or source.startswith("//", position):
            position = _skip_literal(source, position)
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return position
        position += 1
    return len(source)


def rewrite_selects(source: str) -> str:
    """Turn field selection `a.b` into indexing `a['b']` (method calls and `has(a.b)`'s last field stay).

    The binding deep-copies the value a selection yields (`object.spec` copies the whole spec, every time),
    indexing does not, and in its interpreter selection is indexing with a string key: same values (errors
    can differ on optionals; `CelEnvironment.run` runs a failing program again as written). Measured: `object.spec.template.spec.containers[0].name` on a Deployment
    with 100 env entries 97 µs → 1 µs; the bundled policies on 1,009 objects ~0.2 s → see bench/RESULTS.md.
    """
    if "." not in source or "`" in source:
        return source
    out: list[str] = []
    position = 0
    while (found := _SELECT_SCAN.search(source, position)) is not None:
        out.append(source[position:found.start()])
        position = found.start()
        token = found.group()
        if token in ("'", '"', "//"):
            end = _skip_literal(source, position)
            out.append(source[position:end])
            position = end
        elif token != ".":  # `has(`: its argument's last field stays a selection, the macro needs one
            close = _closing(source, found.end() - 1)
            inner = source[found.end():close]
            last = _HAS_ARGUMENT_END.search(inner)
            out.append(token + (rewrite_selects(inner[:last.start()]) + inner[last.start():] if last else inner))
            position = close
        else:
            ident = _IDENT.match(source, position + 1)
            end = position
            while end > 0 and source[end - 1].isspace():
                end -= 1
            before = source[max(0, end - 64):end]  # the operand's end, as written
            # A `.` after a line with a `//` (a comment, or a URL in a string) stays: it may be a leading dot.
            # So does one after `)`: a call may return an optional, on which selecting and indexing fail
            # with different errors.
            operand = before[-1:] and (before[-1].isalnum() or before[-1] in "_]}'\"") and \
                "//" not in source[source.rfind("\n", 0, end) + 1:end]
            call = ident is not None and _CALL.match(source, ident.end()) is not None
            if ident and operand and not call and not _NUMBER_END.search(before):
                out.append(f"['{ident.group(1)}']")
                position = ident.end()
            else:
                out.append(".")
                position += 1
    out.append(source[position:])
    return "".join(out)


class CelEnvironment:
    """Function table plus a compile cache; one per process is plenty (see `default_environment`)."""

    def __init__(self, extra_functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.functions: dict[str, Callable[..., Any]] = kubernetes_functions()
        self.functions["optSelect"] = _opt_select
        self.functions["optIndex"] = _opt_select
        self.functions.update(extra_functions or {})
        self._known = _CORE_FUNCTIONS | {name.rsplit(".", 1)[-1] for name in self.functions}
        self._cache: dict[str, cel.Program | Unevaluable] = {}
        #: What each program says it runs (`source`): the expression before `rewrite_selects`, for messages.
        self._sources: dict[int, str] = {}
        #: The expression as written, compiled only when its rewritten program fails (see `run`).
        self._written: dict[str, cel.Program] = {}
        # The binding logs every failing callback at WARNING; those failures already become findings.
        binding_log = logging.getLogger("cel")
        binding_log.propagate = False
        if not binding_log.handlers:
            binding_log.addHandler(logging.NullHandler())

    def compile(self, source: str) -> cel.Program:
        """The compiled program, or `Unevaluable` naming the syntax error or unknown function."""
        cached = self._cache.get(source)
        if cached is None:
            cached = self._compile(source)
            self._cache[source] = cached
        if isinstance(cached, Unevaluable):
            raise cached
        return cached

    def _compile(self, source: str) -> cel.Program | Unevaluable:
        if not isinstance(source, str) or not source.strip():
            return Unevaluable("empty CEL expression")
        if len(source) > _MAX_SOURCE:
            return Unevaluable(f"CEL expression longer than {_MAX_SOURCE} characters")
        shown = rewrite_matches(rewrite_optionals(source))
        try:
            program = cel.compile(rewrite_selects(shown))
        except (ValueError, RuntimeError):
            try:  # the error names the expression and a column: as written, not as rewritten
                program = cel.compile(shown)
            except (ValueError, RuntimeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return Unevaluable(f"CEL does not compile: {first}")
        self._sources[id(program)] = shown
        live_only = [text for name, text in _LIVE_ONLY_VARIABLES.items() if name in program.variables()]
        if live_only:
            return Unevaluable(f"CEL uses {live_only[0]}")
        unknown = sorted(
            name for name in program.functions()
            if not name.startswith(("_", "@", "!")) and name not in self._known
        )
        if unknown:
            return Unevaluable(f"CEL calls functions this engine does not provide: {', '.join(unknown)}")
        return program

    def source(self, program: cel.Program) -> str:
        """The expression `program` was compiled from, as policies and messages show it."""
        return self._sources.get(id(program), program.source)

    def context(self) -> cel.Context:
        """A fresh evaluation context holding the function table; update variables per object."""
        return cel.Context(functions=self.functions)

    def run(self, program: cel.Program, context: cel.Context) -> Any:
        """Execute; map the binding's exceptions onto `Unevaluable` / `EvaluationError`.

        A rewritten program that fails runs again as written, so every error is the one the expression as
        written gives: selecting a field of an optional holding a non-map fails with another message than
        indexing it does. Where the rewritten program succeeds, the written one gives the same value.
        """
        try:
            return self._execute(program, context)
        except (Unevaluable, EvaluationError):
            shown = self._sources.get(id(program))
            if shown is None or shown == program.source:
                raise
        written = self._written.get(shown)
        if written is None:
            written = self._written[shown] = cel.compile(shown)
        return self._execute(written, context)

    @staticmethod
    def _execute(program: cel.Program, context: cel.Context) -> Any:
        try:
            return program.execute(context)
        except RuntimeError as exc:
            text = str(exc)
            if "Undefined variable or function" in text:
                raise Unevaluable(text.split(".")[0]) from None
            raise EvaluationError(text.split(". Check")[0]) from None
        except (KeyError, IndexError) as exc:
            raise EvaluationError(f"no such key: {exc}") from None
        except (ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
            raise EvaluationError(str(exc).split(". Check")[0]) from None


_DEFAULT: CelEnvironment | None = None


def default_environment() -> CelEnvironment:
    """The process-wide environment (built lazily: no work at import)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CelEnvironment()
    return _DEFAULT
