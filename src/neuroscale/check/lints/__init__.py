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
)
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding

ALL_LINTS: tuple[Lint, ...] = tuple(module.LINT for module in (
    l001_patch_delete, l002_kserve_ingress, l003_images, l004_helm_values_nesting, l005_backstage_probes,
    l006_backstage_app_config, l007_backstage_catalog_rules, l008_backstage_auth, l009_placeholder_secrets,
    l010_plaintext_secrets, l011_label_near_miss, l012_crd_size, l013_duplicate_objects, l014_webhook_sync_wave,
    l015_ci_false_green,
))
LINTS_BY_ID = {lint.id: lint for lint in ALL_LINTS}


def run_lints(view: RepoView, lints: tuple[Lint, ...] = ALL_LINTS) -> list[Finding]:
    findings: list[Finding] = []
    for lint in lints:
        findings.extend(lint.check(view))
    return findings


__all__ = ["ALL_LINTS", "LINTS_BY_ID", "Lint", "run_lints"]
