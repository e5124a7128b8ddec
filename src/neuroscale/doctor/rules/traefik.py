"""FM-11: k3s' bundled Traefik answers inference traffic with a 307 to HTTPS.

A k3d cluster created without `--disable=traefik@server:0` keeps Traefik in
kube-system; it then owns ports 80/443 of the load balancer, not Kourier.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    for kind in ("Deployment", "Service", "HelmChart"):
        obj = index.get(kind, "kube-system", "traefik")
        if obj is not None:
            return [RULE.finding(
                obj=ref(obj, kind), message="k3s Traefik is installed and intercepts ingress traffic",
                evidence=f"{kind} kube-system/traefik exists",
                root_cause="the cluster was created without disabling Traefik, so requests get an HTTP 307 "
                "redirect before they reach Kourier",
                fix="k3d cluster delete neuroscale && k3d cluster create neuroscale "
                "--k3s-arg '--disable=traefik@server:0' ...  # meanwhile test through "
                "`kubectl port-forward pod/<predictor> 18080:8080`",
            )]
    return []


RULE = Rule(
    id="traefik-intercepts", title="Ingress not hijacked by Traefik", covers=("FM-11",),
    category=Category.ENVIRONMENT, severity=Severity.WARNING, check=check,
)
