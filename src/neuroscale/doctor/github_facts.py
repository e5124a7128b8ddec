"""Branch protection of the GitOps repository's `main`, read from the GitHub API (FM-37).

PR-only GitOps holds only while `main` is protected, required checks include
the guardrail check, and administrators cannot bypass them. Only these facts
go into the snapshot; the token is used for the request and never stored.
"""

from __future__ import annotations

import os
import re
from typing import Any

from github import Auth, Github, GithubException

from neuroscale.gitops.github_provider import API_URL, API_URL_ENV, github_repository

BRANCH = "main"
_OWNER_NAME = re.compile(r"[\w.-]+/[\w.-]+")


def branch_protection(remote: str, token: str, *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """{"repository", "branch", "protected", "enforce_admins", "required_checks", "required_reviews"} or an error."""
    repository = github_repository(remote) or (remote if _OWNER_NAME.fullmatch(remote) else None)
    facts: dict[str, Any] = {"repository": repository or remote, "branch": BRANCH}
    if repository is None:
        return {**facts, "error": f"{remote!r} does not name a github.com repository"}
    base_url = (env if env is not None else dict(os.environ)).get(API_URL_ENV) or API_URL
    client = Github(auth=Auth.Token(token), base_url=base_url, retry=None, timeout=10, lazy=True)
    try:
        branch = client.get_repo(repository).get_branch(BRANCH)
        if not branch.protected:
            return {**facts, "protected": False}
        protection = branch.get_protection()
    except GithubException as exc:
        detail = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
        return {**facts, "error": f"GitHub API answered {exc.status}: {detail}".strip()}
    except OSError as exc:
        return {**facts, "error": f"GitHub API unreachable: {exc}"}
    checks = protection.required_status_checks
    reviews = protection.required_pull_request_reviews
    return {
        **facts,
        "protected": True,
        "enforce_admins": bool(protection.enforce_admins),
        "required_checks": sorted(checks.contexts) if checks is not None else [],
        "required_reviews": reviews.required_approving_review_count if reviews is not None else 0,
    }
