"""Which documents reach the API server, as far as the checks need to know.

Patch files listed in a kustomization are partial objects merged at build
time; Kustomizations and Backstage catalog entities look like objects but are
read by other tools. Schema validation and policies skip them (the lints still
read them). Argo CD applies a directory as plain manifests only when it holds
no kustomization or chart.
"""

from __future__ import annotations

from neuroscale.check.kustomization import KUSTOMIZATION_NAMES, kustomizations
from neuroscale.check.model import Document, RepoView

#: API groups of documents other tools read (kustomize, Backstage's catalog); never sent to the API server.
NOT_APPLIED_GROUPS = frozenset({"kustomize.config.k8s.io", "config.kubernetes.io", "backstage.io",
                                "scaffolder.backstage.io"})


def not_applied(view: RepoView) -> set[str]:
    """Files whose objects never reach the API server alone: patches, kustomize configuration, catalog entities."""
    others = {doc.path for doc in view.objects() if doc.group in NOT_APPLIED_GROUPS and not doc.rendered_from}
    return patch_files(view) | others


def applied_objects(view: RepoView) -> list[Document]:
    """Objects that reach the API server, as rendered where a kustomization was built (what schemas,
    policies, cost and the rendered diff judge)."""
    skipped = not_applied(view)
    return [doc for doc in view.objects() if doc.rendered_from or doc.path not in skipped]


def patch_files(view: RepoView) -> set[str]:
    """Repository paths listed in any kustomization's patch fields."""
    return {path for kust in kustomizations(view).values() for path in kust.patches}


def is_plain_directory(view: RepoView, directory: str) -> bool:
    """True when Argo CD would apply `directory` as plain manifests (no kustomization, no chart)."""
    prefix = f"{directory.strip('/')}/" if directory.strip("/.") else ""
    markers = (*KUSTOMIZATION_NAMES, "Chart.yaml")
    return not any(f"{prefix}{name}" in view.files for name in markers)
