"""NS-L002: KServe `inferenceservice-config` ingress that cannot work here (FM-15, FM-18).

KServe's default ingress block assumes Istio; on a Kourier cluster without
Istio every InferenceService stays `IngressReady=False`. Its `ingressDomain`
default, `example.com`, is a public placeholder domain. The block is JSON
inside a YAML string, so a syntax error there is invisible to YAML tools.
"""

from __future__ import annotations

import json
from typing import Any

from neuroscale.check.lints.base import Lint, dig
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L002"
CONFIG_NAME = "inferenceservice-config"
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net", "your-domain.com", "mydomain.com", "domain.com")


def istio_present(view: RepoView) -> bool:
    """True when the repository installs Istio (an istio-system namespace or Istio API objects)."""
    for doc in view.objects():
        if doc.group.endswith("istio.io") or doc.namespace == "istio-system":
            return True
        if doc.kind == "Namespace" and doc.name == "istio-system":
            return True
    return False


def check(view: RepoView) -> list[Finding]:
    findings: list[Finding] = []
    configs = [d for d in view.of_kind("ConfigMap") if d.name == CONFIG_NAME and isinstance(dig(d.data, "data", "ingress"), str)]
    if not configs:
        return findings
    has_istio = istio_present(view)
    for doc in configs:
        findings.extend(_judge(view, doc, dig(doc.data, "data", "ingress"), has_istio=has_istio))
    return findings


def _judge(view: RepoView, doc: Document, raw: str, *, has_istio: bool) -> list[Finding]:
    try:
        ingress: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        return [view.finding(doc, rule=ID, severity=Severity.ERROR, needle="ingress:",
                             message=f"data.ingress of {CONFIG_NAME} is not valid JSON: {exc.msg} "
                                     f"(line {exc.lineno} of the JSON)",
                             fix="fix the JSON; KServe silently falls back to its Istio defaults otherwise")]
    if not isinstance(ingress, dict):
        return [view.finding(doc, rule=ID, severity=Severity.ERROR, needle="ingress:",
                             message=f"data.ingress of {CONFIG_NAME} is JSON but not an object",
                             fix="write the ingress settings as a JSON object")]
    findings = []
    if not has_istio and ingress.get("disableIstioVirtualHost") is not True:
        findings.append(view.finding(
            doc, rule=ID, severity=Severity.ERROR, needle="ingress:",
            message="KServe ingress expects Istio (disableIstioVirtualHost is not true) but the repository "
                    "installs no Istio: every InferenceService will fail IngressReady",
            fix='set "disableIstioVirtualHost": true in data.ingress (Kourier/Knative ingress), '
                "or install Istio"))
    domain = str(ingress.get("ingressDomain", ""))
    if domain in PLACEHOLDER_DOMAINS or domain.endswith(tuple(f".{d}" for d in PLACEHOLDER_DOMAINS)):
        findings.append(view.finding(
            doc, rule=ID, severity=Severity.WARNING, needle="ingressDomain",
            message=f"ingressDomain {domain!r} is a placeholder: endpoint URLs resolve to someone else's servers",
            fix="set ingressDomain to a domain you own with wildcard DNS (or sslip.io/nip.io for local clusters)"))
    return findings


LINT = Lint(id=ID, title="KServe ingress config: Istio without Istio, placeholder domain, broken JSON",
            failure_modes=("FM-15", "FM-18"), severity=Severity.ERROR, check=check)
