"""FM-18: the ingress domain is the `example.com` placeholder.

Endpoint URLs then resolve to public IANA servers (HTTP 405 HTML instead of
predictions). Reads Knative `config-domain`, KServe's `ingressDomain` and the
URLs InferenceServices publish.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

from neuroscale.doctor.index import SnapshotIndex, dig, name_of, namespace_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")
_FIX = ("# set a domain you own or a loopback wildcard, in Git:\n"
        "# knative-serving/config-domain  data: {\"127.0.0.1.sslip.io\": \"\"}\n"
        "# kserve/inferenceservice-config ingress.ingressDomain: 127.0.0.1.sslip.io\n"
        "# meanwhile test with: kubectl port-forward pod/<predictor> 18080:8080")


def _placeholder(host: str) -> bool:
    return any(host == d or host.endswith("." + d) for d in PLACEHOLDER_DOMAINS)


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    domain = index.get("ConfigMap", "knative-serving", "config-domain")
    for key in (domain or {}).get("data") or {}:
        if _placeholder(key):
            found.append(RULE.finding(
                obj=ref(domain or {}, "ConfigMap"), message=f"Knative domain is the placeholder {key}",
                evidence=f"config-domain data key {key!r}",
                root_cause="endpoint hostnames resolve to public servers that answer 405, not to your ingress",
                fix=_FIX, explains_when=(key,),
            ))
    config = index.get("ConfigMap", "kserve", "inferenceservice-config")
    try:
        ingress = json.loads(dig(config or {}, "data", "ingress") or "{}")
    except ValueError:
        ingress = {}
    kserve_domain = str(ingress.get("ingressDomain", "")) if isinstance(ingress, dict) else ""
    if _placeholder(kserve_domain):
        found.append(RULE.finding(
            obj=ref(config or {}, "ConfigMap"), message=f"KServe ingressDomain is the placeholder {kserve_domain}",
            evidence=f"data.ingress.ingressDomain={kserve_domain}",
            root_cause="endpoint hostnames resolve to public servers that answer 405, not to your ingress",
            fix=_FIX, explains_when=(kserve_domain,),
        ))
    for isvc in index.objects("InferenceService"):
        host = urlparse(str(dig(isvc, "status", "url") or "")).hostname or ""
        if _placeholder(host):
            found.append(RULE.finding(
                obj=ref(isvc, "InferenceService"),
                message=f"InferenceService {namespace_of(isvc)}/{name_of(isvc)} publishes a placeholder URL",
                evidence=f"status.url={dig(isvc, 'status', 'url')}",
                root_cause="the URL's domain is a documentation placeholder, so requests never reach the cluster",
                fix=_FIX, severity=Severity.WARNING,
            ))
    return found


RULE = Rule(
    id="placeholder-domain", title="Ingress domain is real", covers=("FM-18",),
    category=Category.WORKLOADS, severity=Severity.WARNING, check=check,
)
