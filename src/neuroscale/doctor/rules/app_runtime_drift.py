"""FM-05 / H-02: an Application OutOfSync forever because something else writes fields.

Webhooks inject `caBundle`, Knative rewrites its webhook rules, Kyverno
defaults `admission`/`skipBackgroundRequests` on ClusterPolicies. When every
OutOfSync resource of an Application is such a kind, the diff is runtime
mutation, not a change anyone made: declare it or ignore it.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, name_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

MUTATED_KINDS = frozenset({
    "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ClusterPolicy",
    "Policy", "APIService",
})
_FIX = (
    "# in the Application (Git):\nspec:\n  ignoreDifferences:\n"
    "    - {group: apiextensions.k8s.io, kind: CustomResourceDefinition, jsonPointers: "
    "[/spec/conversion/webhook/clientConfig/caBundle]}\n"
    "    - {group: admissionregistration.k8s.io, kind: MutatingWebhookConfiguration, "
    "jqPathExpressions: ['.webhooks[]?.clientConfig.caBundle']}\n"
    "    - {group: admissionregistration.k8s.io, kind: ValidatingWebhookConfiguration, "
    "jqPathExpressions: ['.webhooks[]?.clientConfig.caBundle']}\n"
    "  syncPolicy:\n    syncOptions: [RespectIgnoreDifferences=true]\n"
    "# for Kyverno ClusterPolicies: declare `admission: true` and `skipBackgroundRequests: true` explicitly"
)


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for app in index.objects("Application"):
        if dig(app, "status", "sync", "status") != "OutOfSync":
            continue
        drifted = [r for r in dig(app, "status", "resources") or [] if r.get("status") == "OutOfSync"]
        if not drifted or any(r.get("kind") not in MUTATED_KINDS for r in drifted):
            continue
        names = ", ".join(f"{r.get('kind')}/{r.get('name')}" for r in drifted[:5])
        found.append(RULE.finding(
            obj=ref(app, "Application"),
            message=f"Application {name_of(app)} stays OutOfSync only on fields that controllers write",
            evidence=f"status.sync.status=OutOfSync; status.resources[status=OutOfSync]: {names}",
            root_cause="admission controllers and operators inject or default fields (caBundle, webhook rules, "
            "policy defaults) that Git does not declare, so the diff never closes",
            fix=_FIX,
        ))
    return found


RULE = Rule(
    id="runtime-mutation-drift", title="No permanent drift from mutated fields", covers=("FM-05", "H-02"),
    category=Category.APPLICATION_SYNC, severity=Severity.WARNING, check=check,
)
