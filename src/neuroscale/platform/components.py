"""The platform's Argo CD Applications, in sync-wave order, for the chosen options.

Waves: -10 policy engine (Kyverno only — VAP is built into the API server;
its webhooks must be serving before anything else syncs, FM-22); 0 namespaces
and quotas; 10-12 ingress and serving stack; 20 runtimes; 30
policies (after the CRDs they name exist); 40 OpenCost; 50 Backstage; 90 the
model-endpoints ApplicationSet. Argo CD waits for each wave only when the
Application health check is enabled (see the generated README).
"""

from __future__ import annotations

from typing import Any

from neuroscale.platform import versions
from neuroscale.platform.argocd import AppSpec
from neuroscale.platform.backstage import BACKSTAGE_NAMESPACE, BACKSTAGE_PATH, RELEASE
from neuroscale.platform.governance import NAMESPACES_PATH, POLICIES_PATH
from neuroscale.platform.options import InitOptions
from neuroscale.platform.serving import KSERVE_NAMESPACE, KNATIVE_NAMESPACE, RUNTIMES_PATH, SERVING_STACK_PATH, kserve_values
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_OWNER

OPENCOST_NAMESPACE = "opencost"
OPENCOST_RELEASE = "neuroscale-opencost"
APPSET_WAVE = 90

#: Knative's webhook rewrites its own rules; Argo CD must not fight it (FM-05).
KNATIVE_WEBHOOK_RULES = (
    {"group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration",
     "name": "validation.webhook.serving.knative.dev", "jqPathExpressions": [".webhooks[]?.rules"]},
    {"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
     "name": "webhook.serving.knative.dev", "jqPathExpressions": [".webhooks[]?.rules"]},
)


def opencost_values() -> dict[str, Any]:
    """Kubernetes list pricing; cost is read per team with `aggregate=label:owner` / `label:cost-center`."""
    return {"opencost": {
        "exporter": {
            "defaultClusterId": "neuroscale",
            "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
            "extraEnv": {"CLOUD_COST_ENABLED": "false"},
        },
        "ui": {"enabled": True},
        "prometheus": {"internal": {"enabled": True}},
        "metrics": {"serviceMonitor": {"enabled": False}},
    }}


def applications(options: InitOptions) -> list[AppSpec]:
    apps = [AppSpec("neuroscale-namespaces", 0, options.namespace, path=NAMESPACES_PATH, create_namespace=False,
                    description="namespace, ResourceQuota and LimitRange for model endpoints")]
    if options.policy_engine == "kyverno":
        apps.append(AppSpec("kyverno", -10, "kyverno", chart=versions.KYVERNO, server_side=True, ignore_cabundle=True,
                            values={"admissionController": {"replicas": 1}},
                            description="policy engine, installed before the workloads it judges (FM-22)"))
    if options.ingress == "istio":
        apps += [
            AppSpec("istio-base", 8, "istio-system", chart=versions.ISTIO_BASE, server_side=True,
                    ignore_cabundle=True, prune=False),
            AppSpec("istiod", 9, "istio-system", chart=versions.ISTIOD, ignore_cabundle=True),
            AppSpec("istio-ingressgateway", 9, "istio-system", chart=versions.ISTIO_GATEWAY),
        ]
    apps += [
        # CRD apps never prune: pruning a CRD deletes every object of that kind (FM-06).
        AppSpec("kserve-crd", 10, KSERVE_NAMESPACE, chart=versions.KSERVE_CRD, server_side=True,
                ignore_cabundle=True, prune=False, description="KServe CRDs (large: server-side apply)"),
        AppSpec("knative-operator", 10, "knative-operator", chart=versions.KNATIVE_OPERATOR, server_side=True,
                ignore_cabundle=True, prune=False, description="Knative operator and its CRDs"),
        AppSpec("serving-stack", 11, KNATIVE_NAMESPACE, path=SERVING_STACK_PATH, server_side=True,
                ignore_cabundle=True, extra_ignore=KNATIVE_WEBHOOK_RULES,
                description=f"Knative Serving with {options.ingress} ingress and domain {options.domain}"),
        AppSpec("kserve", 12, KSERVE_NAMESPACE, chart=versions.KSERVE, values=kserve_values(options),
                server_side=True, ignore_cabundle=True,
                description="KServe controller and ingress config; kube-rbac-proxy comes from quay.io/brancz because "
                            "the chart's default registry is no longer pullable (FM-16); metrics stay on (FM-17)"),
        AppSpec("serving-runtimes", 20, KSERVE_NAMESPACE, path=RUNTIMES_PATH, create_namespace=False,
                description="ClusterServingRuntimes for sklearn, xgboost and lightgbm"),
        AppSpec("policies", 30, options.namespace, path=POLICIES_PATH, create_namespace=False,
                description=f"bundled guardrail policies ({options.policy_engine})"),
        AppSpec(OPENCOST_RELEASE, 40, OPENCOST_NAMESPACE, chart=versions.OPENCOST, values=opencost_values(),
                description=f"cost by '{LABEL_OWNER}' and '{LABEL_COST_CENTER}' labels"),
        AppSpec(RELEASE, 50, BACKSTAGE_NAMESPACE, path=BACKSTAGE_PATH, value_files=("values-dev.yaml",),
                description="developer portal (dev profile; see README for prod)"),
    ]
    return apps
