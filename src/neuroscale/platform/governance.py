"""Namespace guardrails and the bundled admission policies, as repository files.

One set of numbers (`ENDPOINT_LIMITS`) makes the LimitRange, the
ResourceQuota and the ceilings of the policies, so an endpoint that passes CI
and admission is never rejected by its namespace afterwards. The LimitRange
minimum stays below the 25m CPU Knative's queue-proxy sidecar requests
(FM-19). The policies are exported from the same definitions the CI check
evaluates, in the engine the user chose, scoped to the governed namespaces
and exempting only the controllers that write Deployments for
InferenceServices (by service account, never by label).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from neuroscale.platform import previews
from neuroscale.platform.options import PREVIEW_NAMESPACE, InitOptions
from neuroscale.policy.bundled import BundledOptions
from neuroscale.platform.serving import kustomization
from neuroscale.spec.fields import LABEL_MANAGED_BY, MANAGED_BY

NAMESPACES_PATH = "infrastructure/namespaces"
POLICIES_PATH = "infrastructure/policies"
QUOTA_NAME = "neuroscale-quota"
LIMITS_NAME = "neuroscale-limits"
#: Knative's queue-proxy sidecar requests this much CPU; LimitRange `min.cpu` must not exceed it.
QUEUE_PROXY_CPU = "25m"


def _meta(name: str, namespace: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": {LABEL_MANAGED_BY: MANAGED_BY}}


@dataclass(frozen=True)
class CpuMemory:
    cpu: str
    memory: str

    def as_dict(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory}


@dataclass(frozen=True)
class EndpointLimits:
    """Per-container bounds and per-namespace totals for model endpoints."""

    container_max: CpuMemory = CpuMemory("4", "16Gi")
    container_min: CpuMemory = CpuMemory("10m", "16Mi")
    default_limit: CpuMemory = CpuMemory("500m", "512Mi")
    default_request: CpuMemory = CpuMemory("100m", "128Mi")
    quota_requests: CpuMemory = CpuMemory("8", "32Gi")
    quota_limits: CpuMemory = CpuMemory("16", "64Gi")
    quota_pods: int = 40
    quota_endpoints: int = 10


ENDPOINT_LIMITS = EndpointLimits()


def resource_quota(namespace: str, limits: EndpointLimits = ENDPOINT_LIMITS) -> dict[str, Any]:
    hard = {f"{section}.{resource}": value for section, amounts in (("requests", limits.quota_requests),
                                                                     ("limits", limits.quota_limits))
            for resource, value in amounts.as_dict().items()}
    hard.update({"pods": str(limits.quota_pods),
                 "count/inferenceservices.serving.kserve.io": str(limits.quota_endpoints)})
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(QUOTA_NAME, namespace),
            "spec": {"hard": hard}}


def limit_range(namespace: str, limits: EndpointLimits = ENDPOINT_LIMITS) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "LimitRange", "metadata": _meta(LIMITS_NAME, namespace),
        "spec": {"limits": [{
            "type": "Container", "default": limits.default_limit.as_dict(),
            "defaultRequest": limits.default_request.as_dict(), "min": limits.container_min.as_dict(),
            "max": limits.container_max.as_dict(),
        }]},
    }


def policy_options(options: InitOptions, limits: EndpointLimits = ENDPOINT_LIMITS) -> BundledOptions:
    """The bundled policies as the cluster enforces them: same ceilings as the LimitRange, endpoint namespaces."""
    return BundledOptions(cpu_limit_ceiling=limits.container_max.cpu, memory_limit_ceiling=limits.container_max.memory,
                          allow_local_paths=False, namespaces=options.governed_namespaces)


def namespace_files(options: InitOptions) -> dict[str, Any]:
    files: dict[str, Any] = {}
    resources: list[str] = []
    if options.namespace != "default":  # `default` always exists; Argo CD must never own (and prune) it
        files[f"{NAMESPACES_PATH}/namespace.yaml"] = {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": options.namespace, "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
        }
        resources.append("namespace.yaml")
    files[f"{NAMESPACES_PATH}/resource-quota.yaml"] = resource_quota(options.namespace)
    files[f"{NAMESPACES_PATH}/limit-range.yaml"] = limit_range(options.namespace)
    resources += ["resource-quota.yaml", "limit-range.yaml"]
    if options.previews:  # pull-request previews get their own namespace, quota and limits (bounded like endpoints)
        files[f"{NAMESPACES_PATH}/previews-namespace.yaml"] = {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": PREVIEW_NAMESPACE, "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
        }
        files[f"{NAMESPACES_PATH}/previews-resource-quota.yaml"] = resource_quota(PREVIEW_NAMESPACE)
        files[f"{NAMESPACES_PATH}/previews-limit-range.yaml"] = limit_range(PREVIEW_NAMESPACE)
        resources += ["previews-namespace.yaml", "previews-resource-quota.yaml", "previews-limit-range.yaml"]
    files[f"{NAMESPACES_PATH}/kustomization.yaml"] = kustomization(resources)
    return files


_KIND_PREFIX = {"ValidatingAdmissionPolicy": "vap", "ValidatingAdmissionPolicyBinding": "vap-binding",
                "ClusterPolicy": "clusterpolicy"}


def _kebab(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()


def policy_files(options: InitOptions) -> dict[str, Any]:
    from neuroscale.policy.export import export_policies

    files: dict[str, Any] = {}
    names = []
    for document in export_policies(options.policy_engine, options=policy_options(options)):
        file_name = f"{_KIND_PREFIX.get(str(document['kind']), _kebab(str(document['kind'])))}-" \
                    f"{document['metadata']['name']}.yaml"
        files[f"{POLICIES_PATH}/{file_name}"] = document
        names.append(file_name)
    if options.preview_ttl_hours is not None:
        files[f"{POLICIES_PATH}/cleanup-policy-{previews.TTL_POLICY_NAME}.yaml"] = previews.ttl_policy(options)
        names.append(f"cleanup-policy-{previews.TTL_POLICY_NAME}.yaml")
    files[f"{POLICIES_PATH}/kustomization.yaml"] = kustomization(sorted(names))
    return files
