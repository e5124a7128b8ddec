"""An InferenceService Ready in KServe but Progressing in Argo CD.

Argo CD's built-in health check for `serving.kserve.io/InferenceService` does
not understand every KServe condition set (or is missing on older versions),
so a working endpoint keeps its Application Progressing forever and blocks
sync waves behind it.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, name_of
from neuroscale.doctor.k8s import is_true, ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

_FIX = (
    "# argocd-cm (Git), a health check that reads KServe's Ready condition:\n"
    "data:\n  resource.customizations.health.serving.kserve.io_InferenceService: |\n"
    "    hs = {status = \"Progressing\", message = \"waiting for Ready\"}\n"
    "    if obj.status ~= nil and obj.status.conditions ~= nil then\n"
    "      for _, c in ipairs(obj.status.conditions) do\n"
    "        if c.type == \"Ready\" and c.status == \"True\" then hs.status = \"Healthy\"; hs.message = \"Ready\" end\n"
    "        if c.type == \"Ready\" and c.status == \"False\" then\n"
    "          hs.status = \"Degraded\"; hs.message = c.message\n        end\n"
    "      end\n    end\n    return hs"
)


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for app in index.objects("Application"):
        for res in dig(app, "status", "resources") or []:
            if res.get("kind") != "InferenceService" or dig(res, "health", "status") != "Progressing":
                continue
            isvc = index.get("InferenceService", str(res.get("namespace", "")), str(res.get("name", "")))
            if isvc is None or not is_true(isvc, "Ready"):
                continue
            found.append(RULE.finding(
                obj=ref(app, "Application"),
                message=f"InferenceService {res.get('namespace')}/{res.get('name')} is Ready in KServe but "
                f"Progressing in Argo CD ({name_of(app)})",
                evidence=f"InferenceService status.conditions[Ready].status=True; Application status.resources"
                f"[{res.get('name')}].health.status=Progressing",
                root_cause="Argo CD's health assessment for InferenceService does not read KServe's Ready condition",
                fix=_FIX,
            ))
    return found


RULE = Rule(
    id="health-check-mismatch", title="Argo CD health agrees with KServe", covers=("X-HEALTH",),
    category=Category.APPLICATION_SYNC, severity=Severity.WARNING, check=check,
)
