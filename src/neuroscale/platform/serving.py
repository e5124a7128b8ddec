"""The serving stack: KServe, Knative Serving and the ingress, plus the model runtimes.

Upstream install bundles are too large to vendor and must not be copied, so
the big pieces come from pinned Helm charts referenced by Argo CD, and only
small files written here live in local kustomizations (which therefore build
offline). The choices that bit the reference platform are made explicitly:
KServe's ingress matches the chosen ingress (FM-15), the domain is the user's
(FM-18), Knative's ingress class and domain are set in Git (FM-21), and the
kube-rbac-proxy sidecar uses a pullable image (FM-16, FM-17).
"""

from __future__ import annotations

from typing import Any

from neuroscale.platform import versions
from neuroscale.platform.options import InitOptions
from neuroscale.spec.fields import LABEL_MANAGED_BY, MANAGED_BY, MODEL_FORMATS

KNATIVE_NAMESPACE = "knative-serving"
KSERVE_NAMESPACE = "kserve"
SERVING_STACK_PATH = "infrastructure/serving-stack"
RUNTIMES_PATH = "infrastructure/runtimes"
INGRESS_CLASS = {"kourier": "kourier.ingress.networking.knative.dev",
                 "istio": "istio.ingress.networking.knative.dev"}
#: Where the ingress gateway Service lives, per ingress (used by tunnels and smoke too).
INGRESS_SERVICE = {"kourier": (KNATIVE_NAMESPACE, "kourier", 80),
                   "istio": ("istio-system", "istio-ingressgateway", 80)}
RUNTIME_IMAGES = {"sklearn": "kserve/sklearnserver", "xgboost": "kserve/xgbserver", "lightgbm": "kserve/lgbserver"}
#: Our runtimes win over the chart's own ClusterServingRuntimes for the same formats.
RUNTIME_PRIORITY = 2


def _labels() -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY}


def kserve_values(options: InitOptions) -> dict[str, Any]:
    """Helm values for the kserve-resources chart: Knative mode, the ingress config (FM-15/18), the sidecar (FM-16).

    Every key exists in the pinned chart's values.yaml (tested). Its webhooks get their certificate from
    cert-manager (`cert-manager.io/inject-ca-from`), which is therefore a dependency of this component.
    """
    kourier = options.ingress == "kourier"
    gateway: dict[str, Any] = {
        "domain": options.domain,
        "disableIstioVirtualHost": kourier,
        "localGateway": {
            "gatewayService": (f"kourier-internal.{KNATIVE_NAMESPACE}.svc.cluster.local" if kourier
                               else "knative-local-gateway.istio-system.svc.cluster.local"),
        },
    }
    return {"kserve": {
        "certManager": {"enabled": True},
        "controller": {
            "deploymentMode": "Knative",
            "gateway": gateway,
            "rbacProxyImage": versions.KUBE_RBAC_PROXY_IMAGE,
        },
    }}


def knative_serving(options: InitOptions) -> dict[str, Any]:
    """The KnativeServing resource the Knative operator reconciles into the serving components."""
    ingress: dict[str, Any] = {options.ingress: {"enabled": True}}
    if options.ingress == "kourier":
        ingress["kourier"]["service-type"] = "ClusterIP"
    return {
        "apiVersion": "operator.knative.dev/v1beta1",
        "kind": "KnativeServing",
        "metadata": {"name": "knative-serving", "namespace": KNATIVE_NAMESPACE, "labels": _labels()},
        "spec": {
            "version": versions.KNATIVE_SERVING_VERSION,
            "ingress": ingress,
            "config": {
                "network": {"ingress-class": INGRESS_CLASS[options.ingress]},
                "domain": {options.domain: ""},
                # The queue-proxy sidecar asks for 25m CPU; the namespace LimitRange minimum stays below it (FM-19).
                "deployment": {"queue-sidecar-cpu-request": "25m"},
            },
        },
    }


def serving_stack_files(options: InitOptions) -> dict[str, Any]:
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": KNATIVE_NAMESPACE, "labels": _labels()}}
    return {
        f"{SERVING_STACK_PATH}/namespace.yaml": namespace,
        f"{SERVING_STACK_PATH}/knative-serving.yaml": knative_serving(options),
        f"{SERVING_STACK_PATH}/kustomization.yaml": kustomization(["namespace.yaml", "knative-serving.yaml"]),
    }


def cluster_serving_runtime(model_format: str) -> dict[str, Any]:
    """A runtime with the args the server needs spelled out (H-10) and explicit resources (FM-38)."""
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": f"neuroscale-{model_format}", "labels": _labels()},
        "spec": {
            "annotations": {"prometheus.kserve.io/port": "8080", "prometheus.kserve.io/path": "/metrics"},
            "supportedModelFormats": [{"name": model_format, "version": "1", "autoSelect": True,
                                       "priority": RUNTIME_PRIORITY}],
            "protocolVersions": ["v1", "v2"],
            "containers": [{
                "name": "kserve-container",
                "image": f"{RUNTIME_IMAGES[model_format]}:{versions.KSERVE_RUNTIME_TAG}",
                "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}},
                "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }


def runtime_files() -> dict[str, Any]:
    files: dict[str, Any] = {f"{RUNTIMES_PATH}/{fmt}.yaml": cluster_serving_runtime(fmt) for fmt in MODEL_FORMATS}
    files[f"{RUNTIMES_PATH}/kustomization.yaml"] = kustomization([f"{fmt}.yaml" for fmt in MODEL_FORMATS])
    return files


def kustomization(resources: list[str]) -> dict[str, Any]:
    """A kustomization over local files only, so `kubectl kustomize` works offline."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
