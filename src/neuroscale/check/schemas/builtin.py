"""Kubernetes built-in kinds, validated against kubernetes-validate's bundled schemas.

kubernetes-validate ships the OpenAPI schemas of every supported Kubernetes
release as JSON Schema, in a strict variant where unknown fields are errors. We
read those data files (not its validate() function, which is ~11 ms per object)
and cut each kind's schema down to the definitions it reaches, then compile it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from neuroscale.check.schemas.compiled import CompiledSchema, code_digest
from neuroscale.check.verdicts import VerdictCache
from neuroscale.errors import InvalidInput

_DIR = re.compile(r"^v(\d+\.\d+)\.\d+-local-strict$")
_DROP = frozenset({"description", "format", "$schema", "$id"})
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _schema_root() -> Path:
    """The schemas kubernetes-validate ships, found without importing it (its import pulls in PyYAML and more)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("kubernetes-validate is not installed", name="kubernetes_validate")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def bundled_versions() -> list[str]:
    """Kubernetes minor releases with bundled strict schemas, oldest first."""
    found = {m.group(1) for d in _schema_root().iterdir() if (m := _DIR.match(d.name))}
    return sorted(found, key=Version)


def resolve_version(requested: str | None) -> str:
    """The bundled release to use for `requested` (e.g. "1.31", "v1.31.2"); newest when None."""
    versions = bundled_versions()
    if requested is None:
        return versions[-1]
    match = re.match(r"^v?(\d+\.\d+)", requested.strip())
    try:
        wanted = Version(match.group(1)) if match else None
    except InvalidVersion:
        wanted = None
    usable = [v for v in versions if wanted is not None and Version(v) <= wanted]
    if wanted is None or not usable:
        raise InvalidInput(f"no bundled Kubernetes schemas for version {requested!r}", where="--kubernetes-version",
                           fix=f"use one of {versions[0]} .. {versions[-1]}")
    return usable[-1]


def _clean(node: Any, refs: set[str]) -> Any:
    """Schema without prose and extensions; references point into a local `$defs`."""
    if isinstance(node, list):
        return [_clean(item, refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-kubernetes"):
            continue
        if key == "$ref":
            name = str(value).rsplit("/", 1)[-1]
            refs.add(name)
            out[key] = f"#/$defs/{name}"
        elif key == "properties" and isinstance(value, dict):
            out[key] = {prop: _clean(sub, refs) for prop, sub in value.items()}
        else:
            out[key] = _clean(value, refs)
    return out


class BuiltinSchemas:
    """Compiled validators for the built-in kinds of one Kubernetes release, built on first use."""

    def __init__(self, version: str, *, cache_dir: Path | None, verdicts: VerdictCache | None = None) -> None:
        self.version = version
        self._dir = next(d for d in _schema_root().iterdir() if d.name.startswith(f"v{version}.") and d.name.endswith("-local-strict"))
        self._cache_dir = cache_dir
        self._verdicts = verdicts
        self._compiled: dict[tuple[str, str], CompiledSchema | None] = {}
        self._served: dict[str, list[str]] = {}

    @cached_property
    def _definitions(self) -> dict[str, Any]:
        data = json.loads((self._dir / "_definitions.json").read_text(encoding="utf-8"))
        return dict(data["$defs"])

    def _kind_source(self, api_version: str, kind: str) -> tuple[dict[str, Any], str] | None:
        """The kind's own schema file (before its definitions are resolved) and a key naming its content."""
        group, _, version = api_version.rpartition("/")
        prefix = f"{group.split('.')[0]}-" if group else ""
        path = self._dir / f"{kind.lower()}-{prefix}{version}.json"
        if not path.is_file():
            return None
        text = path.read_bytes()
        raw = json.loads(text)
        gvks = raw.get("x-kubernetes-group-version-kind") or []
        if not any(g.get("group", "") == group and g.get("kind") == kind for g in gvks):
            return None  # a custom group sharing a prefix (serving.kserve.io vs serving.knative.dev)
        return raw, self._source_key(text)

    def _source_key(self, text: bytes) -> str:
        """Names a kind's schema without resolving it: its file, the release's definitions file, this code."""
        stat = (self._dir / "_definitions.json").stat()
        stamp = f"{self._dir}:{stat.st_size}:{stat.st_mtime_ns}".encode()
        return hashlib.sha256(text + stamp + code_digest(__file__)).hexdigest()[:32]

    def _standalone(self, raw: dict[str, Any]) -> dict[str, Any]:
        """`raw` with every definition it reaches copied into its own `$defs`."""
        refs: set[str] = set()
        schema: dict[str, Any] = _clean(raw, refs)
        definitions: dict[str, Any] = {}
        pending = sorted(refs)
        while pending:
            name = pending.pop()
            if name in definitions:
                continue
            more: set[str] = set()
            definitions[name] = _clean(self._definitions[name], more)
            pending.extend(more - definitions.keys())
        schema["$defs"] = definitions
        return schema

    @cached_property
    def object_meta(self) -> CompiledSchema:
        """Validator for `metadata` (ObjectMeta), which a CRD's schema leaves to the API server."""
        return CompiledSchema(lambda: self._standalone({"$ref": f"#/$defs/{OBJECT_META}"}), cache_dir=self._cache_dir,
                              source_key=self._source_key(OBJECT_META.encode()), verdicts=self._verdicts)

    def served_versions(self, kind: str) -> list[str]:
        """The apiVersions this release serves a built-in kind under (`['networking.k8s.io/v1']` for Ingress)."""
        if kind not in self._served:
            served = set()
            for path in self._dir.glob(f"{kind.lower()}-*.json"):
                gvks = json.loads(path.read_bytes()).get("x-kubernetes-group-version-kind") or []
                served |= {f"{g['group']}/{g['version']}" if g.get("group") else str(g.get("version"))
                           for g in gvks if g.get("kind") == kind}
            self._served[kind] = sorted(served)
        return self._served[kind]

    def get(self, api_version: str, kind: str) -> CompiledSchema | None:
        """Validator for a built-in kind, or None when the kind is not built in."""
        key = (api_version, kind)
        if key not in self._compiled:
            found = self._kind_source(api_version, kind)
            self._compiled[key] = None if found is None else CompiledSchema(
                partial(self._standalone, found[0]), cache_dir=self._cache_dir, source_key=found[1],
                verdicts=self._verdicts)
        return self._compiled[key]
