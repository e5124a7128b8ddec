"""FM-27 / FM-28 / FM-29 / FM-32: the live Backstage app-config is wrong.

Read from the ConfigMap the chart renders: `app.title` missing (white screen),
`app.baseUrl`/`backend.baseUrl` pointing at a port the browser does not use
(7007 vs the forwarded 7010), no auth provider (scaffolder 401 Missing
credentials), and auth escape hatches live in a production profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from neuroscale.doctor.index import Obj, SnapshotIndex, dig
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import DoctorFinding, Category, Rule
from neuroscale.errors import InvalidInput
from neuroscale.findings import Severity
from neuroscale.mappings import deep_merged
from neuroscale.yamlio import load_one

APP_CONFIG = ("backstage", "neuroscale-backstage-app-config")
PORTAL_PORT = 7010


def _merged_config(cm: Obj) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, text in sorted((cm.get("data") or {}).items()):
        try:
            doc = load_one(str(text), where=key)
        except InvalidInput:
            continue
        if isinstance(doc, Mapping):
            merged = deep_merged(merged, doc)
    return merged


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    cm = index.get("ConfigMap", *APP_CONFIG)
    if cm is None:
        return []
    config = _merged_config(cm)
    obj = ref(cm, "ConfigMap")
    found = []

    def add(message: str, evidence: str, cause: str, fix: str, fm: str, severity: Severity = Severity.ERROR) -> None:
        found.append(RULE.finding(obj=obj, message=message, evidence=evidence, root_cause=cause, fix=fix,
                                  severity=severity, covers=(fm,)))

    if not dig(config, "app", "title"):
        add("Backstage app-config has no app.title", "app.title is missing",
            "the frontend validates its config at start and crashes on a missing required key (white screen)",
            "# values.yaml (Git): backstage.backstage.appConfig.app.title: NeuroScale Platform", "FM-28")
    urls = {k: str(dig(config, k, "baseUrl") or "") for k in ("app", "backend")}
    ports = {k: urlparse(v).port for k, v in urls.items() if v}
    if ports and (len(set(ports.values())) > 1 or PORTAL_PORT not in ports.values()):
        add("Backstage baseUrl ports do not match the port the browser uses",
            f"app.baseUrl={urls['app']} backend.baseUrl={urls['backend']}; forwarded port {PORTAL_PORT}",
            "the frontend calls the backend at the configured baseUrl, which nobody forwards, so API calls fail",
            f"# values.yaml: app.baseUrl and backend.baseUrl: http://localhost:{PORTAL_PORT}; "
            f"backend.cors.origin: http://localhost:{PORTAL_PORT}", "FM-29")
    providers = dig(config, "auth", "providers") or {}
    disabled = dig(config, "backend", "auth", "dangerouslyDisableDefaultAuthPolicy") is True
    if not providers and not disabled:
        add("Backstage has no auth provider: scaffolder calls get 401 Missing credentials",
            "auth.providers is empty and backend.auth.dangerouslyDisableDefaultAuthPolicy is unset",
            "the new backend requires tokens on every API call and nothing can issue one",
            "# dev: auth.providers.guest.dangerouslyAllowOutsideDevelopment: true\n"
            "# prod: auth.providers.github with clientId/clientSecret from a Secret", "FM-27")
    production = dig(config, "auth", "environment") == "production"
    if disabled:
        add("Backstage disables its default auth policy", "backend.auth.dangerouslyDisableDefaultAuthPolicy=true",
            "plugins receive no user identity and every API is open", "remove the flag; configure an auth provider",
            "FM-32", Severity.WARNING)
    if production and dig(providers, "guest", "dangerouslyAllowOutsideDevelopment") is True:
        add("Backstage production profile allows guest sign-in",
            "auth.environment=production and auth.providers.guest.dangerouslyAllowOutsideDevelopment=true",
            "anyone who reaches the portal signs in as a guest: the dev profile leaked into production",
            "remove auth.providers.guest from the prod values (values-prod.yaml must not layer on dev values)",
            "FM-32")
    return found


RULE = Rule(
    id="backstage-app-config", title="Backstage app-config usable", covers=("FM-27", "FM-28", "FM-29", "FM-32"),
    category=Category.PORTAL, severity=Severity.ERROR, check=check,
)
