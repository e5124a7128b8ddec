"""FM-06 and H-08: a CustomResourceDefinition the platform needs is gone or going.

Deleting the InferenceService CRD garbage-collects every InferenceService in
seconds (SEV-1); a missing ApplicationSet CRD means the model-endpoint
generator can never be created. Both show up far away, as Applications with
health `Missing`, so this finding explains those.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, condition, dig
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

ISVC_CRD = "inferenceservices.serving.kserve.io"
APPSET_CRD = "applicationsets.argoproj.io"
_RESTORE = (
    "kubectl apply --server-side -f https://github.com/kserve/kserve/releases/download/v0.12.1/kserve.yaml\n"
    "kubectl wait crd/inferenceservices.serving.kserve.io --for=condition=Established --timeout=60s\n"
    "# then hard-refresh every model Application; remove any `$patch: delete` of this CRD from Git and "
    "annotate it `argocd.argoproj.io/sync-options: Prune=false`"
)


def _uses_kserve(index: SnapshotIndex) -> bool:
    return bool(index.objects("Deployment", "kserve") or index.objects("InferenceService")) or any(
        "serving.kserve.io" in str(dig(r, "group") or "")
        for app in index.objects("Application") for r in dig(app, "status", "resources") or []
    )


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    if index.meta.get("error"):
        return []
    found = []
    crd = index.get("CustomResourceDefinition", "", ISVC_CRD)
    if crd is None and _uses_kserve(index):
        found.append(_isvc_finding(ObjectRef(kind="CustomResourceDefinition", name=ISVC_CRD),
                                   f"customresourcedefinitions/{ISVC_CRD}: NotFound", "does not exist"))
    elif crd is not None and (crd.get("metadata") or {}).get("deletionTimestamp"):
        stamp = crd["metadata"]["deletionTimestamp"]
        found.append(_isvc_finding(ref(crd, "CustomResourceDefinition"),
                                   f"metadata.deletionTimestamp={stamp}", "is being deleted"))
    elif crd is not None and (cond := condition(crd, "Established")) and cond.get("status") != "True":
        found.append(_isvc_finding(ref(crd, "CustomResourceDefinition"),
                                   f"status.conditions[Established].status={cond.get('status')}", "is not Established"))
    if "ApplicationSet" in index.missing_kinds() and index.objects("Application"):
        found.append(RULE.finding(
            obj=ObjectRef(kind="CustomResourceDefinition", name=APPSET_CRD), severity=Severity.WARNING,
            message="the ApplicationSet CRD is not installed: model endpoints cannot be generated from apps/*",
            evidence=f"list applicationsets.argoproj.io: {index.missing_kinds()['ApplicationSet']}",
            root_cause="Argo CD was installed without the ApplicationSet controller and CRD",
            fix="kubectl apply --server-side -n argocd -f "
            "https://raw.githubusercontent.com/argoproj/argo-cd/stable/manifests/install.yaml",
            covers=("H-08",),
        ))
    return found


def _isvc_finding(obj: ObjectRef, evidence: str, state: str) -> DoctorFinding:
    return RULE.finding(
        obj=obj, message=f"the InferenceService CRD {state}: every InferenceService is garbage-collected",
        evidence=evidence,
        root_cause="the CRD was deleted (a `$patch: delete` file applied directly, or pruned after it left the "
        "rendered serving stack), and Kubernetes deletes every custom resource of a deleted CRD",
        fix=_RESTORE, explains_when=("status.health.status=Missing", "serving.kserve.io"), covers=("FM-06",),
    )


RULE = Rule(
    id="crd-missing", title="Platform CRDs present", covers=("FM-06", "H-08"),
    category=Category.CONTROL_PLANE, severity=Severity.ERROR, check=check,
)
