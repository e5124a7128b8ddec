"""The rule registry: every doctor rule, one per module, in one tuple."""

from __future__ import annotations

from neuroscale.doctor.model import Rule
from neuroscale.doctor.rules import (
    app_crd_too_long, app_policy_denied, app_runtime_drift, app_sync, backstage_catalog, backstage_config,
    branch_protection,
    backstage_image, cluster_access, cost_labels, crds, duplicate_apps, endpoint_status, git_remote, github_token,
    health_mismatch, host_disk, host_ports, isvc_not_ready, knative_routing, kserve_ingress, kserve_metrics,
    limitrange_min, manual_edits, model_file, model_server, node_pressure, opencost, placeholder_domain,
    platform_processes,
    pod_crashloop, pod_image_pull, quota_exhausted, reconciler_heartbeat, repo_server, routes_stale, scheduling,
    selfheal_stopped, traefik,
    webhook_endpoints, webhook_stale,
)

ALL_RULES: tuple[Rule, ...] = tuple(module.RULE for module in (
    cluster_access, node_pressure, traefik, host_ports, host_disk, platform_processes, reconciler_heartbeat, repo_server,
    crds, routes_stale,
    pod_image_pull, pod_crashloop, kserve_ingress, knative_routing, kserve_metrics, webhook_endpoints,
    webhook_stale, app_sync, app_crd_too_long, app_policy_denied, app_runtime_drift, manual_edits, duplicate_apps,
    selfheal_stopped, health_mismatch, git_remote, branch_protection, endpoint_status, isvc_not_ready, scheduling,
    quota_exhausted,
    limitrange_min, placeholder_domain, model_server, model_file, backstage_config, backstage_catalog, backstage_image,
    github_token, cost_labels, opencost,
))


def rules_for(target: str) -> list[Rule]:
    return [rule for rule in ALL_RULES if target in rule.targets]
