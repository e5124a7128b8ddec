"""JSON Schema validators that pay for compilation only when it pays back, and verdicts that are kept.

Measured hot path: kubernetes-validate builds a referencing registry and a
jsonschema validator per object (~11 ms each). Here one `jsonschema` validator
is reused per schema (~0.03-0.5 ms per object), and a schema is compiled to
Python code by `fastjsonschema` (~7-20 µs per object afterwards) only once a
run has validated `COMPILE_AFTER` objects against it: compilation costs
~0.2 s for a Deployment (~50 KB) and ~0.7 s for the InferenceService CRD
(~690 KB, whole pod specs inlined), more than interpreting a few hundred
objects. Compiled code is cached on disk by the schema's digest (and its
source's key), so a later run loads it instead. Each object's verdict is also
kept by content (`VerdictCache`): a warm run neither loads nor builds the
schema of an unchanged object. Failures are always described by `jsonschema`,
which lists every error with its path rather than the first.

Before a schema is compiled, `jsonschema_rs` (native) screens each object: an
object it passes is valid, anything else is judged by `jsonschema` as before,
so it only ever saves time on valid objects (~1 ms each for a Deployment's
referenced definitions, ~1 s of a cold 1,000-object run). It must never pass
what `jsonschema` fails: its `pattern` is Rust's regex dialect, so the screen's
copy of the schema has each `pattern` keyword checked by Python's `re.search`,
as `jsonschema` does; schemas with `patternProperties` or `multipleOf` (exact
decimal arithmetic where `jsonschema` uses floats) are not screened.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from types import CodeType
from typing import Any

import fastjsonschema
import jsonschema
import jsonschema_rs

from neuroscale.atomic_file import replace_file
from neuroscale.check.verdicts import VerdictCache

_Validate = Callable[[Any], Any]


@dataclass(frozen=True)
class SchemaError:
    path: str  # dotted field path, e.g. "spec.template.spec.containers[0]"
    message: str


class UnusableSchema(ValueError):
    """The schema cannot be built or compiled (the message says why); raised when an object first needs it."""


#: Objects validated against one schema in one run before compiling it pays off (see module docstring).
COMPILE_AFTER = 500


@cache
def code_digest(converter: str) -> bytes:
    """What compiled code depends on besides the schema: the `converter` module's source, this one's, the compiler."""
    return Path(converter).read_bytes() + Path(__file__).read_bytes() + fastjsonschema.VERSION.encode()


def valid_verdict(value: Any) -> bool:
    """The shape a cached schema verdict must have: a list of [path, message] string pairs."""
    return isinstance(value, list) and all(
        isinstance(e, list) and len(e) == 2 and all(isinstance(s, str) for s in e) for e in value)


class CompiledSchema:
    """A JSON Schema (draft 7 keywords, `$defs` for references) ready to validate objects.

    `schema` may be a function building it (a CRD's converted schema) with `source_key`
    naming what it is built from: code an earlier run compiled for that source is then used
    without building the schema at all (converting the InferenceService CRD costs ~0.1-0.2 s
    of every warm run); it is built only to describe a failure or to be interpreted. Nothing
    is built or loaded until an object's verdict is not in `verdicts`.
    """

    def __init__(self, schema: dict[str, Any] | Callable[[], dict[str, Any]], *, cache_dir: Path | None,
                 source_key: str = "", verdicts: VerdictCache | None = None,
                 compile_after: int = COMPILE_AFTER) -> None:
        self._build = schema if callable(schema) else None
        if not callable(schema):
            self.schema = schema
        self._cache_dir = cache_dir
        self._source_key = source_key
        self._verdicts = verdicts
        self._compile_after = compile_after
        self._seen = 0
        self._validate: _Validate | None = None
        self._looked_up = False

    @cached_property
    def schema(self) -> dict[str, Any]:
        assert self._build is not None  # set in __init__ otherwise
        try:
            return self._build()
        except UnusableSchema:
            raise
        except (TypeError, ValueError) as exc:
            raise UnusableSchema(f"schema does not compile: {exc}") from None

    @cached_property
    def _digest(self) -> str:
        try:
            text = json.dumps(self.schema, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise UnusableSchema(f"schema does not compile: {exc}") from None
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def key(self) -> str:
        """Names this schema's content: its source's key when given (cheap), else the schema's digest."""
        return self._source_key or self._digest

    def _entries(self) -> list[Path]:
        """Where compiled code is cached: under the schema's digest, then under the source's key."""
        if self._cache_dir is None:
            return []
        tag = sys.implementation.cache_tag
        source = [self._cache_dir / f"schema-source-{self._source_key}.{tag}.bin"] if self._source_key else []
        return [self._cache_dir / f"schema-{self._digest}.{tag}.bin", *source]

    def _cached_code(self) -> _Validate | None:
        """Code an earlier run compiled, found by the source's key (nothing built) or the schema's digest."""
        if self._cache_dir is None:
            return None
        tag = sys.implementation.cache_tag
        if self._source_key:
            found = _cached(self._cache_dir / f"schema-source-{self._source_key}.{tag}.bin")
            if found is not None:
                return found
        entries = self._entries()
        return _cached(entries[0], also=entries[1:])

    @cached_property
    def _interpreted(self) -> jsonschema.Draft7Validator:
        return jsonschema.Draft7Validator(self.schema)

    def errors(self, data: Any, *, limit: int = 20) -> list[SchemaError]:
        """Errors of `data` against the schema (kept in, and taken from, the verdict cache)."""
        if self._verdicts is None:
            return self._errors(data, limit)
        key = self._verdicts.key(self.key, data)
        found = self._verdicts.get(key)
        if found is not None:
            return [SchemaError(path, message) for path, message in found]
        errors = self._errors(data, limit)
        self._verdicts.put(key, [[e.path, e.message] for e in errors])
        return errors

    def _errors(self, data: Any, limit: int) -> list[SchemaError]:
        self._seen += 1
        if not self._looked_up:
            self._looked_up = True
            self._validate = self._cached_code()
        if self._validate is None and self._seen > self._compile_after:
            self._validate = _compile(self.schema, digest=self._digest, entries=self._entries())
        if self._validate is None:
            if self._screened(data) or self._interpreted.is_valid(data):
                return []
            return self._described(data, limit)
        try:
            self._validate(data)
            return []
        except fastjsonschema.JsonSchemaValueException as first:
            return self._described(data, limit) or [
                SchemaError(".".join(str(p) for p in first.path[1:]), first.message)]

    @cached_property
    def _screen(self) -> jsonschema_rs.Draft7Validator | None:
        screened = _python_patterns(self.schema)
        if screened is None:
            return None
        try:
            return jsonschema_rs.Draft7Validator(screened, validate_formats=False,
                                                 keywords={_PYTHON_PATTERN: _PythonPattern})
        except (ValueError, TypeError, re.error, jsonschema_rs.ValidationError):
            return None  # a schema the native validator cannot build: interpreted only

    def _screened(self, data: Any) -> bool:
        """Whether the native validator passes `data` (False: it failed it, or could not read it)."""
        screen = self._screen
        if screen is None:
            return False
        try:
            return screen.is_valid(data)
        except (ValueError, TypeError, OverflowError):
            return False  # a value it cannot convert (a YAML timestamp, a huge integer): judged by jsonschema

    def _described(self, data: Any, limit: int) -> list[SchemaError]:
        return [SchemaError(_dotted(err.absolute_path), err.message)
                for _, err in zip(range(limit), self._interpreted.iter_errors(data))]


_PYTHON_PATTERN = "x-neuroscale-python-pattern"
_NOT_SCREENED = frozenset({"patternProperties", "multipleOf"})
_SUBSCHEMA = ("additionalProperties", "additionalItems", "not", "if", "then", "else", "contains", "propertyNames")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")


class _PythonPattern:
    """The `pattern` keyword as `jsonschema` reads it: a string must contain a match of Python's `re`."""

    def __init__(self, parent_schema: dict[str, Any], value: str, schema_path: list[str | int]) -> None:
        self.expression = re.compile(value)

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and self.expression.search(instance) is None:
            raise ValueError(f"does not match {self.expression.pattern!r}")


def _python_patterns(schema: Any) -> dict[str, Any] | None:
    """`schema` with every `pattern` keyword renamed to the Python-checked one; None when not screenable."""
    try:
        renamed: dict[str, Any] = _renamed(schema)
    except _Unscreenable:
        return None
    return renamed


class _Unscreenable(Exception):
    """The schema uses a keyword the screen does not read as `jsonschema` does."""


def _renamed(schema: Any) -> Any:
    """Walks the draft-7 keywords that hold subschemas, so a property named `pattern` stays as it is."""
    if not isinstance(schema, dict):
        return schema  # a boolean schema
    if not _NOT_SCREENED.isdisjoint(schema):
        raise _Unscreenable
    out = {(_PYTHON_PATTERN if key == "pattern" else key): value for key, value in schema.items()}
    for key in _SUBSCHEMA:
        if key in schema:
            out[key] = _renamed(schema[key])
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            out[key] = [_renamed(sub) for sub in schema[key]]
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            out[key] = {name: _renamed(sub) for name, sub in schema[key].items()}
    if "items" in schema:
        items = schema["items"]
        out["items"] = [_renamed(sub) for sub in items] if isinstance(items, list) else _renamed(items)
    if isinstance(schema.get("dependencies"), dict):  # a list of names, or a subschema
        out["dependencies"] = {name: sub if isinstance(sub, list) else _renamed(sub)
                               for name, sub in schema["dependencies"].items()}
    return out


def _dotted(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def factor_subschemas(schema: dict[str, Any], *, min_chars: int = 400) -> dict[str, Any]:
    """Same schema with every large subschema moved to `$defs` once, keyed by content.

    CRDs inline the same pod and container schemas dozens of times; compiled
    naively, the InferenceService CRD becomes 40 MB of Python. Shared
    definitions become one generated function each.
    """
    definitions: dict[str, Any] = dict(schema.get("$defs", {}))

    def walk(node: Any, *, top: bool = False) -> Any:
        if not isinstance(node, dict):
            return node
        out = dict(node)
        for key, value in node.items():
            if key in ("properties", "patternProperties") and isinstance(value, dict):
                out[key] = {name: walk(sub) for name, sub in value.items()}
            elif key in ("items", "additionalProperties", "not"):
                out[key] = walk(value)
            elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
                out[key] = [walk(sub) for sub in value]
        if top or "$ref" in out:
            return out
        text = json.dumps(out, sort_keys=True)
        if len(text) < min_chars:
            return out
        name = "f" + hashlib.sha256(text.encode()).hexdigest()[:16]
        definitions.setdefault(name, out)
        return {"$ref": f"#/$defs/{name}"}

    factored = walk(schema, top=True)
    factored["$defs"] = definitions
    return factored  # type: ignore[no-any-return]


def _load(code: CodeType) -> _Validate:
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - bytecode we generated from the schema ourselves
    return namespace["validate"]  # type: ignore[no-any-return]


def _cached(entry: Path, *, also: Sequence[Path] = ()) -> _Validate | None:
    """The validator an earlier run compiled and cached at `entry` (copied to `also`), or None."""
    if not entry.exists():
        return None
    try:
        data = entry.read_bytes()
        validate = _load(marshal.loads(data))
    except (EOFError, ValueError, TypeError):
        return None  # a truncated or foreign cache entry: compiled again when it pays
    for other in also:
        replace_file(other, data)
    return validate


def _compile(schema: dict[str, Any], *, digest: str, entries: Sequence[Path]) -> _Validate:
    """Validator function for `schema`; the generated bytecode is cached at every one of `entries`."""
    try:
        source = fastjsonschema.compile_to_code(factor_subschemas(schema))
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise UnusableSchema(f"schema does not compile: {exc}") from None
    code = compile(source, f"<schema {digest}>", "exec")
    for entry in entries:
        replace_file(entry, marshal.dumps(code))
    return _load(code)
