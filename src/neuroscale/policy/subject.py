"""What a policy sees about one object: the object, its GVK and resource, its namespace, the request.

Offline there is no API server to tell us the REST resource of a kind or the
labels of a namespace, so this module derives them once per object: the
resource from a table of well-known kinds (lower-case plural otherwise), the
namespace object from a `Namespace` in the same set (or a synthetic one with
the `kubernetes.io/metadata.name` label the API server always sets). Every
object is admitted as a CREATE by a fixed offline user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.findings import ObjectRef

OFFLINE_USER = {"username": "neuroscale:offline", "groups": ["system:authenticated"]}

_RESOURCES = {
    "Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets", "Pod": "pods", "Job": "jobs", "CronJob": "cronjobs", "Service": "services",
    "ConfigMap": "configmaps", "Secret": "secrets", "Namespace": "namespaces", "Ingress": "ingresses",
    "InferenceService": "inferenceservices", "ServingRuntime": "servingruntimes",
    "ClusterServingRuntime": "clusterservingruntimes", "ResourceQuota": "resourcequotas",
    "LimitRange": "limitranges", "NetworkPolicy": "networkpolicies", "Endpoints": "endpoints",
    "PersistentVolumeClaim": "persistentvolumeclaims", "ServiceAccount": "serviceaccounts",
}

CLUSTER_SCOPED_KINDS = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterServingRuntime",
    "ClusterPolicy", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "PersistentVolume",
    "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "Node", "ValidatingPolicy",
})


def resource_for_kind(kind: str) -> str:
    """REST resource name: known table first, else the usual lower-case plural."""
    if kind in _RESOURCES:
        return _RESOURCES[kind]
    lower = kind.lower()
    if lower.endswith("y") and not lower.endswith(("ay", "ey", "oy", "uy")):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    return lower + "s"


def as_mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one (broken input must not raise here)."""
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Subject:
    """One object under admission, with everything matchers and CEL need precomputed."""

    index: int
    obj: Mapping[str, Any]
    group: str
    version: str
    kind: str
    resource: str
    name: str
    namespace: str
    labels: Mapping[str, str]
    namespace_object: Mapping[str, Any] | None
    ref: ObjectRef = field(compare=False)
    #: For a subresource object (a `Scale`, `PodExecOptions`): its parent's kind and the subresource's name
    #: (`("Deployment", "scale")`), as a `kyverno test` values file's `subresources` declare them.
    parent: tuple[str, str] | None = None

    @property
    def cluster_scoped(self) -> bool:
        return self.kind in CLUSTER_SCOPED_KINDS

    @property
    def namespace_labels(self) -> Mapping[str, str]:
        if self.namespace_object is None:
            return {}
        return as_mapping(as_mapping(self.namespace_object.get("metadata")).get("labels"))

    def request(self) -> dict[str, Any]:
        """The `request` variable of a CREATE admission review."""
        return {
            "kind": {"group": self.group, "version": self.version, "kind": self.kind},
            "resource": {"group": self.group, "version": self.version, "resource": self.resource},
            "requestKind": {"group": self.group, "version": self.version, "kind": self.kind},
            "requestResource": {"group": self.group, "version": self.version, "resource": self.resource},
            "name": self.name, "namespace": self.namespace, "operation": "CREATE",
            "userInfo": OFFLINE_USER, "dryRun": True, "subResource": "",
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        }


def _namespace_object(name: str, declared: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if not name:
        return None
    if name in declared:
        found = declared[name]
        labels = dict((found.get("metadata") or {}).get("labels") or {})
        labels.setdefault("kubernetes.io/metadata.name", name)
        return {**found, "metadata": {**(found.get("metadata") or {}), "labels": labels}}
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}


def subjects(objects: Sequence[Mapping[str, Any]], *, default_namespace: str = "default") -> list[Subject]:
    """A `Subject` per object (non-mappings are skipped by the caller's schema stage)."""
    declared = {
        _text((obj.get("metadata") or {}).get("name")): obj
        for obj in objects if isinstance(obj, Mapping) and obj.get("kind") == "Namespace"
    }
    result = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, Mapping):
            continue
        api_version = _text(obj.get("apiVersion"))
        group, _, version = api_version.rpartition("/")
        kind = _text(obj.get("kind"))
        metadata = as_mapping(obj.get("metadata"))
        name = _text(metadata.get("name")) or _text(metadata.get("generateName"))
        scoped = kind not in CLUSTER_SCOPED_KINDS
        namespace = (_text(metadata.get("namespace")) or default_namespace) if scoped else ""
        labels = as_mapping(metadata.get("labels"))
        ns_object = _namespace_object(namespace if scoped else (name if kind == "Namespace" else ""), declared)
        result.append(Subject(
            index=index, obj=obj, group=group, version=version, kind=kind, resource=resource_for_kind(kind),
            name=name, namespace=namespace, labels={str(k): str(v) for k, v in labels.items()},
            namespace_object=ns_object,
            ref=ObjectRef(kind=kind, name=name, namespace=namespace, api_version=api_version),
        ))
    return result
