"""What a lint is, and the small readers several lints share.

A lint is pure: `(RepoView) -> list[Finding]`, with a stable id (`NS-Lnnn`), a
title, the failure modes it prevents and its default severity. `neuroscale
check` runs them over a repository and `neuroscale doctor` reuses them for the
static half of a diagnosis, so they take nothing but the view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity
from neuroscale.policy.workloads import POD_SPEC_PATHS
from neuroscale.spec import isvc


@dataclass(frozen=True)
class Lint:
    id: str
    title: str
    failure_modes: tuple[str, ...]
    severity: Severity
    check: Callable[[RepoView], list[Finding]]


def dig(data: Any, *path: str) -> Any:
    """`data[a][b]...` or None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
#: KServe serving runtimes: `spec` lists the containers of every predictor that uses the runtime.
RUNTIME_KINDS = frozenset({"ServingRuntime", "ClusterServingRuntime"})


def containers(doc: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field path, container) for every container an object runs, InferenceServices and serving runtimes
    included."""
    if doc.kind == "InferenceService":
        for container in isvc.read(doc.data).containers:
            yield container.path, dict(container.raw)
        return
    runtime = doc.kind in RUNTIME_KINDS and doc.group == "serving.kserve.io"
    path = ("spec",) if runtime else POD_SPEC_PATHS.get(doc.kind)
    spec = dig(doc.data, *path) if path else None
    if isinstance(spec, dict):
        yield from _listed(spec, ".".join(path or ()))


def _listed(spec: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in CONTAINER_LISTS:
        items = spec.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    yield f"{prefix}.{key}[{index}]", item


def authored_data(doc: Document) -> Any:
    """What an author writes values into: a CRD's schema is a type definition (it has `labels` and `password`
    properties by the hundred, and is the largest tree in any repository), so only its metadata counts."""
    if doc.kind == "CustomResourceDefinition" and isinstance(doc.data, dict):
        return {"metadata": doc.data.get("metadata")}
    return doc.data


def is_values_file(path: str) -> bool:
    """Helm values files: `values.yaml`, `values-prod.yaml`, `prod-values.yml`, ..."""
    name = path.rpartition("/")[2]
    return name.endswith((".yaml", ".yml")) and "values" in name and "/templates/" not in f"/{path}"


def values_documents(view: RepoView) -> list[Document]:
    return [doc for doc in view.documents if is_values_file(doc.path) and isinstance(doc.data, dict) and not doc.is_object]


def is_production(path: str, values: Any) -> bool:
    """A values file meant for production: named so, or declaring `auth.environment: production`."""
    name = path.rpartition("/")[2].lower()
    return "prod" in name or _mentions_production(values)


def _mentions_production(values: Any) -> bool:
    if isinstance(values, dict):
        env = dig(values, "auth", "environment")
        return env == "production" or any(_mentions_production(v) for v in values.values())
    return False
