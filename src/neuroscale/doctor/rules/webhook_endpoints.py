"""FM-16 / FM-22: an admission webhook whose Service has no ready endpoints.

The Service exists but its pods are not Ready (KServe's controller missing a
sidecar image; Kyverno's install window). With `failurePolicy: Fail` every
matching API request is refused, so this explains each Application whose sync
message says `failed calling webhook` / `no endpoints available` for it.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, name_of, namespace_of
from neuroscale.doctor.k8s import pod_problem, pods_of_service, ready_addresses, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.doctor.rules.webhook_common import explains, webhook_services
from neuroscale.findings import Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    seen: set[tuple[str, str, str]] = set()
    for kind, config, hook, namespace, service in webhook_services(index):
        svc = index.get("Service", namespace, service)
        if svc is None or ready_addresses(index, namespace, service) or (kind, name_of(config), service) in seen:
            continue
        seen.add((kind, name_of(config), service))
        fail = hook.get("failurePolicy", "Fail") == "Fail"
        pods = list(pods_of_service(index, svc))
        why = "; ".join(f"pod {namespace_of(p)}/{name_of(p)}: {pod_problem(p) or 'not Ready'}"
                        for p in pods[:3]) or "no pods match the Service selector"
        kyverno = namespace == "kyverno"
        found.append(RULE.finding(
            obj=ref(config, kind), severity=Severity.ERROR if fail else Severity.WARNING,
            message=f"webhook {hook.get('name')} has no ready endpoints behind {namespace}/{service}",
            evidence=f"EndpointSlices of Service {namespace}/{service}: 0 ready addresses; {why}; "
            f"failurePolicy={hook.get('failurePolicy', 'Fail')}",
            root_cause=("Kyverno registered its webhooks before its pods were Ready, so API writes time out"
                        if kyverno else
                        f"the pods behind {service} are not Ready, so the API server cannot call the webhook and "
                        + ("rejects every matching request" if fail else "skips it")),
            fix=(f"kubectl -n {namespace} get pods; kubectl -n {namespace} rollout status deploy --timeout=180s\n"
                 "# if the pods are healthy but the webhooks stay stale:\n"
                 f"kubectl delete {kind.lower()} {name_of(config)}  # Kyverno recreates it"
                 if kyverno else
                 f"kubectl -n {namespace} get pods -o wide; kubectl -n {namespace} describe pod <pod>  "
                 "# fix the pod (see the controllers findings), then hard-refresh the denied Applications"),
            explains_when=(*explains(namespace, service), f'"{hook.get("name")}"'),
            covers=("FM-22",) if kyverno else ("FM-16",),
        ))
    return found


RULE = Rule(
    id="webhook-no-endpoints", title="Webhooks have ready endpoints", covers=("FM-16", "FM-22"),
    category=Category.WEBHOOKS, severity=Severity.ERROR, check=check,
)
