"""Whether an object is cluster-scoped, as the API server will decide it.

Where an object lands depends on it: a cluster-scoped object is one object per cluster whatever
namespace an Application's destination names, so two Applications syncing it into two namespaces fight
over it. A custom kind's scope is its CustomResourceDefinition's `spec.scope`: the CRDs of the checked
repository first, then those the check knows from elsewhere (the CRD cache, `--crd-dir`), read only when
the repository does not define the kind. A kind no CRD defines falls back to the built-in list of core
kinds (`policy.subject.CLUSTER_SCOPED_KINDS`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from neuroscale.check.lints.base import dig
from neuroscale.check.model import Document, RepoView
from neuroscale.policy.subject import CLUSTER_SCOPED_KINDS

CRD_KIND = "CustomResourceDefinition"
#: (API group, kind) -> True when cluster-scoped
Scopes = dict[tuple[str, str], bool]


def crd_scopes(crds: Iterable[Document]) -> Scopes:
    """The scope each CRD gives its kind (a CRD without `spec.scope` says nothing; the API server requires it)."""
    found: Scopes = {}
    for crd in crds:
        group, kind, scope = (dig(crd.data, "spec", "group"), dig(crd.data, "spec", "names", "kind"),
                              dig(crd.data, "spec", "scope"))
        if isinstance(group, str) and isinstance(kind, str) and scope in ("Cluster", "Namespaced"):
            found.setdefault((group, kind), scope == "Cluster")
    return found


def _built_in(group: str) -> bool:
    """Kubernetes' own groups (`""`, `apps`, `rbac.authorization.k8s.io`...): no CRD defines their kinds."""
    return "." not in group or group.endswith(".k8s.io")


class KindScopes:
    """Answers `cluster_scoped` for the objects of one view."""

    def __init__(self, view: RepoView) -> None:
        self.view = view

    @functools.cached_property
    def repository(self) -> Scopes:
        return crd_scopes(self.view.of_kind(CRD_KIND))

    @functools.cached_property
    def catalog(self) -> Scopes:
        return crd_scopes(self.view.catalog.crds)

    def cluster_scoped(self, doc: Document) -> bool:
        key = (doc.group, doc.kind)
        if key in self.repository:
            return self.repository[key]
        if not _built_in(doc.group) and key in self.catalog:
            return self.catalog[key]
        return doc.kind in CLUSTER_SCOPED_KINDS
