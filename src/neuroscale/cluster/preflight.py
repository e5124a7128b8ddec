"""`neuroscale cluster preflight`: will this cluster take the platform? Asked before bootstrap.

A platform that half-installs is worse than one that never starts: Argo CD
keeps retrying, and the cause hides behind sync errors. So before anything is
applied this reads the cluster through the API (official client, read-only
plus one SelfSubjectAccessReview) and answers, per check, PASS, FAIL with the
fix, or SKIP when it cannot tell:

- the Kubernetes version is one every release of the repository's pinned
  combination supports (ValidatingAdmissionPolicy v1 needs 1.30);
- no CRD or admission webhook the platform installs is already there from
  another installation (two owners of one CRD fight; a stale webhook whose
  service is gone blocks every request it matches);
- a default StorageClass exists (OpenCost keeps its data on a volume);
- something implements `type: LoadBalancer` (a cloud, k3s' ServiceLB, MetalLB);
- the user may do everything (`*` on `*`), as installing CRDs and webhooks needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroscale.cluster.kube import Kube
from neuroscale.cluster.objects import CRDS, name_of
from neuroscale.cluster.results import SmokeResult, failed, passed, skipped
from neuroscale.errors import InvalidInput, NotFound
from neuroscale.platform import versions
from neuroscale.platform.argocd import APPS_PATH
from neuroscale.yamlio import load_all

SECTION = "preflight"
WEBHOOK_PATHS = ("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
                 "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations")
STORAGE_CLASSES = "/apis/storage.k8s.io/v1/storageclasses"
ACCESS_REVIEW = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
DEFAULT_CLASS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
#: Node provider IDs whose clusters implement LoadBalancer Services themselves.
LB_PROVIDERS = ("aws://", "gce://", "azure://", "digitalocean://", "linode://", "hcloud://", "oci://", "k3s://")


@dataclass(frozen=True)
class Owned:
    """What one Application of the platform installs that another installation could already hold."""

    crd_groups: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()


#: By Application name (as `neuroscale init` writes them under infrastructure/apps/).
OWNED = {
    "cert-manager": Owned(("cert-manager.io", "acme.cert-manager.io"), ("cert-manager-webhook",)),
    "kserve-crd": Owned(("serving.kserve.io",)),
    "kserve": Owned(webhooks=("inferenceservice.serving.kserve.io", "clusterservingruntime.serving.kserve.io",
                              "servingruntime.serving.kserve.io", "inferencegraph.serving.kserve.io",
                              "trainedmodel.serving.kserve.io")),
    "knative-operator": Owned(("operator.knative.dev",)),
    "serving-stack": Owned(("serving.knative.dev", "networking.internal.knative.dev",
                            "autoscaling.internal.knative.dev"),
                           ("webhook.serving.knative.dev", "validation.webhook.serving.knative.dev",
                            "config.webhook.serving.knative.dev")),
    "kyverno": Owned(("kyverno.io", "policies.kyverno.io", "reports.kyverno.io", "wgpolicyk8s.io"),
                     ("kyverno-resource-validating-webhook-cfg", "kyverno-resource-mutating-webhook-cfg",
                      "kyverno-policy-validating-webhook-cfg", "kyverno-exception-validating-webhook-cfg")),
    "istio-base": Owned(("networking.istio.io", "security.istio.io", "telemetry.istio.io",
                         "extensions.istio.io")),
    "istiod": Owned(webhooks=("istio-sidecar-injector", "istio-validator-istio-system")),
}
ALL_CHARTS = (versions.CERT_MANAGER, versions.KSERVE_CRD, versions.KSERVE, versions.KNATIVE_OPERATOR,
              versions.ISTIO_BASE, versions.ISTIOD, versions.ISTIO_GATEWAY, versions.KYVERNO, versions.OPENCOST,
              versions.BACKSTAGE)


def repository_applications(repo_dir: Path) -> list[dict[str, Any]]:
    """The Applications `neuroscale init` wrote, read from the platform repository."""
    apps_dir = repo_dir / APPS_PATH
    if not apps_dir.is_dir():
        raise NotFound(f"{APPS_PATH} not found in {repo_dir}", where="--repo",
                       fix="run from the platform repository, or generate it with `neuroscale init`")
    found = []
    for path in sorted(apps_dir.glob("*.yaml")):
        for doc in load_all(path.read_text(encoding="utf-8"), where=str(path)):
            if isinstance(doc, dict) and doc.get("kind") == "Application":
                found.append(doc)
    if not found:
        raise InvalidInput(f"no Argo CD Application in {apps_dir}", where="--repo",
                           fix="re-run `neuroscale init` to regenerate the repository")
    return found


def _owner(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    tracking = str((metadata.get("annotations") or {}).get(TRACKING_ANNOTATION, ""))
    return tracking.split(":", 1)[0] or str((metadata.get("labels") or {}).get(INSTANCE_LABEL, ""))


def check_version(kube: Kube, apps: list[dict[str, Any]]) -> SmokeResult:
    from neuroscale.platform.options import kubernetes_minor

    charts = {(str(a["spec"].get("source", {}).get("chart", "")), str(a["spec"].get("source", {})
                                                                         .get("targetRevision", ""))) for a in apps}
    pinned = tuple(c for c in ALL_CHARTS if (c.name, c.version) in charts)
    supported = versions.supported_kubernetes(pinned)
    info = kube.get("/version") or {}
    version = str(info.get("gitVersion") or f"v{info.get('major', '?')}.{info.get('minor', '?')}")
    try:
        minor = kubernetes_minor(version)
    except InvalidInput:
        return skipped(SECTION, "Kubernetes version", f"the API server reports {version!r}",
                       f"check by hand that it is Kubernetes {supported}")
    if minor in supported:
        return passed(SECTION, "Kubernetes version", f"{version} (the pinned releases support {supported})")
    return failed(SECTION, "Kubernetes version", f"{version} is outside {supported}, what the pinned releases support",
                  f"use a cluster running Kubernetes {supported}")


def check_conflicts(kube: Kube, apps: list[dict[str, Any]]) -> list[SmokeResult]:
    """CRDs and webhooks of the repository's components that another installation already holds."""
    names = [name_of(a) for a in apps if name_of(a) in OWNED]
    crds = kube.items(CRDS) or []
    hooks = [h for path in WEBHOOK_PATHS for h in kube.items(path) or []]
    conflicts = []
    for app in names:
        owned = OWNED[app]
        for crd in crds:
            group = str((crd.get("spec") or {}).get("group", ""))
            if group in owned.crd_groups and _owner(crd) != app:
                conflicts.append(f"CRD {name_of(crd)} ({_owner(crd) or 'not installed by Argo CD'}; wanted by {app})")
        for hook in hooks:
            if name_of(hook) in owned.webhooks and _owner(hook) != app:
                conflicts.append(f"webhook {name_of(hook)} ({_owner(hook) or 'not installed by Argo CD'}; "
                                 f"wanted by {app})")
    if conflicts:
        return [failed(SECTION, "no conflicting CRDs or webhooks", "; ".join(conflicts),
                       "uninstall the other installation (its Helm release or manifests) first, or remove that "
                       "component from infrastructure/apps/ and keep the installed one")]
    return [passed(SECTION, "no conflicting CRDs or webhooks",
                   f"none of the {len(names)} components' CRDs or webhooks is installed by anything else")]


def check_storage(kube: Kube) -> SmokeResult:
    classes = kube.items(STORAGE_CLASSES) or []
    defaults = [name_of(c) for c in classes
                if any(((c.get("metadata") or {}).get("annotations") or {}).get(a) == "true" for a in DEFAULT_CLASS)]
    if len(defaults) == 1:
        return passed(SECTION, "default StorageClass", defaults[0])
    if not defaults:
        return failed(SECTION, "default StorageClass",
                      f"none of {len(classes)} StorageClasses is the default: OpenCost's volume would stay Pending",
                      "kubectl annotate storageclass <name> storageclass.kubernetes.io/is-default-class=true")
    return failed(SECTION, "default StorageClass", f"{len(defaults)} defaults ({', '.join(defaults)}): which one a "
                  "claim gets is undefined", "keep the annotation on one StorageClass only")


def check_load_balancer(kube: Kube) -> SmokeResult:
    services = kube.items("/api/v1/services") or []
    served = [f"{(s.get('metadata') or {}).get('namespace')}/{name_of(s)}" for s in services
              if (s.get("spec") or {}).get("type") == "LoadBalancer"
              and ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress")]
    if served:
        return passed(SECTION, "LoadBalancer support", f"{served[0]} has an external address")
    nodes = kube.items("/api/v1/nodes") or []
    providers = sorted({str((n.get("spec") or {}).get("providerID", "")).split("://")[0] + "://" for n in nodes
                        if str((n.get("spec") or {}).get("providerID", "")).startswith(LB_PROVIDERS)})
    if providers:
        return passed(SECTION, "LoadBalancer support", f"nodes run on {', '.join(providers)}, which provides it")
    if kube.get("/api/v1/namespaces/metallb-system") is not None:
        return passed(SECTION, "LoadBalancer support", "MetalLB is installed")
    return skipped(SECTION, "LoadBalancer support", "no LoadBalancer Service with an address, no cloud provider, "
                   "no MetalLB: the ingress would be reachable through `neuroscale cluster tunnels` only",
                   "install a LoadBalancer implementation (MetalLB on bare metal) to expose endpoints")


def check_admin(kube: Kube) -> SmokeResult:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "*", "group": "*", "resource": "*"}}}
    answer = kube.request("POST", ACCESS_REVIEW, body=review)
    if answer.ok and (answer.body.get("status") or {}).get("allowed") is True:
        return passed(SECTION, "cluster-admin rights", f"context {kube.context} may do everything")
    reason = (answer.body.get("status") or {}).get("reason") or answer.message or f"HTTP {answer.status}"
    return failed(SECTION, "cluster-admin rights", f"context {kube.context} is not cluster-admin ({reason})",
                  "bootstrap with a cluster-admin context: the platform installs CRDs, webhooks and cluster roles")


def preflight(kube: Kube, *, repo_dir: Path) -> list[SmokeResult]:
    apps = repository_applications(repo_dir)
    return [check_version(kube, apps), *check_conflicts(kube, apps), check_storage(kube),
            check_load_balancer(kube), check_admin(kube)]
