"""NS-L006: Backstage app-config missing keys it cannot start without (FM-28, FM-29).

Without `app.title` the frontend renders a white screen; without the two
`baseUrl`s it calls the wrong address. The chart examples omit `app.title`.
"""

from __future__ import annotations

from neuroscale.check.lints.backstage import backstage_values
from neuroscale.check.lints.base import Lint, dig
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L006"
REQUIRED = (("app", "title"), ("app", "baseUrl"), ("backend", "baseUrl"))


def check(view: RepoView) -> list[Finding]:
    findings = []
    for values in backstage_values(view):
        if "appConfig" not in values.section:
            continue
        missing = [".".join(key) for key in REQUIRED if dig(values.app_config, *key) in (None, "")]
        if missing:
            findings.append(view.finding(
                values.doc, rule=ID, severity=Severity.ERROR, needle="appConfig:",
                field_path=f"{values.prefix}.appConfig",
                message=f"Backstage appConfig lacks required key(s): {', '.join(missing)}",
                fix="set app.title, app.baseUrl and backend.baseUrl (the baseUrls must match the URL users open)"))
    return findings


LINT = Lint(id=ID, title="Backstage app-config missing required keys", failure_modes=("FM-28", "FM-29"),
            severity=Severity.ERROR, check=check)
