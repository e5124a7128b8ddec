"""NS-L014: admission webhooks installed after the workloads they police (FM-22).

Kyverno registers its webhooks before its pods are Ready; installed into a
running platform, every API mutation (Argo CD syncs included) times out for
minutes. Its Application must sync in an earlier wave than the Applications
whose workloads it admits.
"""

from __future__ import annotations

from neuroscale.check.lints.argo import applications, sources, sync_wave
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L014"
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


def installs_webhooks(view: RepoView, app: Document, *, webhooks: list[Document] | None = None) -> bool:
    for source in sources(app):
        text = f"{source.chart} {source.repo_url} {source.path}".lower()
        if "kyverno" in text or "gatekeeper" in text:
            return True
        directory = source.directory
        found = view.of_kind(*WEBHOOK_KINDS) if webhooks is None else webhooks
        if source.path and any(doc.path.startswith(f"{directory}/") for doc in found):
            return True
    return False


def check(view: RepoView) -> list[Finding]:
    apps = applications(view)
    webhooks = view.of_kind(*WEBHOOK_KINDS)
    installers = [app for app in apps if installs_webhooks(view, app, webhooks=webhooks)]
    others = [app for app in apps if app not in installers]
    findings = []
    for installer in installers:
        wave = sync_wave(installer)
        earlier = sorted(app.name for app in others if sync_wave(app) <= wave)
        if earlier:
            findings.append(view.finding(
                installer, rule=ID, severity=Severity.ERROR, needle="sync-wave" if wave else "",
                message=f"Application {installer.name} installs admission webhooks at sync wave {wave}, not before "
                        f"{', '.join(earlier)}: their syncs will time out while the webhook pods start",
                fix=f"give {installer.name} a lower argocd.argoproj.io/sync-wave than every workload Application "
                    "(e.g. \"-10\")"))
    return findings


LINT = Lint(id=ID, title="Admission webhooks without a sync wave before the workloads", failure_modes=("FM-22",),
            severity=Severity.ERROR, check=check)
