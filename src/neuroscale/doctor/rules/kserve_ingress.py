"""FM-15: KServe still configured for Istio on a Kourier cluster.

The default `inferenceservice-config` ingress block assumes Istio: with
`disableIstioVirtualHost` false, KServe loops on `virtual service not found`
and every InferenceService stays `IngressReady=False` (ReconcileError).
"""

from __future__ import annotations

import json

from neuroscale.doctor.index import SnapshotIndex, dig, name_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

_FIX_PATCH = (
    "# infrastructure/serving-stack/patches/inferenceservice-config-ingress.yaml (kustomize patch, in Git):\n"
    "data:\n  ingress: |-\n    {\"ingressGateway\": \"knative-serving/knative-ingress-gateway\", "
    "\"ingressDomain\": \"<your-domain>\", \"disableIstioVirtualHost\": true}\n"
    "# then: kubectl -n kserve rollout restart deploy/kserve-controller-manager"
)


def _has_istio(index: SnapshotIndex) -> bool:
    return bool(index.objects("Pod", "istio-system")) or any(
        name_of(c).endswith("networking.istio.io") for c in index.objects("CustomResourceDefinition"))


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    config = index.get("ConfigMap", "kserve", "inferenceservice-config")
    if config is None or _has_istio(index):
        return []
    raw = dig(config, "data", "ingress")
    if raw is None:
        return []
    try:
        ingress = json.loads(raw)
    except ValueError as exc:
        return [RULE.finding(
            obj=ref(config, "ConfigMap"), message="inferenceservice-config `ingress` is not valid JSON",
            evidence=f"data.ingress: {exc}", root_cause="KServe cannot read its ingress settings",
            fix=_FIX_PATCH, explains_when=("IngressReady",),
        )]
    if ingress.get("disableIstioVirtualHost") is True:
        return []
    log = next((line for _, text in index.logs_matching("kserve/") for line in text.splitlines()
                if "virtual service not found" in line), "")
    return [RULE.finding(
        obj=ref(config, "ConfigMap"),
        message="KServe is configured for Istio but the cluster has no Istio",
        evidence=f"data.ingress.disableIstioVirtualHost={json.dumps(ingress.get('disableIstioVirtualHost'))}"
        + (f"; controller log: {log}" if log else ""),
        root_cause="KServe tries to create Istio VirtualServices that cannot exist, so every InferenceService "
        "fails IngressReady with ReconcileError and gets no URL",
        fix=_FIX_PATCH, explains_when=("IngressReady", "virtual service not found"),
    )]


RULE = Rule(
    id="kserve-istio-ingress", title="KServe ingress matches the cluster", covers=("FM-15",),
    category=Category.CONTROLLERS, severity=Severity.ERROR, check=check,
)
