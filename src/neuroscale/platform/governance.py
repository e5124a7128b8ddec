"""Namespace guardrails and the bundled admission policies, as repository files.

The LimitRange minimum stays below the 25m CPU Knative's queue-proxy sidecar
requests (FM-19); the policies are exported from the same definitions the CI
check evaluates, in the engine the user chose, so CI and admission agree.
"""

from __future__ import annotations

import re
from typing import Any

from neuroscale.platform.options import InitOptions
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


def resource_quota(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(QUOTA_NAME, namespace),
        "spec": {"hard": {
            "requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16", "limits.memory": "32Gi",
            "pods": "40", "count/inferenceservices.serving.kserve.io": "10",
        }},
    }


def limit_range(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "LimitRange", "metadata": _meta(LIMITS_NAME, namespace),
        "spec": {"limits": [{
            "type": "Container",
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
            "min": {"cpu": "10m", "memory": "16Mi"},
            "max": {"cpu": "4", "memory": "8Gi"},
        }]},
    }


def namespace_files(options: InitOptions) -> dict[str, Any]:
    files: dict[str, Any] = {}
    resources = []
    if options.namespace != "default":  # `default` always exists; Argo CD must never own (and prune) it
        files[f"{NAMESPACES_PATH}/namespace.yaml"] = {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": options.namespace, "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
        }
        resources.append("namespace.yaml")
    files[f"{NAMESPACES_PATH}/resource-quota.yaml"] = resource_quota(options.namespace)
    files[f"{NAMESPACES_PATH}/limit-range.yaml"] = limit_range(options.namespace)
    resources += ["resource-quota.yaml", "limit-range.yaml"]
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
    for document in export_policies(options.policy_engine):
        file_name = f"{_KIND_PREFIX.get(str(document['kind']), _kebab(str(document['kind'])))}-" \
                    f"{document['metadata']['name']}.yaml"
        files[f"{POLICIES_PATH}/{file_name}"] = document
        names.append(file_name)
    files[f"{POLICIES_PATH}/kustomization.yaml"] = kustomization(sorted(names))
    return files
