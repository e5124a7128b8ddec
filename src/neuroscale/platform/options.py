"""Validated inputs of `neuroscale init`.

Bad input is refused here, before a single file is written: a repository URL
that no git client can clone, or a placeholder ingress domain that would send
inference traffic to somebody else's servers (FM-18).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from neuroscale.errors import InvalidInput
from neuroscale.gitops.github_provider import github_repository
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


@dataclass(frozen=True)
class InitOptions:
    """Everything the generated repository depends on."""

    repo_url: str
    domain: str
    ingress: Ingress = "kourier"
    policy_engine: PolicyEngine = "vap"
    namespace: str = "default"

    def __post_init__(self) -> None:
        check_repo_url(self.repo_url)
        check_domain(self.domain)
        if self.ingress not in INGRESSES:
            raise InvalidInput(f"unknown ingress {self.ingress!r}", where="--ingress",
                               fix=f"use one of: {', '.join(INGRESSES)}")
        if self.policy_engine not in POLICY_ENGINES:
            raise InvalidInput(f"unknown policy engine {self.policy_engine!r}", where="--policy-engine",
                               fix=f"use one of: {', '.join(POLICY_ENGINES)}")
        if not re.match(DNS1123_LABEL, self.namespace) or len(self.namespace) > 63:
            raise InvalidInput(f"{self.namespace!r} is not a namespace name", where="--namespace",
                               fix="use lowercase letters, digits and '-' (DNS-1123 label)")

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


def check_domain(domain: str) -> None:
    """The ingress domain must be a real DNS name the user controls, never a placeholder."""
    fix = ("use a domain you control with a wildcard DNS record (cloud), or 127.0.0.1.sslip.io "
           "for a local cluster reached through a port-forward")
    lowered = domain.lower().strip()
    if not lowered or _PLACEHOLDER_TEXT.search(lowered):
        raise InvalidInput(f"{domain!r} is a placeholder, not a domain", where="--domain", fix=fix)
    if not _DOMAIN.match(lowered):
        raise InvalidInput(f"{domain!r} is not a valid DNS domain", where="--domain", fix=fix)
    for placeholder in PLACEHOLDER_DOMAINS:
        if lowered == placeholder or lowered.endswith("." + placeholder):
            raise InvalidInput(f"{domain!r} is a documentation placeholder domain (FM-18)", where="--domain",
                               fix=fix)

