"""Every third-party version the generated platform pins, in one table.

Floating tags (`latest`, `stable`) made the reference platform change under
its users (FM-30, H-13); a version bump here is one reviewed diff.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    repo: str
    name: str
    version: str


ARGOCD_VERSION = "v2.13.1"
KYVERNO_APP_VERSION = "v1.12.5"  # the app version of the Kyverno chart below
KSERVE_CRD = Chart("ghcr.io/kserve/charts", "kserve-crd", "v0.13.0")
KSERVE = Chart("ghcr.io/kserve/charts", "kserve", "v0.13.0")
KNATIVE_OPERATOR = Chart("https://knative.github.io/operator", "knative-operator", "v1.17.1")
KNATIVE_SERVING_VERSION = "1.17"
ISTIO_BASE = Chart("https://istio-release.storage.googleapis.com/charts", "base", "1.22.3")
ISTIOD = Chart("https://istio-release.storage.googleapis.com/charts", "istiod", "1.22.3")
ISTIO_GATEWAY = Chart("https://istio-release.storage.googleapis.com/charts", "gateway", "1.22.3")
KYVERNO = Chart("https://kyverno.github.io/kyverno", "kyverno", "3.2.6")
OPENCOST = Chart("https://opencost.github.io/opencost-helm-chart", "opencost", "1.42.0")
BACKSTAGE = Chart("https://backstage.github.io/charts", "backstage", "2.6.3")

#: The upstream default (gcr.io/kubebuilder/kube-rbac-proxy) stopped being pullable (FM-16);
#: this mirror is published by the kube-rbac-proxy maintainers and keeps controller metrics (FM-17).
KUBE_RBAC_PROXY_IMAGE = "quay.io/brancz/kube-rbac-proxy:v0.18.0"
KSERVE_RUNTIME_TAG = "v0.13.0"
BACKSTAGE_DEV_IMAGE_TAG = "1.30.2"
NEUROSCALE_CI_PYTHON = "3.11"
