"""NS-L022: NeuroScale annotations that only the embedded gateway acts on, in a repository a cluster runs.

KServe ignores annotations it does not know, so an InferenceService carrying
`serving.neuroscale.io/require-api-key: "true"` syncs to a cluster without a
word — and there it answers every request, with or without a key: nothing
between the ingress and the predictor reads the annotation. That is the
silent security gap of FM-32's kind (a flag that reads as protection and is
none). Recording and shadow traffic are gateway features too: on a cluster
they do nothing. A repository is taken to run on a cluster when Argo CD
objects (`argoproj.io`) deploy it, as `neuroscale init` writes them; the
embedded platform's repository has none.
"""

from __future__ import annotations

from neuroscale.check.lints.base import Lint, dig
from neuroscale.check.model import Document, RepoView
from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity
from neuroscale.spec import extensions

ID = "NS-L022"
#: annotation -> (the gateway feature it turns on, what a cluster does instead)
_GATEWAY_FEATURES = {
    extensions.RECORD: ("recording requests", "the prediction diff replays the sample-requests.jsonl committed "
                                              "beside the manifest"),
    extensions.SHADOW_PERCENT: ("shadow traffic", "Istio's traffic mirroring, or a canary, is the cluster's "
                                                  "counterpart"),
}


def _deployed_by_argo(view: RepoView) -> bool:
    return any(isinstance(doc.data, dict) and str(doc.data.get("apiVersion", "")).startswith("argoproj.io/")
               for doc in view.documents)


def _requires_keys(notes: dict[str, str]) -> bool:
    try:
        return extensions.require_api_key(notes)
    except InvalidInput:
        return notes.get(extensions.REQUIRE_API_KEY, "").strip().lower() not in ("", "false")


def _annotations(doc: Document) -> dict[str, str]:
    """The annotations as written, an unquoted YAML `true` or `25` read as its text: the API server would refuse
    the type, but the intent — a gateway feature a cluster ignores — is what this lint reports."""
    raw = dig(doc.data, "metadata", "annotations")
    if not isinstance(raw, dict):
        return {}
    return {str(key): str(value).lower() if isinstance(value, bool) else str(value) for key, value in raw.items()}


def check(view: RepoView) -> list[Finding]:
    if not _deployed_by_argo(view):
        return []
    findings: list[Finding] = []
    for doc in view.documents:
        if doc.kind != "InferenceService":
            continue
        notes = _annotations(doc)
        if _requires_keys(notes):
            findings.append(view.finding(
                doc, rule=ID, severity=Severity.ERROR, needle=extensions.REQUIRE_API_KEY,
                field_path=f"metadata.annotations.{extensions.REQUIRE_API_KEY}",
                message=f"{extensions.REQUIRE_API_KEY} is enforced by NeuroScale's embedded gateway only: synced by "
                        "Argo CD to KServe, this endpoint answers requests without any key",
                fix="enforce authentication at the cluster's ingress for this endpoint's host (for Istio, a "
                    "RequestAuthentication and an AuthorizationPolicy), then remove the annotation; or serve the "
                    "endpoint on the embedded platform"))
        for key, (feature, instead) in _GATEWAY_FEATURES.items():
            if notes.get(key, "").strip().lower() not in ("", "false", "0"):
                findings.append(view.finding(
                    doc, rule=ID, severity=Severity.WARNING, needle=key, field_path=f"metadata.annotations.{key}",
                    message=f"{key} does nothing on a cluster: {feature} is a feature of NeuroScale's embedded gateway",
                    fix=f"remove the annotation from manifests a cluster runs; {instead}"))
    return findings


LINT = Lint(id=ID, title="Embedded-gateway annotation on a cluster endpoint", failure_modes=("FM-32",),
            severity=Severity.ERROR, check=check)
