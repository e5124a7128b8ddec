"""FM-21: Knative does not route through Kourier.

net-kourier needs `config-network` to name the Kourier ingress class; the
Knative default is Istio's. Knative Routes and Services that are not Ready say
why in their conditions.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, condition, name_of, namespace_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

KOURIER_CLASS = "kourier.ingress.networking.knative.dev"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    network = index.get("ConfigMap", "knative-serving", "config-network")
    if network is not None and index.objects("Pod", "kourier-system"):
        data = network.get("data") or {}
        cls = data.get("ingress-class") or data.get("ingress.class") or ""
        if cls != KOURIER_CLASS:
            found.append(RULE.finding(
                obj=ref(network, "ConfigMap"), message="Knative's ingress class is not Kourier",
                evidence=f"data.ingress-class={cls or '<unset: Istio default>'}",
                root_cause="Kourier is installed but Knative hands its ingresses to a class nobody implements, "
                "so Routes never become Ready",
                fix="# patch knative-serving/config-network in Git:\ndata:\n  ingress-class: " + KOURIER_CLASS,
                explains_when=("RoutesReady", "IngressNotConfigured", "Route "),
            ))
    for kind in ("Route", "KnativeService"):
        for obj in index.objects(kind):
            ready = condition(obj, "Ready")
            if ready is None or ready.get("status") == "True":
                continue
            short = "route" if kind == "Route" else "ksvc"
            found.append(RULE.finding(
                obj=ref(obj, "Route" if kind == "Route" else "Service"), severity=Severity.WARNING,
                message=f"Knative {'Route' if kind == 'Route' else 'Service'} {name_of(obj)} is not Ready",
                evidence=f"status.conditions[Ready]: {ready.get('reason', '')}: {ready.get('message', '')}",
                root_cause="Knative could not program the route for this revision",
                fix="kubectl -n kourier-system get pods; kubectl -n knative-serving get pods; "
                f"kubectl -n {namespace_of(obj)} describe {short} {name_of(obj)}",
            ))
    return found


RULE = Rule(
    id="knative-routing", title="Knative routes through Kourier", covers=("FM-21",),
    category=Category.CONTROLLERS, severity=Severity.ERROR, check=check,
)
