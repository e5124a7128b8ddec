"""Reading Helm charts the repository vendors: wrapper charts and their dependencies.

A wrapper chart's values for a dependency sit under the dependency's name (or
alias). What the dependency actually reads is knowable without Helm: the keys
of its `values.yaml`, the properties of its `values.schema.json` and the
`.Values.a.b` paths its templates mention. Charts are read from a chart
directory or a packaged `charts/*.tgz` (bounded: sizes are capped).
"""

from __future__ import annotations

import functools
import io
import json
import re
import tarfile
from dataclasses import dataclass, field
from typing import Any

from neuroscale.check.lints.base import dig
from neuroscale.check.model import Document, RepoView
from neuroscale.errors import InvalidInput
from neuroscale.yamlio import load_all

_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z0-9_]+)+)")
_MAX_MEMBER = 4 * 1024 * 1024


@dataclass(frozen=True)
class ChartModel:
    """What a chart reads: default values, schema properties, template value paths."""

    name: str
    defaults: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] = field(default_factory=dict)
    template_paths: set[tuple[str, ...]] = field(default_factory=set)
    subcharts: set[str] = field(default_factory=set)  # their values are read by the subchart itself
    app_version: str = ""  # Chart.yaml appVersion: the release the chart installs
    version: str = ""  # Chart.yaml version

    def reads(self, path: tuple[str, ...]) -> bool:
        """Whether the chart reads the value at `path` (or a map that contains it)."""
        if path[:1] == ("global",) or (path and path[0] in self.subcharts):
            return True
        return _in_defaults(self.defaults, path) or _in_schema(self.schema, path) or any(
            tpl[: len(path)] == path or path[: len(tpl)] == tpl for tpl in self.template_paths)

    def declares(self, path: tuple[str, ...]) -> bool:
        """Whether `path` is named explicitly (a default, a schema property or a template reference)."""
        props = [self.schema]
        for key in path:
            nxt = props[-1].get("properties", {}).get(key) if isinstance(props[-1], dict) else None
            if not isinstance(nxt, dict):
                break
            props.append(nxt)
        return _walk(self.defaults, path) or len(props) == len(path) + 1 or any(
            tpl[: len(path)] == path for tpl in self.template_paths)


def _walk(node: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _in_defaults(defaults: Any, path: tuple[str, ...]) -> bool:
    node = defaults
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        if not isinstance(node, dict) or not node:
            return True  # a scalar, list or empty map: the chart takes whatever is given here
    return True


def _in_schema(schema: Any, path: tuple[str, ...]) -> bool:
    node = schema
    for key in path:
        props = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(props, dict):
            return False
        if key not in props:
            return False
        node = props[key]
        if isinstance(node, dict) and "properties" not in node:
            return True
    return True


def _safe_yaml(text: str) -> Any:
    """The chart file's data, or None when it is empty, broken or hostile (the parse stage reports why)."""
    try:
        documents = load_all(text, where="chart")
    except InvalidInput:
        return None
    return documents[0] if documents else None


def model_from_files(name: str, files: dict[str, str]) -> ChartModel:
    """Chart model from a chart's own files (paths relative to the chart root)."""
    defaults = _safe_yaml(files.get("values.yaml", "")) or {}
    try:
        schema = json.loads(files["values.schema.json"]) if "values.schema.json" in files else {}
    except json.JSONDecodeError:
        schema = {}
    paths = {tuple(m.group(1).strip(".").split(".")) for path, text in files.items()
             if path.startswith("templates/") for m in _VALUES_REF.finditer(text)}
    chart = _safe_yaml(files.get("Chart.yaml", ""))
    subcharts = {str(d.get("alias") or d.get("name")) for d in dig(chart, "dependencies") or [] if isinstance(d, dict)}
    return ChartModel(name=name, defaults=defaults if isinstance(defaults, dict) else {},
                      schema=schema if isinstance(schema, dict) else {}, template_paths=paths, subcharts=subcharts,
                      app_version=str(dig(chart, "appVersion") or ""), version=str(dig(chart, "version") or ""))


def read_tgz(raw: bytes) -> tuple[str, dict[str, str]] | None:
    """(chart name, files relative to the chart root) of a packaged chart, subcharts excluded."""
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as archive:
            files: dict[str, str] = {}
            top = ""
            for member in archive:
                if not member.isfile() or member.size > _MAX_MEMBER:
                    continue
                top, _, rel = member.name.partition("/")
                if rel.startswith("charts/") or not rel.endswith(("values.yaml", "values.schema.json", "Chart.yaml", ".yaml", ".tpl")):
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    files[rel] = handle.read().decode("utf-8", errors="replace")
    except (tarfile.TarError, OSError, EOFError):
        return None
    chart = _safe_yaml(files.get("Chart.yaml", ""))
    name = str(dig(chart, "name") or top)
    return name, files


@functools.lru_cache(maxsize=8)
def packaged_model(raw: bytes) -> ChartModel | None:
    """Model of a packaged chart, once per archive: the nesting, probe, app-config, catalog and auth
    lints all ask for the same vendored chart, and unpacking plus parsing it costs ~20 ms each time."""
    packaged = read_tgz(raw)
    return model_from_files(*packaged) if packaged else None


def dependency_model(view: RepoView, chart_dir: str, dependency: str) -> ChartModel | None:
    """The vendored dependency chart `dependency` of the chart at `chart_dir`, if present."""
    charts_dir = f"{chart_dir}charts/"
    for path in sorted(view.files):
        if path.startswith(charts_dir) and path.endswith(".tgz") and "/" not in path[len(charts_dir):]:
            model = packaged_model(view.files[path])
            if model is not None and model.name == dependency:
                return model
    root = f"{charts_dir}{dependency}/"
    if f"{root}Chart.yaml" in view.files:
        own = {p[len(root):]: view.text(p) for p in view.files
               if p.startswith(root) and not p[len(root):].startswith("charts/")}
        return model_from_files(dependency, own)
    return None


@dataclass(frozen=True)
class Dependency:
    chart_dir: str  # '' for a chart at the repository root, else 'path/to/chart/'
    name: str
    key: str  # alias or name: where its values sit in the wrapper's values


def wrapper_dependencies(view: RepoView) -> list[tuple[Document, Dependency]]:
    found = []
    for doc in view.documents:
        if doc.filename != "Chart.yaml" or not isinstance(doc.data, dict):
            continue
        chart_dir = doc.path[: -len("Chart.yaml")]
        for dep in doc.data.get("dependencies") or []:
            if isinstance(dep, dict) and isinstance(dep.get("name"), str):
                found.append((doc, Dependency(chart_dir, dep["name"], str(dep.get("alias") or dep["name"]))))
    return found
