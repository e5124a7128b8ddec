"""FM-17: KServe controller metrics are not served (the accepted cost of removing kube-rbac-proxy).

Reported as information so the gap stays visible instead of forgotten.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.k8s import ready_addresses, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

METRICS_SERVICE = "kserve-controller-manager-metrics-service"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    svc = index.get("Service", "kserve", METRICS_SERVICE)
    deployment = index.get("Deployment", "kserve", "kserve-controller-manager")
    if deployment is None:
        return []
    containers = [c.get("name") for c in (deployment.get("spec") or {}).get("template", {}).get("spec", {})
                  .get("containers") or []]
    if svc is not None and "kube-rbac-proxy" in containers:
        return []
    if svc is not None and ready_addresses(index, "kserve", METRICS_SERVICE):
        return []
    return [RULE.finding(
        obj=ref(deployment, "Deployment"), message="KServe controller metrics are not served",
        evidence=f"spec.template.spec.containers={containers}; Service kserve/{METRICS_SERVICE} "
        + ("has no ready endpoints" if svc is not None else "does not exist"),
        root_cause="the kube-rbac-proxy sidecar that exposed :8443 metrics was removed (its image is gone)",
        fix="serve metrics from the manager directly (`--metrics-bind-address=:8080`) or add a proxy image from "
        "a reachable, pinned registry, in Git",
    )]


RULE = Rule(
    id="kserve-metrics", title="KServe controller metrics", covers=("FM-17",),
    category=Category.CONTROLLERS, severity=Severity.INFO, check=check,
)
