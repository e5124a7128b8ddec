"""What a desired object will run: pods and their containers' resources, per workload kind.

Quota and LimitRange evaluation need the pods a manifest will create, which a
VAP cannot compute; this module knows where each workload kind keeps its pod
template and replica count. An InferenceService runs `minReplicas` predictor
pods now (KServe default 1) and up to `maxReplicas` later; the Knative
queue-proxy sidecar is not counted (its resources live in cluster config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neuroscale.policy.subject import as_mapping
from neuroscale.spec import isvc

#: Where each workload controller keeps its pod template (one table for policies, Kyverno autogen and lints).
POD_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
#: Where each kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",), **{kind: (*path, "spec") for kind, path in POD_TEMPLATE_PATHS.items()}}


@dataclass(frozen=True)
class Container:
    """A container's declared resources, with the path to it for findings."""

    name: str
    path: str
    requests: Mapping[str, Any]
    limits: Mapping[str, Any]


@dataclass(frozen=True)
class Workload:
    pods: int
    max_pods: int
    containers: tuple[Container, ...]


def _dig(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _container(raw: Any, path: str) -> Container:
    raw = as_mapping(raw)
    resources = as_mapping(raw.get("resources"))
    return Container(name=str(raw.get("name", "")), path=path, requests=as_mapping(resources.get("requests")),
                     limits=as_mapping(resources.get("limits")))


def _isvc(obj: Mapping[str, Any]) -> Workload:
    """Predictor pods now (`minReplicas`, KServe default 1) and later; every running container counts."""
    reading = isvc.read(obj)
    predictor = reading.predictor
    containers = tuple(_container(c.raw, c.path) for component in reading.components for c in component.containers
                       if not c.is_init)
    minimum = predictor.min_replicas if predictor and predictor.min_replicas is not None else 1
    maximum = predictor.max_replicas if predictor and predictor.max_replicas is not None else minimum
    return Workload(pods=minimum, max_pods=max(minimum, maximum), containers=containers)


def workload(obj: Mapping[str, Any]) -> Workload | None:
    """Pods and containers of a workload object, or None for kinds that run nothing."""
    kind = obj.get("kind")
    if kind == "InferenceService":
        return _isvc(obj)
    path = POD_SPEC_PATHS.get(str(kind))
    if path is None:
        return None
    pod = _dig(obj, path)
    if not isinstance(pod, Mapping):
        return Workload(pods=0, max_pods=0, containers=())
    prefix = ".".join(path)
    containers = tuple(_container(raw, f"{prefix}.containers[{i}]")
                       for i, raw in enumerate(pod.get("containers") or []))
    if kind in ("Job", "CronJob"):
        replicas = _int(_dig(obj, path[:-2] + ("parallelism",)), 1)
    elif kind == "Pod" or kind == "DaemonSet":
        replicas = 1
    else:
        replicas = _int(_dig(obj, ("spec", "replicas")), 1)
    return Workload(pods=replicas, max_pods=replicas, containers=containers)
