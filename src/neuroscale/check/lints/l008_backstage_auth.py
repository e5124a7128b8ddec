"""NS-L008: Backstage auth escape hatches in a production values file (FM-27, FM-32).

`dangerouslyDisableDefaultAuthPolicy` and the guest provider's
`dangerouslyAllowOutsideDevelopment` unblocked development; in production they
let anyone in. Production is a values file named for it or one declaring
`auth.environment: production`.
"""

from __future__ import annotations

from neuroscale.check.lints.backstage import backstage_values
from neuroscale.check.lints.base import Lint, dig, is_production
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L008"
HATCHES = (
    (("backend", "auth", "dangerouslyDisableDefaultAuthPolicy"), "turns off backend authentication"),
    (("auth", "providers", "guest", "dangerouslyAllowOutsideDevelopment"), "lets anyone sign in as guest"),
)


def check(view: RepoView) -> list[Finding]:
    findings = []
    for values in backstage_values(view):
        if not is_production(values.doc.path, values.app_config):
            continue
        for path, effect in HATCHES:
            if dig(values.app_config, *path) is True:
                dotted = ".".join(path)
                findings.append(view.finding(
                    values.doc, rule=ID, severity=Severity.ERROR, needle=path[-1],
                    field_path=f"{values.prefix}.appConfig.{dotted}",
                    message=f"production values set {dotted}: true, which {effect}",
                    fix="remove it from production values and configure a real auth provider (e.g. GitHub OAuth)"))
    return findings


LINT = Lint(id=ID, title="Auth escape hatches in production values", failure_modes=("FM-27", "FM-32"),
            severity=Severity.ERROR, check=check)
