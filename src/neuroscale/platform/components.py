"""The platform's components, what each needs, and the Argo CD sync waves derived from that.

Each component declares the capabilities it installs and the ones it needs
first: the kinds of its objects (`kind:<group>/<Kind>`, installed by a CRD),
the admission webhooks that must be serving before its objects arrive
(`webhook:<name>`), and services such as the endpoint namespaces. A
component's wave is one step after the latest of its providers, so nothing
is ordered by hand: Kyverno precedes everything its webhooks would see
(FM-22), KServe follows cert-manager (its webhooks take their
certificate from it), the Istio gateway follows istiod (its `image: auto`
needs the sidecar injector), the runtimes follow KServe's webhook, the
policies follow their engine, and the model endpoints come last. A need no
component provides is a bug in this table and fails `init` loudly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from neuroscale.errors import NeuroScaleError
from neuroscale.platform import previews, versions
from neuroscale.platform.argocd import AppSpec
from neuroscale.platform.backstage import BACKSTAGE_NAMESPACE, BACKSTAGE_PATH, RELEASE
from neuroscale.platform.governance import NAMESPACES_PATH, POLICIES_PATH
from neuroscale.platform.options import InitOptions
from neuroscale.platform.serving import KSERVE_NAMESPACE, KNATIVE_NAMESPACE, RUNTIMES_PATH, SERVING_STACK_PATH, kserve_values
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_OWNER

OPENCOST_NAMESPACE = "opencost"
OPENCOST_RELEASE = "neuroscale-opencost"
#: Steps between consecutive waves, leaving room for components users add in between.
WAVE_STEP = 10
#: The first wave is below 0, the wave of every object without the annotation (the root app included),
#: so what has no needs - the policy engine above all (FM-22) - is in place before anything else.
FIRST_WAVE = -10
#: The names of the two non-Application nodes of the graph (synced by the root app).
ENDPOINTS_PROJECT_NODE = "endpoints-project"
APPSET_NODE = "model-endpoints"

#: Knative's webhook rewrites its own rules; Argo CD must not fight it (FM-05).
KNATIVE_WEBHOOK_RULES = (
    {"group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration",
     "name": "validation.webhook.serving.knative.dev", "jqPathExpressions": [".webhooks[]?.rules"]},
    {"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
     "name": "webhook.serving.knative.dev", "jqPathExpressions": [".webhooks[]?.rules"]},
)
#: istiod sets its validating webhook's failurePolicy to Fail once it serves; Git keeps the chart's Ignore.
ISTIOD_FAILURE_POLICY = (
    {"group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration",
     "jqPathExpressions": [".webhooks[]?.failurePolicy"]},
)

CERT_MANAGER_KINDS = ("Certificate", "Issuer", "ClusterIssuer", "CertificateRequest")
KSERVE_KINDS = ("InferenceService", "ServingRuntime", "ClusterServingRuntime", "InferenceGraph", "TrainedModel",
                "ClusterStorageContainer")
KYVERNO_KINDS = ("ClusterPolicy", "Policy", "CleanupPolicy")
ISTIO_KINDS = ("Gateway", "VirtualService", "DestinationRule")
KNATIVE_SERVING_KINDS = ("Service", "Configuration", "Revision", "Route")


def kinds(group: str, names: Sequence[str]) -> tuple[str, ...]:
    """Capabilities for kinds of one API group."""
    return tuple(f"kind:{group}/{name}" for name in names)


@dataclasses.dataclass(frozen=True)
class Node:
    """A synced object of the root app that is not an Application (same dependency fields)."""

    name: str
    provides: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    wave: int = 0


def opencost_values() -> dict[str, Any]:
    """List pricing; usage from OpenCost's own collector (no Prometheus to install), kept on a small volume.

    Cost is read per team with `aggregate=label:owner` / `label:cost-center`. Every key exists in the
    pinned chart's values.yaml (tested).
    """
    return {"opencost": {
        "exporter": {
            "defaultClusterId": "neuroscale",
            "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
            "collectorDataSource": {"enabled": True},
            "persistence": {"enabled": True, "size": "2Gi", "accessMode": "ReadWriteOnce"},
        },
        "cloudCost": {"enabled": False},  # list prices until a bill is connected (README: OpenCost billing)
        "ui": {"enabled": True},
        "prometheus": {"internal": {"enabled": False}},
        "metrics": {"serviceMonitor": {"enabled": False}},
    }}


def _kyverno_values(options: InitOptions) -> dict[str, Any]:
    """One admission replica; with a preview TTL, the cleanup controller may delete InferenceServices."""
    values: dict[str, Any] = {"admissionController": {"replicas": 1}}
    if options.preview_ttl_hours is not None:
        values["cleanupController"] = {"rbac": {"clusterRole": {"extraResources": previews.cleanup_permissions()}}}
    return values


def _policy_engine(options: InitOptions) -> list[AppSpec]:
    if options.policy_engine != "kyverno":
        return []
    return [AppSpec("kyverno", "kyverno", chart=versions.KYVERNO, server_side=True, ignore_cabundle=True,
                    values=_kyverno_values(options),
                    provides=(*kinds("kyverno.io", KYVERNO_KINDS), "webhook:kyverno"),
                    description="policy engine, serving before the policies and the endpoints it judges (FM-22)")]


def _istio(options: InitOptions) -> list[AppSpec]:
    if options.ingress != "istio":
        return []
    return [
        AppSpec("istio-base", "istio-system", chart=versions.ISTIO_BASE, server_side=True, ignore_cabundle=True,
                prune=False, provides=kinds("networking.istio.io", ISTIO_KINDS)),
        AppSpec("istiod", "istio-system", chart=versions.ISTIOD, ignore_cabundle=True,
                extra_ignore=ISTIOD_FAILURE_POLICY, needs=kinds("networking.istio.io", ISTIO_KINDS),
                provides=("webhook:istio-sidecar-injector",),
                description="istio control plane; its webhook failurePolicy drift is ignored"),
        AppSpec("istio-ingressgateway", "istio-system", chart=versions.ISTIO_GATEWAY,
                needs=("webhook:istio-sidecar-injector",), provides=("ingress:istio",),
                description="the gateway's image ('auto') is filled in by istiod's injector, so it follows istiod"),
    ]


def _serving(options: InitOptions) -> list[AppSpec]:
    ingress_needs = ("ingress:istio",) if options.ingress == "istio" else ()
    return [
        AppSpec("cert-manager", "cert-manager", chart=versions.CERT_MANAGER, server_side=True,
                ignore_cabundle=True, prune=False, values={"crds": {"enabled": True}},
                provides=(*kinds("cert-manager.io", CERT_MANAGER_KINDS), "webhook:cert-manager"),
                description="certificates for KServe's webhooks (cert-manager.io/inject-ca-from)"),
        # CRD apps never prune: pruning a CRD deletes every object of that kind (FM-06).
        AppSpec("kserve-crd", KSERVE_NAMESPACE, chart=versions.KSERVE_CRD, server_side=True,
                ignore_cabundle=True, prune=False, provides=kinds("serving.kserve.io", KSERVE_KINDS),
                description="KServe CRDs (large: server-side apply)"),
        AppSpec("knative-operator", "knative-operator", chart=versions.KNATIVE_OPERATOR, server_side=True,
                ignore_cabundle=True, prune=False,
                provides=(*kinds("operator.knative.dev", ("KnativeServing",)), "webhook:knative-operator"),
                description="Knative operator and its CRDs"),
        AppSpec("serving-stack", KNATIVE_NAMESPACE, path=SERVING_STACK_PATH, server_side=True,
                ignore_cabundle=True, extra_ignore=KNATIVE_WEBHOOK_RULES,
                needs=(*kinds("operator.knative.dev", ("KnativeServing",)), "webhook:knative-operator",
                       *ingress_needs),
                provides=(*kinds("serving.knative.dev", KNATIVE_SERVING_KINDS), "webhook:knative-serving"),
                description=f"Knative Serving with {options.ingress} ingress and domain {options.domain}"),
        AppSpec("kserve", KSERVE_NAMESPACE, chart=versions.KSERVE, values=kserve_values(options),
                server_side=True, ignore_cabundle=True,
                needs=(*kinds("serving.kserve.io", ("ClusterStorageContainer",)),
                       *kinds("cert-manager.io", ("Certificate", "Issuer")), "webhook:cert-manager",
                       *kinds("serving.knative.dev", ("Service",)), "webhook:knative-serving"),
                provides=("webhook:kserve",),
                description="KServe controller and ingress config; kube-rbac-proxy comes from quay.io/brancz because "
                            "the old default registry is no longer pullable (FM-16); metrics stay on (FM-17)"),
        AppSpec("serving-runtimes", KSERVE_NAMESPACE, path=RUNTIMES_PATH, create_namespace=False,
                needs=(*kinds("serving.kserve.io", ("ClusterServingRuntime",)), "webhook:kserve"),
                provides=("runtimes",), description="ClusterServingRuntimes for sklearn, xgboost and lightgbm"),
    ]


def _components(options: InitOptions) -> list[AppSpec]:
    apps = _unordered(options)
    if options.policy_engine != "kyverno":
        return apps
    # Kyverno's webhooks see every request once registered: everything else waits until it serves (FM-22).
    return [app if app.name == "kyverno" else dataclasses.replace(app, needs=(*app.needs, "webhook:kyverno"))
            for app in apps]


def _unordered(options: InitOptions) -> list[AppSpec]:
    engine_needs = (*kinds("kyverno.io", ("ClusterPolicy",)), "webhook:kyverno") \
        if options.policy_engine == "kyverno" else ()
    return [
        AppSpec("neuroscale-namespaces", options.namespace, path=NAMESPACES_PATH, create_namespace=False,
                provides=("namespaces:endpoints",),
                description="namespace, ResourceQuota and LimitRange for model endpoints"),
        *_policy_engine(options),
        *_istio(options),
        *_serving(options),
        AppSpec("policies", options.namespace, path=POLICIES_PATH, create_namespace=False,
                needs=(*engine_needs, *kinds("serving.kserve.io", ("InferenceService",))), provides=("policies",),
                description=f"bundled guardrail policies ({options.policy_engine}), scoped to the endpoint "
                            "namespaces"),
        AppSpec(OPENCOST_RELEASE, OPENCOST_NAMESPACE, chart=versions.OPENCOST, values=opencost_values(),
                provides=("cost",), description=f"cost by '{LABEL_OWNER}' and '{LABEL_COST_CENTER}' labels"),
        AppSpec(RELEASE, BACKSTAGE_NAMESPACE, path=BACKSTAGE_PATH, value_files=("values-dev.yaml",),
                provides=("portal",), description="developer portal (dev profile; see README for prod)"),
    ]


def _nodes(options: InitOptions) -> list[Node]:
    engine = ("webhook:kyverno",) if options.policy_engine == "kyverno" else ()
    return [
        Node(ENDPOINTS_PROJECT_NODE, provides=("project:endpoints",), needs=engine),
        Node(APPSET_NODE, needs=("project:endpoints", "namespaces:endpoints", "policies", "runtimes",
                                 "webhook:kserve", *kinds("serving.kserve.io", ("InferenceService",)))),
    ]


def derive_waves(items: Sequence[AppSpec | Node]) -> dict[str, int]:
    """Wave of each item: FIRST_WAVE without needs, else one step after the latest provider of any need."""
    providers: dict[str, list[str]] = {}
    for item in items:
        for capability in item.provides:
            providers.setdefault(capability, []).append(item.name)
    needs = {item.name: item.needs for item in items}
    missing = sorted({f"{name} needs {need}" for name, wanted in needs.items() for need in wanted
                      if need not in providers})
    if missing:
        raise NeuroScaleError(f"the component graph has unmet needs: {'; '.join(missing)}",
                              fix="declare the capability on the component that installs it "
                                  "(neuroscale.platform.components)")
    depth: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            raise NeuroScaleError(f"the component graph has a cycle: {' -> '.join((*path, name))}",
                                  fix="break the cycle in neuroscale.platform.components")
        if name not in depth:
            depth[name] = max((visit(p, (*path, name)) + 1 for need in needs[name] for p in providers[need]),
                              default=0)
        return depth[name]

    return {item.name: FIRST_WAVE + visit(item.name, ()) * WAVE_STEP for item in items}


def plan(options: InitOptions) -> tuple[list[AppSpec], dict[str, int]]:
    """The Applications with their derived waves, plus the waves of the project and the ApplicationSet."""
    apps = _components(options)
    waves = derive_waves([*apps, *_nodes(options)])
    return [dataclasses.replace(app, wave=waves[app.name]) for app in apps], waves


def applications(options: InitOptions) -> list[AppSpec]:
    return plan(options)[0]
