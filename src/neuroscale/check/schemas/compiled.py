"""JSON Schema validators that pay for compilation only when it pays back.

Measured hot path: kubernetes-validate builds a referencing registry and a
jsonschema validator per object (~11 ms each). Here schemas are compiled once to
Python code by `fastjsonschema` (~7-20 µs per object afterwards) and the code is
cached on disk by the schema's digest, so later runs skip code generation.
Compilation cost grows with the schema: a Deployment (~50 KB) compiles in ~0.2 s,
the InferenceService CRD (~690 KB, whole pod specs inlined) in ~0.7 s, while one
reused `jsonschema` validator checks 500 small InferenceServices in ~0.1-0.25 s.
So schemas above `EAGER_COMPILE_BYTES` are interpreted until a run has validated
`COMPILE_AFTER` objects against them (or an earlier run cached their code).
Failures are always described by `jsonschema`, which lists every error with its
path rather than the first.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import CodeType
from typing import Any

import fastjsonschema
import jsonschema

_Validate = Callable[[Any], Any]


@dataclass(frozen=True)
class SchemaError:
    path: str  # dotted field path, e.g. "spec.template.spec.containers[0]"
    message: str


#: Schemas up to this size (as JSON) are compiled at once (see module docstring).
EAGER_COMPILE_BYTES = 200_000
#: Objects validated against a larger schema in one run before compiling it pays off.
COMPILE_AFTER = 2000


class CompiledSchema:
    """A JSON Schema (draft 7 keywords, `$defs` for references) ready to validate objects.

    `schema` may be a function building it (a CRD's converted schema) with `source_key`
    naming what it is built from: code an earlier run compiled for that source is then used
    without building the schema at all (converting the InferenceService CRD costs ~0.1-0.2 s
    of every warm run); it is built only to describe a failure or to be interpreted.
    """

    def __init__(self, schema: dict[str, Any] | Callable[[], dict[str, Any]], *, cache_dir: Path | None,
                 source_key: str = "") -> None:
        self._build = schema if callable(schema) else None
        if not callable(schema):
            self.schema = schema
        tag = sys.implementation.cache_tag
        self._entries = [cache_dir / f"schema-source-{source_key}.{tag}.bin"] if cache_dir and source_key else []
        self._validate = _cached(self._entries[0]) if self._entries else None
        self._seen = 0
        if self._validate is not None:
            return
        text = json.dumps(self.schema, sort_keys=True)
        self._digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        if cache_dir:
            self._entries.insert(0, cache_dir / f"schema-{self._digest}.{tag}.bin")
            self._validate = _cached(self._entries[0], also=self._entries[1:])
        if self._validate is None and len(text) <= EAGER_COMPILE_BYTES:
            self._validate = _compile(self.schema, digest=self._digest, entries=self._entries)

    @cached_property
    def schema(self) -> dict[str, Any]:
        assert self._build is not None  # set in __init__ otherwise
        return self._build()

    @cached_property
    def _interpreted(self) -> jsonschema.Draft7Validator:
        return jsonschema.Draft7Validator(self.schema)

    def errors(self, data: Any, *, limit: int = 20) -> list[SchemaError]:
        self._seen += 1
        if self._validate is None and self._seen > COMPILE_AFTER:
            self._validate = _compile(self.schema, digest=self._digest, entries=self._entries)
        if self._validate is None:
            return [] if self._interpreted.is_valid(data) else self._described(data, limit)
        try:
            self._validate(data)
            return []
        except fastjsonschema.JsonSchemaValueException as first:
            return self._described(data, limit) or [
                SchemaError(".".join(str(p) for p in first.path[1:]), first.message)]

    def _described(self, data: Any, limit: int) -> list[SchemaError]:
        return [SchemaError(_dotted(err.absolute_path), err.message)
                for _, err in zip(range(limit), self._interpreted.iter_errors(data))]


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
        _write(other, data)
    return validate


def _write(entry: Path, data: bytes) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, entry)


def _compile(schema: dict[str, Any], *, digest: str, entries: Sequence[Path]) -> _Validate:
    """Validator function for `schema`; the generated bytecode is cached at every one of `entries`."""
    code = compile(fastjsonschema.compile_to_code(factor_subschemas(schema)), f"<schema {digest}>", "exec")
    for entry in entries:
        _write(entry, marshal.dumps(code))
    return _load(code)
