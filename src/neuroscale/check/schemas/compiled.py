"""Compiled JSON Schema validators: fast pass/fail, precise messages on failure.

Measured hot path: kubernetes-validate builds a referencing registry and a
jsonschema validator per object (~11 ms each). Here each schema is compiled
once to Python code by `fastjsonschema` (~20 µs per object afterwards) and the
generated module is cached on disk keyed by the schema's digest, so later runs
skip code generation. Only when an object fails is the slower `jsonschema`
validator consulted, to list every error with its path rather than the first.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema

_Validate = Callable[[Any], Any]


@dataclass(frozen=True)
class SchemaError:
    path: str  # dotted field path, e.g. "spec.template.spec.containers[0]"
    message: str


class CompiledSchema:
    """A JSON Schema (draft 7 keywords, `$defs` for references) ready to validate objects."""

    def __init__(self, schema: dict[str, Any], *, cache_dir: Path | None) -> None:
        self.schema = schema
        self._validate = _compile(schema, cache_dir=cache_dir)
        self._precise: jsonschema.Draft7Validator | None = None

    def errors(self, data: Any, *, limit: int = 20) -> list[SchemaError]:
        try:
            self._validate(data)
            return []
        except fastjsonschema.JsonSchemaValueException as first:
            if self._precise is None:
                self._precise = jsonschema.Draft7Validator(self.schema)
            found = [SchemaError(_dotted(err.absolute_path), err.message)
                     for _, err in zip(range(limit), self._precise.iter_errors(data))]
            return found or [SchemaError(".".join(str(p) for p in first.path[1:]), first.message)]


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


def _compile(schema: dict[str, Any], *, cache_dir: Path | None) -> _Validate:
    if cache_dir is None:
        return fastjsonschema.compile(factor_subschemas(schema))  # type: ignore[no-any-return]
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:32]
    module_path = cache_dir / f"schema_{digest}.py"
    if not module_path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        code = fastjsonschema.compile_to_code(factor_subschemas(schema))
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(code)
        os.replace(tmp, module_path)
    spec = importlib.util.spec_from_file_location(f"neuroscale_schema_{digest}", module_path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py path always has a loader
        return fastjsonschema.compile(schema)  # type: ignore[no-any-return]
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.validate  # type: ignore[no-any-return]
