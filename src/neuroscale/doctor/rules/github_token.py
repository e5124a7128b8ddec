"""FM-34: the GitHub token is missing, a placeholder, or newer than the pod using it.

Pull requests then fail only at the last step with `401: Bad credentials`.
Judged from value facts (length and shape), never from the value: a snapshot
only carries those. Cluster target: Secrets with a GITHUB_TOKEN key and the
Backstage pod start time. Embedded target: NEUROSCALE_GITHUB_TOKEN when a
GitHub remote is configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroscale.doctor.index import SnapshotIndex, dig, meta, name_of, namespace_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

TOKEN_KEY = "GITHUB_TOKEN"
TOKEN_ENV = "NEUROSCALE_GITHUB_TOKEN"
MIN_TOKEN_LENGTH = 40


def _problem(facts: Mapping[str, Any] | None) -> str:
    if facts is None:
        return "is not set"
    if facts.get("shape") == "empty":
        return "is empty"
    if facts.get("shape") == "placeholder":
        return f"is a placeholder (length {facts.get('length')})"
    if facts.get("shape") != "github-token" and int(facts.get("length", 0)) < MIN_TOKEN_LENGTH:
        return f"is too short to be a GitHub token (length {facts.get('length')})"
    return ""


def _cluster(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for secret in index.objects("Secret"):
        facts = (secret.get("data") or {}).get(TOKEN_KEY)
        if facts is None:
            continue
        problem = _problem(facts)
        ns, name = namespace_of(secret), name_of(secret)
        fix = (f"read -s GITHUB_TOKEN && kubectl -n {ns} create secret generic {name} "
               f"--from-literal={TOKEN_KEY}=\"$GITHUB_TOKEN\" --dry-run=client -o yaml | kubectl apply -f -\n"
               f"kubectl -n {ns} rollout restart deploy/neuroscale-backstage")
        if problem:
            found.append(RULE.finding(
                obj=ref(secret, "Secret"), message=f"Secret {ns}/{name} key {TOKEN_KEY} {problem}",
                evidence=f"data.{TOKEN_KEY}: length={facts.get('length')}, shape={facts.get('shape')}",
                root_cause="the token was never replaced with a real one, so GitHub answers 401 Bad credentials "
                "when the scaffolder opens the pull request", fix=fix,
            ))
            continue
        updated = max((str(f.get("time", "")) for f in meta(secret).get("managedFields") or []), default="")
        for pod in index.objects("Pod", ns):
            started = str(dig(pod, "status", "startTime") or "")
            if updated and started and started < updated:
                found.append(RULE.finding(
                    obj=ref(pod, "Pod"), severity=Severity.WARNING,
                    message=f"pod {ns}/{name_of(pod)} started before Secret {name} was last updated",
                    evidence=f"Secret managedFields time={updated} > pod status.startTime={started}",
                    root_cause="environment variables from Secrets are read at pod start, so the pod still uses "
                    "the old token", fix=f"kubectl -n {ns} rollout restart deploy/neuroscale-backstage",
                ))
    return found


def _embedded(index: SnapshotIndex) -> list[DoctorFinding]:
    github = index.host.get("github") or {}
    if not github.get("configured"):
        return []
    problem = _problem(github.get("token"))
    if not problem:
        return []
    facts = github.get("token") or {}
    return [RULE.finding(
        obj=ObjectRef(kind="Setting", name=TOKEN_ENV),
        message=f"{TOKEN_ENV} {problem}, but a GitHub remote is configured ({github.get('remote', '')})",
        evidence=f"env {TOKEN_ENV}: " + (f"length={facts.get('length')}, shape={facts.get('shape')}"
                                         if facts else "not set"),
        root_cause="pull requests on GitHub need a token with `repo` scope; without a real one every PR fails "
        "with 401 Bad credentials",
        fix=f"read -s {TOKEN_ENV} && export {TOKEN_ENV}  # a fine-grained or classic token with repo scope; "
        "then restart the platform (`neuroscale down && neuroscale up`)",
        category=Category.ENVIRONMENT,
    )]


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    return _embedded(index) if index.target == "embedded" else _cluster(index)


RULE = Rule(
    id="github-token", title="GitHub token usable", covers=("FM-34",),
    category=Category.PORTAL, severity=Severity.ERROR, check=check, targets=("cluster", "embedded"),
)
