"""Workload resources as the scheduler reserves them, per replica, for pricing.

Deployments, StatefulSets, DaemonSets and InferenceServices. An InferenceService
that sets no resources inherits them from its serving runtime (FM-38: the
reference showed "—" for every InferenceService), so the runtime's container
resources are used when the repository defines it, and KServe's queue-proxy
sidecar request (25m CPU per replica) is added. Requests are what is billed;
a container with only limits is billed at its limits (Kubernetes defaults the
request to the limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.spec import isvc
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_OWNER
from neuroscale.spec.quantity import parse_quantity

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "InferenceService")
QUEUE_PROXY_CPU = Decimal("0.025")
_POD_SPEC = {"Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
             "DaemonSet": ("spec", "template", "spec")}
_ZERO = Decimal(0)


@dataclass(frozen=True)
class Resources:
    cpu_request: Decimal = _ZERO  # cores
    cpu_limit: Decimal = _ZERO
    memory_request: Decimal = _ZERO  # bytes
    memory_limit: Decimal = _ZERO

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu_request + other.cpu_request, self.cpu_limit + other.cpu_limit,
                         self.memory_request + other.memory_request, self.memory_limit + other.memory_limit)


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    namespace: str
    file: str
    cost_center: str  # '' when unlabelled (shows as unallocated, FM-40)
    owner: str
    per_replica: Resources
    min_replicas: int
    max_replicas: int
    resources_from: str  # "spec", "runtime <name>" or "unset"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace or "default", self.name)


def _get(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def container_resources(container: Mapping[str, Any], *, where: str) -> Resources:
    res = _mapping(container.get("resources"))
    requests, limits = _mapping(res.get("requests")), _mapping(res.get("limits"))

    def qty(section: Mapping[str, Any], name: str, fallback: Any = None) -> Decimal:
        value = section.get(name, fallback)
        try:
            return parse_quantity(value, where=where) if value is not None else _ZERO
        except InvalidInput:
            return _ZERO  # schema validation reports the malformed quantity; cost treats it as unknown

    return Resources(cpu_request=qty(requests, "cpu", limits.get("cpu")), cpu_limit=qty(limits, "cpu"),
                     memory_request=qty(requests, "memory", limits.get("memory")), memory_limit=qty(limits, "memory"))


def _has_resources(container: Mapping[str, Any]) -> bool:
    res = container.get("resources")
    return isinstance(res, dict) and any(isinstance(res.get(k), dict) and res[k] for k in ("requests", "limits"))


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _runtime_resources(model_format: str, runtimes: Mapping[str, Mapping[str, Any]], *, where: str) -> tuple[Resources, str] | None:
    for name, runtime in runtimes.items():
        formats = _get(runtime, "spec", "supportedModelFormats") or []
        if any(isinstance(f, dict) and f.get("name") == model_format for f in formats):
            total = Resources()
            for container in _get(runtime, "spec", "containers") or []:
                if isinstance(container, dict):
                    total = total + container_resources(container, where=where)
            return total, f"runtime {name}"
    return None


def _isvc(obj: Mapping[str, Any], runtimes: Mapping[str, Mapping[str, Any]], *, where: str) -> tuple[Resources, str, int, int]:
    """Per-replica resources of every component (and canary predictor), through the one reading."""
    total, source = Resources(), "unset"
    min_replicas = max_replicas = 0
    for component in isvc.read(obj).components:
        lo = component.min_replicas if component.min_replicas is not None else 1
        min_replicas = max(min_replicas, lo)
        max_replicas = max(max_replicas, component.max_replicas or 0, lo)
        for container in component.containers:
            if container.is_init:
                continue
            if container.has_resources:
                total, source = total + container_resources(container.raw, where=where), "spec"
            elif container.model_format:
                found = _runtime_resources(container.model_format, runtimes, where=where)
                if found:
                    total, source = total + found[0], found[1] if source == "unset" else source
        total = total + Resources(cpu_request=QUEUE_PROXY_CPU)
    return total, source, max(min_replicas, 1), max(max_replicas, min_replicas, 1)


def workloads(objects: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Workload]:
    """Workloads among `(file, object)` pairs; serving runtimes among them resolve ISVC defaults."""
    items = list(objects)
    runtimes = {str(_get(o, "metadata", "name")): o for _, o in items
                if o.get("kind") in ("ServingRuntime", "ClusterServingRuntime")}
    found = []
    for file, obj in items:
        kind = obj.get("kind")
        if kind not in WORKLOAD_KINDS:
            continue
        where = f"{file}: {kind}/{_get(obj, 'metadata', 'name')}"
        if kind == "InferenceService":
            per_replica, source, lo, hi = _isvc(obj, runtimes, where=where)
        else:
            pod = _get(obj, *_POD_SPEC[str(kind)])
            containers = [c for c in (_get(pod, "containers") or []) if isinstance(c, dict)]
            per_replica = Resources()
            for container in containers:
                per_replica = per_replica + container_resources(container, where=where)
            source = "spec" if any(_has_resources(c) for c in containers) else "unset"
            lo = hi = _int(_get(obj, "spec", "replicas"), 1)
        labels = _get(obj, "metadata", "labels") or {}
        found.append(Workload(
            kind=str(kind), name=str(_get(obj, "metadata", "name") or ""),
            namespace=str(_get(obj, "metadata", "namespace") or ""), file=file,
            cost_center=str(labels.get(LABEL_COST_CENTER, "")) if isinstance(labels, dict) else "",
            owner=str(labels.get(LABEL_OWNER, "")) if isinstance(labels, dict) else "",
            per_replica=per_replica, min_replicas=lo, max_replicas=hi, resources_from=source))
    return found
