"""Which documents reach the API server, as far as the checks need to know.

Patch files listed in a kustomization are partial objects merged at build
time; so are the files a test compares a cluster against (chainsaw `assert` and
`error` files, kuttl's `NN-assert.yaml`/`NN-errors.yaml`). Kustomizations,
Backstage catalog entities and the tests themselves (chainsaw, `kyverno test`,
kuttl) look like objects but are read by other tools. Schema validation and
policies skip them (the lints still read them). Argo CD applies a directory as plain manifests only when it holds
no kustomization or chart.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath
from typing import Any

from neuroscale.check.kustomization import KUSTOMIZATION_NAMES, directory_of, kustomizations, normalise
from neuroscale.check.model import Document, RepoView

#: API groups of documents other tools read (kustomize, Backstage's catalog, test runners); never sent to the
#: API server.
NOT_APPLIED_GROUPS = frozenset({"kustomize.config.k8s.io", "config.kubernetes.io", "backstage.io",
                                "scaffolder.backstage.io", "chainsaw.kyverno.io", "cli.kyverno.io", "kuttl.dev"})
#: kuttl's naming convention for the files a test step asserts (or asserts absent) in the cluster.
_KUTTL_ASSERTION = re.compile(r"^\d+-(?:assert|errors)\.ya?ml$")
#: The chainsaw operations whose `file` is compared with the cluster rather than applied.
_CHAINSAW_ASSERTIONS = ("assert", "error")


def not_applied(view: RepoView) -> set[str]:
    """Files whose objects never reach the API server alone: patches, test assertions, kustomize configuration,
    catalog entities, tests."""
    others = {doc.path for doc in view.objects() if doc.group in NOT_APPLIED_GROUPS and not doc.rendered_from}
    return patch_files(view) | assertion_files(view) | others


def assertion_files(view: RepoView) -> set[str]:
    """Files that hold what a test expects to find in the cluster: partial objects, matched field by field."""
    found = {path for path in view.files if _KUTTL_ASSERTION.match(path.rpartition("/")[2])}
    for test in view.of_kind("Test"):
        if test.group != "chainsaw.kyverno.io":
            continue
        directory = PurePosixPath(directory_of(test.path))
        for step in _items(_get(test.data, "spec").get("steps")):
            for operation in (op for phase in ("try", "catch", "finally", "cleanup") for op in _items(step.get(phase))):
                for name in _CHAINSAW_ASSERTIONS:
                    target = _get(operation, name).get("file")
                    if isinstance(target, str) and (path := normalise(directory / target)):
                        found.update(fnmatch.filter(view.files, path))
    return found


def _get(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


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
