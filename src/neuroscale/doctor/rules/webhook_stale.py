"""FM-08: a stale admission webhook whose Service no longer exists blocks creation.

A webhook configuration from an earlier experiment still intercepts requests
for a backend that is gone; with `failurePolicy: Fail` every matching create
fails, and the error shows up only in Argo CD conditions, never on the object.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, name_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.doctor.rules.webhook_common import breadth, explains, webhook_services
from neuroscale.findings import Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for kind, config, hook, namespace, service in webhook_services(index):
        if index.get("Service", namespace, service) is not None:
            continue
        fail = hook.get("failurePolicy", "Fail") == "Fail"
        found.append(RULE.finding(
            obj=ref(config, kind), severity=Severity.ERROR if fail else Severity.WARNING,
            message=f"webhook {hook.get('name')} calls Service {namespace}/{service}, which does not exist",
            evidence=f"webhooks[{hook.get('name')}].clientConfig.service={namespace}/{service} (Service NotFound); "
            f"failurePolicy={hook.get('failurePolicy', 'Fail')}; rules cover {breadth(hook)}",
            root_cause="a webhook configuration left behind by an earlier install still intercepts requests for a "
            "backend that is gone" + (", so every matching create/update fails" if fail else ""),
            fix=f"kubectl delete {kind.lower()} {name_of(config)}\n"
            "kubectl -n argocd patch application <app> --type merge "
            "-p '{\"metadata\":{\"annotations\":{\"argocd.argoproj.io/refresh\":\"hard\"}}}'",
            explains_when=(*explains(namespace, service), f'"{hook.get("name")}"'),
        ))
    return found


RULE = Rule(
    id="webhook-stale", title="Webhooks point at existing services", covers=("FM-08",),
    category=Category.STALE_WEBHOOKS, severity=Severity.ERROR, check=check,
)
