"""Every third-party version the generated platform pins, in one table.

Floating tags (`latest`, `stable`) made the reference platform change under
its users (FM-30, H-13); a version bump here is one reviewed diff. Every
generated file and the CI's CRD download read this table, and the platform
tests hold it against the packaged charts in `../shared/reference/charts/`
(chart version, app version, values keys, CRDs, images), so a bump that the
rest of the repository does not follow fails there, not on a cluster.

Each release also states the Kubernetes minors it is supported on (from its
project's compatibility matrix); `init` refuses a Kubernetes version outside
the intersection of what the chosen combination pins.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KubeRange:
    """Kubernetes minor versions (1.x) a release supports, both ends included."""

    low: int
    high: int

    def __contains__(self, minor: object) -> bool:
        return isinstance(minor, int) and self.low <= minor <= self.high

    def __str__(self) -> str:
        return f"1.{self.low}-1.{self.high}"


@dataclass(frozen=True)
class Chart:
    repo: str
    name: str
    version: str
    #: The release the chart installs (its `appVersion`), which CRD downloads and images follow.
    app_version: str = ""
    kubernetes: KubeRange = KubeRange(30, 33)

    @property
    def release(self) -> str:
        return self.app_version or self.version


#: ValidatingAdmissionPolicy is GA (admissionregistration.k8s.io/v1) from 1.30: the floor of the platform.
KUBERNETES_MIN_MINOR = 30
#: The Kubernetes release `init` targets when none is given.
KUBERNETES_DEFAULT_MINOR = 31

ARGOCD_VERSION = "v2.13.1"
ARGOCD_KUBERNETES = KubeRange(28, 31)
CERT_MANAGER = Chart("https://charts.jetstack.io", "cert-manager", "v1.18.2", kubernetes=KubeRange(29, 33))
KSERVE_CRD = Chart("ghcr.io/kserve/charts", "kserve-crd", "v0.20.0", "v0.20.0", KubeRange(30, 33))
KSERVE = Chart("ghcr.io/kserve/charts", "kserve-resources", "v0.20.0", "v0.20.0", KubeRange(30, 33))
KNATIVE_OPERATOR = Chart("https://knative.github.io/operator", "knative-operator", "v1.17.1", "v1.17.1",
                         KubeRange(30, 33))
KNATIVE_SERVING_VERSION = "1.17"
ISTIO_BASE = Chart("https://istio-release.storage.googleapis.com/charts", "base", "1.26.2", "1.26.2",
                   KubeRange(29, 33))
ISTIOD = Chart(ISTIO_BASE.repo, "istiod", ISTIO_BASE.version, ISTIO_BASE.version, ISTIO_BASE.kubernetes)
ISTIO_GATEWAY = Chart(ISTIO_BASE.repo, "gateway", ISTIO_BASE.version, ISTIO_BASE.version, ISTIO_BASE.kubernetes)
KYVERNO = Chart("https://kyverno.github.io/kyverno", "kyverno", "3.9.0", "v1.19.0", KubeRange(30, 34))
#: OpenCost collects usage itself (its collector data source), so no Prometheus is pinned or installed.
OPENCOST = Chart("https://opencost.github.io/opencost-helm-chart", "opencost", "2.5.17", "1.120.1", KubeRange(25, 34))
BACKSTAGE = Chart("https://backstage.github.io/charts", "backstage", "2.6.3", kubernetes=KubeRange(25, 34))

#: The upstream default (gcr.io/kubebuilder/kube-rbac-proxy) stopped being pullable (FM-16);
#: this mirror is published by the kube-rbac-proxy maintainers and keeps controller metrics (FM-17).
KUBE_RBAC_PROXY_IMAGE = "quay.io/brancz/kube-rbac-proxy:v0.18.0"
KSERVE_RUNTIME_TAG = KSERVE.release
BACKSTAGE_DEV_IMAGE_TAG = "1.30.2"
NEUROSCALE_CI_PYTHON = "3.11"


def supported_kubernetes(charts: tuple[Chart, ...]) -> KubeRange:
    """The Kubernetes minors every pinned release of a combination supports (with Argo CD and the VAP floor)."""
    low = max([KUBERNETES_MIN_MINOR, ARGOCD_KUBERNETES.low, *(c.kubernetes.low for c in charts)])
    high = min([ARGOCD_KUBERNETES.high, *(c.kubernetes.high for c in charts)])
    return KubeRange(low, high)
