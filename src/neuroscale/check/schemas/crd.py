"""Custom resources, validated against their CustomResourceDefinition's schema.

A CRD's `openAPIV3Schema` is a structural OpenAPI schema with Kubernetes
extensions, not JSON Schema. `to_json_schema` converts it: `nullable` widens the
type, `x-kubernetes-int-or-string` accepts both, `x-kubernetes-preserve-unknown-fields`
keeps a subtree open, and every other object that lists `properties` is closed
(`additionalProperties: false`) — the API server prunes unknown fields silently,
which is exactly the mistake a strict check must catch.
"""

from __future__ import annotations

import hashlib
import marshal
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroscale.check.model import Document
from neuroscale.check.schemas import compiled
from neuroscale.check.schemas.compiled import CompiledSchema, UnusableSchema
from neuroscale.check.verdicts import VerdictCache

_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})
_NESTED_LIST = ("allOf", "anyOf", "oneOf")
_KEPT = frozenset({"enum", "required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
                   "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
                   "multipleOf", "default"})
_ROOT_FIELDS = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


class BrokenSchema(UnusableSchema):
    """The CRD's schema cannot be used: says where and why."""


def to_json_schema(node: Any, *, path: str = "openAPIV3Schema") -> dict[str, Any]:
    """JSON Schema equivalent of one structural-schema node (see module docstring)."""
    if not isinstance(node, dict):
        raise BrokenSchema(f"{path}: expected a schema object, found {type(node).__name__}")
    out: dict[str, Any] = {key: node[key] for key in _KEPT if key in node}
    kind = node.get("type")
    if kind is not None and kind not in _TYPES:
        raise BrokenSchema(f"{path}.type: unknown type {kind!r}")
    if "pattern" in node:
        try:
            re.compile(str(node["pattern"]))
        except re.error as exc:
            raise BrokenSchema(f"{path}.pattern: not a regular expression ({exc})") from None
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string", "null"] if node.get("nullable") else ["integer", "string"]
    elif kind:
        out["type"] = [kind, "null"] if node.get("nullable") else kind
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    properties = node.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise BrokenSchema(f"{path}.properties: expected a mapping")
        out["properties"] = {name: to_json_schema(sub, path=f"{path}.properties.{name}") for name, sub in properties.items()}
        if node.get("x-kubernetes-embedded-resource"):
            out["properties"] = {**_ROOT_FIELDS, **out["properties"]}
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = to_json_schema(additional, path=f"{path}.additionalProperties")
    elif isinstance(additional, bool):
        out["additionalProperties"] = additional
    elif properties is not None and not preserve:
        out["additionalProperties"] = False
    if "items" in node:
        out["items"] = to_json_schema(node["items"], path=f"{path}.items")
    for key in _NESTED_LIST:
        if key in node:
            if not isinstance(node[key], list):
                raise BrokenSchema(f"{path}.{key}: expected a list")
            converted = [to_json_schema(sub, path=f"{path}.{key}[{i}]") for i, sub in enumerate(node[key])]
            if key in out:  # int-or-string already took `anyOf`: require both
                out.setdefault("allOf", []).append({key: converted})
            else:
                out[key] = converted
    if "not" in node:
        out["not"] = to_json_schema(node["not"], path=f"{path}.not")
    return out


def root_schema(openapi: Any) -> dict[str, Any]:
    """Schema for a whole custom resource: the CRD's schema plus the object envelope."""
    schema = to_json_schema(openapi)
    properties = schema.setdefault("properties", {})
    for name, sub in _ROOT_FIELDS.items():
        properties[name] = sub  # metadata is ObjectMeta, checked by the API server, not by the CRD schema
    if "additionalProperties" not in schema and not (isinstance(openapi, dict) and openapi.get("x-kubernetes-preserve-unknown-fields")):
        schema["additionalProperties"] = False
    return schema


def _source_key(openapi: Any) -> str:
    """Names the compiled code of `openapi` (marshal: ~10x faster than JSON; another byte layout only misses)."""
    try:
        data = marshal.dumps(openapi)
    except ValueError:
        return ""  # not plain data (a timestamp from YAML): converted every run
    return hashlib.sha256(data + compiled.code_digest(__file__)).hexdigest()[:32]


@dataclass
class CrdVersion:
    """One served version of a CRD: where it came from and its (lazily compiled) schema."""

    source: str
    line: int
    openapi: Any
    compiled: CompiledSchema | None = None
    problem: str = ""


@dataclass
class CrdIndex:
    """Schemas of every custom resource kind defined by the CRDs seen, by (group, version, kind)."""

    cache_dir: Path | None = None
    verdicts: VerdictCache | None = None
    versions: dict[tuple[str, str, str], CrdVersion] = field(default_factory=dict)
    problems: list[tuple[Document, str]] = field(default_factory=list)

    def add(self, doc: Document) -> None:
        spec: Any = doc.data.get("spec") if isinstance(doc.data, dict) else None
        try:
            group, kind = spec["group"], spec["names"]["kind"]
            entries = spec.get("versions") or [{"name": spec["version"], "schema": spec.get("validation")}]
        except (KeyError, TypeError, AttributeError):
            self.problems.append((doc, "CRD lacks spec.group, spec.names.kind or spec.versions"))
            return
        for entry in entries:
            if not isinstance(entry, dict) or "name" not in entry:
                self.problems.append((doc, "CRD version entry without a name"))
                continue
            openapi = (entry.get("schema") or {}).get("openAPIV3Schema") if isinstance(entry.get("schema"), dict) else None
            if openapi is None:
                self.problems.append((doc, f"version {entry['name']} has no schema.openAPIV3Schema"))
                continue
            self.versions[(str(group), str(entry["name"]), str(kind))] = CrdVersion(doc.path, doc.line, openapi)

    def get(self, group: str, version: str, kind: str) -> CrdVersion | None:
        """The version entry with its validator (built on first use; if the schema turns out broken,
        `CompiledSchema.errors` raises `UnusableSchema` and the caller records it as the `problem`)."""
        entry = self.versions.get((group, version, kind))
        if entry is None or entry.compiled is not None or entry.problem:
            return entry
        openapi = entry.openapi
        entry.compiled = CompiledSchema(lambda: root_schema(openapi), cache_dir=self.cache_dir,
                                        source_key=_source_key(openapi), verdicts=self.verdicts)
        return entry

    def knows_kind(self, group: str, kind: str) -> bool:
        return any(key[0] == group and key[2] == kind for key in self.versions)
