"""The lint registry: one module per documented footgun, each `(RepoView) -> list[Finding]`.

`ALL_LINTS` is what `neuroscale check` runs and what `neuroscale doctor` reuses
for the static side of a diagnosis. Ids are stable (`NS-Lnnn`); a lint's
module docstring says which failure mode it prevents and why.
"""

from __future__ import annotations

from neuroscale.check.lints import (
    l001_patch_delete,
    l002_kserve_ingress,
    l003_images,
    l004_helm_values_nesting,
    l005_backstage_probes,
    l006_backstage_app_config,
    l007_backstage_catalog_rules,
    l008_backstage_auth,
    l009_placeholder_secrets,
    l010_plaintext_secrets,
    l011_label_near_miss,
    l012_crd_size,
    l013_duplicate_objects,
    l014_webhook_sync_wave,
    l015_ci_false_green,
    l016_moved_images,
    l017_ci_floating_refs,
    l018_policy_scope,
    l019_optional_secrets,
    l020_chart_values,
    l021_metrics_removed,
    l022_embedded_only_annotations,
)
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import UNEVALUABLE, RepoView
from neuroscale.findings import Finding, Severity

ALL_LINTS: tuple[Lint, ...] = tuple(module.LINT for module in (
    l001_patch_delete, l002_kserve_ingress, l003_images, l004_helm_values_nesting, l005_backstage_probes,
    l006_backstage_app_config, l007_backstage_catalog_rules, l008_backstage_auth, l009_placeholder_secrets,
    l010_plaintext_secrets, l011_label_near_miss, l012_crd_size, l013_duplicate_objects, l014_webhook_sync_wave,
    l015_ci_false_green, l016_moved_images, l017_ci_floating_refs, l018_policy_scope, l019_optional_secrets,
    l020_chart_values, l021_metrics_removed, l022_embedded_only_annotations,
))
LINTS_BY_ID = {lint.id: lint for lint in ALL_LINTS}


def run_lints(view: RepoView, lints: tuple[Lint, ...] | None = None) -> list[Finding]:
    """Every lint's findings; a lint that crashes is an unevaluable finding, and the others still run."""
    findings: list[Finding] = []
    for lint in ALL_LINTS if lints is None else lints:
        try:
            findings.extend(lint.check(view))
        except Exception as exc:  # noqa: BLE001 - one broken lint must not hide the others' findings
            findings.append(Finding(
                rule=UNEVALUABLE, severity=Severity.ERROR,
                message=f"lint {lint.id} ({lint.title}) could not run: {type(exc).__name__}: {exc}",
                fix="report this bug with the repository layout that triggers it; the other checks ran"))
    return findings


__all__ = ["ALL_LINTS", "LINTS_BY_ID", "Lint", "run_lints"]
