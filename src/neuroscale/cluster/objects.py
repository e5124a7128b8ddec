"""Reading state from API objects: readiness, conditions and API paths, in one place.

Counts come from API fields (`containerStatuses[].ready`, conditions,
`availableReplicas`), never from grepping printed tables (H-09, R-25).
"""

from __future__ import annotations

from typing import Any

ARGO = "/apis/argoproj.io/v1alpha1/namespaces/argocd"
ISVC_PATH = "/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{ns}/deployments"
PODS = "/api/v1/namespaces/{ns}/pods"
VAP_PATH = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
VAPB_PATH = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
CLUSTER_POLICIES = "/apis/kyverno.io/v1/clusterpolicies"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def is_true(obj: dict[str, Any], kind: str) -> bool:
    return condition(obj, kind).get("status") == "True"


def pod_ready(pod: dict[str, Any]) -> bool:
    """READY, not merely Running: every container ready (completed Job pods count as fine)."""
    status = pod.get("status") or {}
    if status.get("phase") == "Succeeded":
        return True
    containers = status.get("containerStatuses") or []
    return status.get("phase") == "Running" and bool(containers) and all(c.get("ready") for c in containers)


def pod_problem(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return f"{name_of(pod)}: {c.get('name')} {waiting['reason']}"
    ready = sum(1 for c in status.get("containerStatuses") or [] if c.get("ready"))
    total = len(status.get("containerStatuses") or [])
    return f"{name_of(pod)}: {status.get('phase', 'Unknown')} {ready}/{total} ready"


def available(deployment: dict[str, Any]) -> tuple[int, int]:
    """(available replicas, desired replicas)."""
    return (int((deployment.get("status") or {}).get("availableReplicas") or 0),
            int((deployment.get("spec") or {}).get("replicas", 1) or 0))


def app_health(app: dict[str, Any]) -> tuple[str, str]:
    status = app.get("status") or {}
    return (str((status.get("sync") or {}).get("status", "Unknown")),
            str((status.get("health") or {}).get("status", "Unknown")))


def generated_by(app: dict[str, Any], appset: str) -> bool:
    owners = (app.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("kind") == "ApplicationSet" and o.get("name") == appset for o in owners)
