"""`neuroscale cluster status`: Applications, endpoints, policies and quotas in one view.

Read-only. Each section is read from API fields; a section whose CRD is not
installed says so instead of showing an empty table (H-08).
"""

from __future__ import annotations

from typing import Any

from neuroscale.cluster.kube import Kube
from neuroscale.cluster.objects import ARGO, CLUSTER_POLICIES, ISVC_PATH, VAP_PATH, app_health, condition, is_true, name_of

NOT_INSTALLED = "not installed"


def _applications(kube: Kube) -> list[dict[str, Any]] | str:
    apps = kube.items(f"{ARGO}/applications")
    if apps is None:
        return NOT_INSTALLED
    rows = []
    for app in apps:
        sync, health = app_health(app)
        rows.append({"name": name_of(app), "sync": sync, "health": health,
                     "wave": ((app.get("metadata") or {}).get("annotations") or {}).get("argocd.argoproj.io/sync-wave", ""),
                     "revision": str(((app.get("status") or {}).get("sync") or {}).get("revision", ""))[:8]})
    return sorted(rows, key=lambda r: r["name"])


def _endpoints(kube: Kube, namespace: str) -> list[dict[str, Any]] | str:
    isvcs = kube.items(ISVC_PATH.format(ns=namespace))
    if isvcs is None:
        return NOT_INSTALLED
    rows = []
    for isvc in isvcs:
        bad = [c for c in (isvc.get("status") or {}).get("conditions") or [] if c.get("status") != "True"]
        reason = ", ".join(f"{c.get('type')}: {c.get('reason') or c.get('message') or c.get('status')}" for c in bad)
        rows.append({"name": name_of(isvc), "ready": is_true(isvc, "Ready"),
                     "url": (isvc.get("status") or {}).get("url", ""),
                     "reason": reason or condition(isvc, "Ready").get("reason", "")})
    return sorted(rows, key=lambda r: r["name"])


def _policies(kube: Kube) -> list[dict[str, Any]]:
    rows = [{"name": name_of(p), "engine": "ValidatingAdmissionPolicy",
             "state": "enforced by the API server"} for p in kube.items(VAP_PATH) or []]
    for policy in kube.items(CLUSTER_POLICIES) or []:
        spec = policy.get("spec") or {}
        action = spec.get("validationFailureAction") or "Audit"
        rows.append({"name": name_of(policy), "engine": "Kyverno",
                     "state": f"{'Ready' if is_true(policy, 'Ready') else 'not Ready'}, {action}"})
    return sorted(rows, key=lambda r: r["name"])


def _quotas(kube: Kube) -> list[dict[str, Any]]:
    rows = []
    for quota in kube.items("/api/v1/resourcequotas") or []:
        status = quota.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        rows.append({"namespace": (quota.get("metadata") or {}).get("namespace", ""), "name": name_of(quota),
                     "usage": ", ".join(f"{k} {used.get(k, '0')}/{v}" for k, v in sorted(hard.items()))})
    return rows


def cluster_status(kube: Kube, *, namespace: str = "default") -> dict[str, Any]:
    return {"context": kube.context, "server": kube.server, "applications": _applications(kube),
            "endpoints": _endpoints(kube, namespace), "policies": _policies(kube), "quotas": _quotas(kube)}
