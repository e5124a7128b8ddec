"""NS-L007: catalog locations registering Templates without allowing them (FM-25, FM-26).

Catalog locations accept only default kinds; a location holding a scaffolder
`Template` needs `rules: - allow: [Template]` on the same list item (or a
global `catalog.rules`). Otherwise the template silently never appears —
including after an indentation slip moves `rules` out of the item.
"""

from __future__ import annotations

from typing import Any

from neuroscale.check.lints.backstage import backstage_values
from neuroscale.check.lints.base import Lint, dig
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L007"


def allows_template(rules: Any) -> bool:
    return isinstance(rules, list) and any(
        isinstance(rule, dict) and isinstance(rule.get("allow"), list) and "Template" in rule["allow"]
        for rule in rules)


def registers_template(location: dict[str, Any]) -> bool:
    target = str(location.get("target", "")).lower()
    return "template" in target


def check(view: RepoView) -> list[Finding]:
    findings = []
    for values in backstage_values(view):
        catalog = dig(values.app_config, "catalog")
        if not isinstance(catalog, dict) or allows_template(catalog.get("rules")):
            continue
        for location in catalog.get("locations") or []:
            if isinstance(location, dict) and registers_template(location) and not allows_template(location.get("rules")):
                findings.append(view.finding(
                    values.doc, rule=ID, severity=Severity.ERROR, needle=str(location.get("target", "")),
                    field_path=f"{values.prefix}.appConfig.catalog.locations",
                    message=f"catalog location {location.get('target')} registers a Template but does not allow "
                            "kind Template: the catalog rejects it silently",
                    fix="add `rules: [{allow: [Template]}]` to that location item (same indentation as `target`)"))
    return findings


LINT = Lint(id=ID, title="Catalog location with a Template but no allow rule", failure_modes=("FM-25", "FM-26"),
            severity=Severity.ERROR, check=check)
