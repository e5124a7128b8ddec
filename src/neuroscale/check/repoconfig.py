"""`neuroscale.yaml`: what a repository tells `neuroscale check` about itself.

A platform repository holds far more than NeuroScale governs: vendored
installs of Kyverno, Argo CD or cert-manager carry their own conventions, and
judging their controllers by our labels is noise a user learns to ignore. The
file at the repository root names what NeuroScale governs, so the bundled
policies judge model endpoints (InferenceServices, wherever they are) and the
workloads of the governed namespaces only:

    governedNamespaces: [ml-prod, ml-staging]
    releases:            # versions of releases the manifests do not pin visibly
      argocd: v2.13.1    # (e.g. installed by a bootstrap script)
    repoURLs:            # how Argo CD fetches this repository, when the checkout has
      - https://github.com/acme/platform.git   # no git remote saying so (see lints/argo)

`neuroscale init` writes it. A missing file is fine (endpoints only); a broken
one is an error finding at the file, and the defaults apply.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

CONFIG_FILE = "neuroscale.yaml"
RULE_CONFIG = "NS-C001"
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class RepoConfig(BaseModel):
    """The repository's NeuroScale configuration (every field optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    governed_namespaces: tuple[str, ...] = Field(default=(), alias="governedNamespaces")
    releases: dict[str, str] = Field(default_factory=dict)
    repo_urls: tuple[str, ...] = Field(default=(), alias="repoURLs")

    def governs_namespace(self, namespace: str) -> bool:
        return namespace in self.governed_namespaces


def _document(view: RepoView) -> Document | None:
    return next((doc for doc in view.documents if doc.path == CONFIG_FILE and doc.index == 0), None)


def read_config(view: RepoView) -> tuple[RepoConfig, list[Finding]]:
    """The configuration at the repository root (defaults when absent), plus findings for a broken file."""
    doc = _document(view)
    if doc is None:
        return RepoConfig(), []
    data = doc.data if doc.data is not None else {}
    try:
        config = RepoConfig.model_validate(data)
    except ValidationError as exc:
        return RepoConfig(), [view.finding(
            doc, rule=RULE_CONFIG, severity=Severity.ERROR,
            needle=f"{error['loc'][0]}:" if error["loc"] else "",
            field_path=".".join(str(part) for part in error["loc"]),
            message=f"{CONFIG_FILE}: {'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}",
            fix="governedNamespaces is a list of namespace names; releases maps a project (kserve, argocd, "
                "kyverno, knative, cert-manager) to a version; repoURLs lists the URLs Argo CD fetches this "
                "repository by") for error in exc.errors()]
    bad = [ns for ns in config.governed_namespaces if not _valid_name(ns)]
    if bad:
        return config, [view.finding(
            doc, rule=RULE_CONFIG, severity=Severity.ERROR, needle="governedNamespaces",
            field_path="governedNamespaces", message=f"{CONFIG_FILE}: not a namespace name: {', '.join(bad)}",
            fix="use lower-case DNS labels (a-z, 0-9, '-')")]
    return config, []


def _valid_name(name: str) -> bool:
    return len(name) <= 63 and _NAME.match(name) is not None
