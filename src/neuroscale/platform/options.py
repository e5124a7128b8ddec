"""Validated inputs of `neuroscale init`.

Bad input is refused here, before a single file is written: a repository URL
that no git client can clone, a placeholder ingress domain that would send
inference traffic to somebody else's servers (FM-18), a domain no wildcard
DNS record can serve, a Kubernetes release the pinned combination does not
support, or a NeuroScale source for CI that is not pinned to a commit (an
unpublished package name invites dependency confusion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from neuroscale.errors import InvalidInput
from neuroscale.gitops.github_provider import github_repository
from neuroscale.platform import versions
from neuroscale.spec.fields import DNS1123_LABEL

Ingress = Literal["kourier", "istio"]
PolicyEngine = Literal["vap", "kyverno"]

INGRESSES: tuple[str, ...] = ("kourier", "istio")
POLICY_ENGINES: tuple[str, ...] = ("vap", "kyverno")

#: Domains that are documentation placeholders, not something the user owns.
PLACEHOLDER_DOMAINS: tuple[str, ...] = ("example.com", "example.org", "example.net", "example", "invalid", "test")
_SCP_REMOTE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/-]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PLACEHOLDER_TEXT = re.compile(r"[<>]|your[_-]|_here\b", re.IGNORECASE)
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_KUBERNETES_VERSION = re.compile(r"^v?1\.(\d{1,3})(\.\d+)?([-+].*)?$")
#: `pip install` source of NeuroScale in CI: a git URL pinned to a full commit hash.
_PINNED_SOURCE = re.compile(r"^git\+https://[A-Za-z0-9.-]+(:\d+)?/[A-Za-z0-9._~/-]+@[0-9a-f]{40}$")
#: Room KServe needs in front of the domain: `<name>-<namespace>` is one DNS label of up to 63 characters.
_HOST_PREFIX = 64


PREVIEW_NAMESPACE = "neuroscale-previews"


@dataclass(frozen=True)
class InitOptions:
    """Everything the generated repository depends on."""

    repo_url: str
    domain: str
    ingress: Ingress = "kourier"
    policy_engine: PolicyEngine = "vap"
    namespace: str = "default"
    #: Preview the endpoint of each open pull request labelled for it in `PREVIEW_NAMESPACE` (Argo CD's pull-request
    #: generator, GitHub; `argocd.previews_appset`).
    previews: bool = False
    #: Hours a preview may live after it was created (Kyverno's cleanup controller; None: until the PR closes).
    preview_ttl_hours: int | None = None
    #: Where the CI workflow installs NeuroScale from: `git+https://host/path@<40-hex commit>`.
    neuroscale_source: str = ""
    kubernetes_version: str = f"1.{versions.KUBERNETES_DEFAULT_MINOR}"

    def __post_init__(self) -> None:
        check_repo_url(self.repo_url)
        check_domain(self.domain)
        check_neuroscale_source(self.neuroscale_source)
        if self.ingress not in INGRESSES:
            raise InvalidInput(f"unknown ingress {self.ingress!r}", where="--ingress",
                               fix=f"use one of: {', '.join(INGRESSES)}")
        if self.policy_engine not in POLICY_ENGINES:
            raise InvalidInput(f"unknown policy engine {self.policy_engine!r}", where="--policy-engine",
                               fix=f"use one of: {', '.join(POLICY_ENGINES)}")
        if not re.match(DNS1123_LABEL, self.namespace) or len(self.namespace) > 63:
            raise InvalidInput(f"{self.namespace!r} is not a namespace name", where="--namespace",
                               fix="use lowercase letters, digits and '-' (DNS-1123 label)")
        check_kubernetes_version(self.kubernetes_version, self.charts)
        if self.previews and self.github_slug is None:
            raise InvalidInput("previews need a GitHub repository (Argo CD's pull-request generator lists its pull "
                               "requests)", where="--previews",
                               fix="pass a github.com --repo-url, or leave --previews out")
        if self.preview_ttl_hours is not None and (not self.previews or self.policy_engine != "kyverno"
                                                   or self.preview_ttl_hours < 1):
            raise InvalidInput(f"--preview-ttl-hours {self.preview_ttl_hours} needs --previews, --policy-engine kyverno "
                               "(its cleanup controller deletes expired previews) and at least 1 hour",
                               where="--preview-ttl-hours",
                               fix="add --previews --policy-engine kyverno, or leave --preview-ttl-hours out (previews "
                                   "then live until their pull request closes)")
        if self.previews and self.namespace == PREVIEW_NAMESPACE:
            raise InvalidInput(f"--namespace {PREVIEW_NAMESPACE} is where previews run", where="--namespace",
                               fix="choose another namespace for the endpoints")

    @property
    def governed_namespaces(self) -> tuple[str, ...]:
        """The namespaces model endpoints (and their previews) may live in: quotas, limits and guardrails apply."""
        return (self.namespace, PREVIEW_NAMESPACE) if self.previews else (self.namespace,)

    @property
    def charts(self) -> tuple[versions.Chart, ...]:
        """The pinned releases this combination installs."""
        charts = [versions.CERT_MANAGER, versions.KSERVE_CRD, versions.KSERVE, versions.KNATIVE_OPERATOR,
                  versions.OPENCOST, versions.BACKSTAGE]
        if self.ingress == "istio":
            charts += [versions.ISTIO_BASE, versions.ISTIOD, versions.ISTIO_GATEWAY]
        if self.policy_engine == "kyverno":
            charts.append(versions.KYVERNO)
        return tuple(charts)

    @property
    def github_slug(self) -> str | None:
        """`owner/name` when the remote is on github.com, else None."""
        return github_repository(self.repo_url)


def check_repo_url(url: str) -> None:
    """Accept what `git clone` accepts for a remote: https/ssh/git URLs or scp-style `user@host:path`."""
    fix = "pass the clone URL of the GitOps repository, e.g. https://github.com/acme/platform.git"
    if not url or _PLACEHOLDER_TEXT.search(url):
        raise InvalidInput(f"{url!r} is not a git remote URL (empty or a placeholder)", where="--repo-url", fix=fix)
    if _SCP_REMOTE.match(url):
        return
    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http", "ssh", "git") or not parsed.hostname or parsed.path in ("", "/"):
        raise InvalidInput(f"{url!r} is not a git remote URL", where="--repo-url", fix=fix)
    if parsed.password:
        raise InvalidInput("the repository URL embeds a password or token", where="--repo-url",
                           fix="drop the credentials from the URL; Argo CD reads them from a repository Secret")


def check_neuroscale_source(source: str) -> None:
    """CI installs NeuroScale the way a user can: from a git commit, never from an unpublished package name."""
    fix = ("pass --neuroscale-source git+https://github.com/<org>/neuroscale@<full 40-character commit hash> "
           "(the repository and commit CI should install NeuroScale from)")
    if not source:
        raise InvalidInput("no NeuroScale source for the CI workflow (this installation was not made from a git "
                           "commit, so it cannot be inferred)", where="--neuroscale-source", fix=fix)
    if "@" in source.partition("://")[2].split("/", 1)[0]:
        raise InvalidInput("the NeuroScale source URL embeds credentials", where="--neuroscale-source", fix=fix)
    if not _PINNED_SOURCE.match(source):
        raise InvalidInput(f"{source!r} is not a git URL pinned to a full commit hash", where="--neuroscale-source",
                           fix=fix)


def kubernetes_minor(version: str) -> int:
    """`1.31`, `v1.31.4` or `1.31.4+k3s1` -> 31."""
    match = _KUBERNETES_VERSION.match(version.strip())
    if match is None:
        raise InvalidInput(f"{version!r} is not a Kubernetes version", where="--kubernetes-version",
                           fix="use the cluster's version as `kubectl version` prints it, e.g. 1.31 or v1.31.4")
    return int(match[1])


def check_kubernetes_version(version: str, charts: tuple[versions.Chart, ...]) -> None:
    """Every release the combination pins must support the target cluster's Kubernetes minor."""
    minor = kubernetes_minor(version)
    supported = versions.supported_kubernetes(charts)
    if minor in supported:
        return
    if minor < versions.KUBERNETES_MIN_MINOR:
        reason = "ValidatingAdmissionPolicy v1 and the pinned releases need Kubernetes 1.30 or newer"
    else:
        outside = [f"{c.name} {c.version} ({c.kubernetes})" for c in charts if minor not in c.kubernetes]
        if minor not in versions.ARGOCD_KUBERNETES:
            outside.append(f"argo-cd {versions.ARGOCD_VERSION} ({versions.ARGOCD_KUBERNETES})")
        reason = f"not supported by {', '.join(outside)}"
    raise InvalidInput(f"Kubernetes 1.{minor} cannot run this combination: {reason}", where="--kubernetes-version",
                       fix=f"target Kubernetes {supported} (supported by every pinned release of this combination), "
                           "or change the pins in neuroscale.platform.versions in one reviewed diff")


def check_domain(domain: str) -> None:
    """The ingress domain must be a real DNS name the user controls, never a placeholder."""
    fix = ("use a domain you control with a wildcard DNS record (cloud), or 127.0.0.1.sslip.io "
           "for a local cluster reached through a port-forward")
    lowered = domain.lower().strip()
    if not lowered or _PLACEHOLDER_TEXT.search(lowered):
        raise InvalidInput(f"{domain!r} is a placeholder, not a domain", where="--domain", fix=fix)
    if not _DOMAIN.match(lowered):
        raise InvalidInput(f"{domain!r} is not a valid DNS domain", where="--domain", fix=fix)
    if _IPV4.match(lowered):
        raise InvalidInput(f"{domain!r} is an IP address: endpoints get host names under the domain, and no "
                           "wildcard DNS record can exist under an address", where="--domain",
                           fix=f"use {lowered}.sslip.io, which resolves every name under it to {lowered}")
    if "." not in lowered:
        raise InvalidInput(f"{domain!r} is a single DNS label: no public wildcard record can serve it",
                           where="--domain", fix=fix)
    if len(lowered) > 253 - _HOST_PREFIX:
        raise InvalidInput(f"{domain!r} is {len(lowered)} characters: with an endpoint's '<name>-<namespace>.' in "
                           f"front, host names would pass DNS's 253-character limit", where="--domain",
                           fix=f"use a domain of at most {253 - _HOST_PREFIX} characters")
    for placeholder in PLACEHOLDER_DOMAINS:
        if lowered == placeholder or lowered.endswith("." + placeholder):
            raise InvalidInput(f"{domain!r} is a documentation placeholder domain (FM-18)", where="--domain",
                               fix=fix)

