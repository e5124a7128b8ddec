"""The checks every pull-request head must pass before it can merge.

Why here and not in the provider: which checks run and what blocks a merge is
platform policy, the same whichever provider hosts the pull request. The
`policies` check calls the very admission code the reconciler applies to
`main`, so CI and deployment can never disagree (defense in depth). A check
that cannot run reports `error`, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity, has_errors
from neuroscale.gitops.provider import CheckResult
from neuroscale.gitops.repo import GitRepo
from neuroscale.spec.manifest import APPS_DIR, manifest_path
from neuroscale.spec.serving import serving_spec
from neuroscale.yamlio import MANIFEST_LIMITS, load_all

CHECK_MANIFEST = "manifest-parses"
CHECK_POLICIES = "policies"
#: Warnings for fields the embedded engine cannot act on (they still mean something in a cluster).
UNHONOURED = "unhonoured"
_MANIFEST_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ChangedObject:
    """One YAML document from a file the pull request added or modified."""

    path: str
    obj: Any


@dataclass(frozen=True)
class ChangeSet:
    """What a pull-request head changes under `apps/`, parsed once for every check."""

    files: Mapping[str, bytes]
    objects: tuple[ChangedObject, ...]
    parse_findings: tuple[Finding, ...]


def _parse_error(path: str, exc: InvalidInput) -> list[Finding]:
    fields = exc.details.get("fields")
    if not fields:
        return [Finding(rule=CHECK_MANIFEST, severity=Severity.ERROR, file=path, message=exc.message, fix=exc.fix)]
    return [Finding(rule=CHECK_MANIFEST, severity=Severity.ERROR, file=path, field_path=item["field"],
                    message=item["message"],
                    fix=f"set a valid {item['field']} in the manifest (`neuroscale endpoint create --help` "
                        "describes every field)") for item in fields]


def parse_manifest_file(path: str, content: bytes) -> tuple[list[ChangedObject], list[Finding]]:
    try:
        documents = load_all(content.decode("utf-8"), where=path, limits=MANIFEST_LIMITS)
    except UnicodeDecodeError:
        return [], [Finding(rule=CHECK_MANIFEST, severity=Severity.ERROR, file=path, message="not UTF-8 text",
                            fix="save the manifest as UTF-8 YAML")]
    except InvalidInput as exc:
        return [], _parse_error(path, exc)
    if not documents:
        return [], [Finding(rule=CHECK_MANIFEST, severity=Severity.ERROR, file=path, message="the file is empty",
                            fix="put one InferenceService in the file or delete it")]
    objects, findings = [], []
    for document in documents:
        objects.append(ChangedObject(path, document))
        try:
            spec = serving_spec(document, where=path)
        except InvalidInput as exc:
            findings += _parse_error(path, exc)
            continue
        if manifest_path(spec.name) != path:
            findings.append(Finding(
                rule=CHECK_MANIFEST, severity=Severity.ERROR, file=path, field_path="metadata.name",
                message=f"endpoint {spec.name!r} must live at {manifest_path(spec.name)}",
                fix=f"move the file to {manifest_path(spec.name)} or rename the endpoint"))
        findings += [Finding(rule=f"{CHECK_MANIFEST}/{UNHONOURED}", severity=Severity.WARNING, file=path,
                             field_path=item.path, message=f"not honoured by the embedded engine: {item.why}",
                             fix="fine for cluster mode; locally the endpoint serves without it")
                     for item in spec.unhonoured]
    return objects, findings


def change_set(repo: GitRepo, *, base: str, head: str) -> ChangeSet:
    changed = [p for p in repo.changed_paths(base, head)
               if p.startswith(f"{APPS_DIR}/") and p.endswith(_MANIFEST_SUFFIXES)]
    at_head = repo.read_files(head, f"{APPS_DIR}/") if changed else {}
    files = {path: at_head[path] for path in changed if path in at_head}
    objects: list[ChangedObject] = []
    findings: list[Finding] = []
    for path, content in files.items():
        parsed, problems = parse_manifest_file(path, content)
        objects += parsed
        findings += problems
    return ChangeSet(files, tuple(objects), tuple(findings))


def check_manifests(changes: ChangeSet) -> list[Finding]:
    return list(changes.parse_findings)


def check_policies(changes: ChangeSet) -> list[Finding]:
    from neuroscale.policy.admission import admit  # the reconciler's admission code, imported on use

    objects = [item.obj for item in changes.objects if isinstance(item.obj, dict)]
    paths = [item.path for item in changes.objects if isinstance(item.obj, dict)]
    findings = admit(objects) if objects else []
    return [replace(f, file=paths[f.extra["index"]]) if isinstance(f.extra.get("index"), int) else f
            for f in findings]


CHECKS: tuple[tuple[str, Callable[[ChangeSet], list[Finding]]], ...] = (
    (CHECK_MANIFEST, check_manifests),
    (CHECK_POLICIES, check_policies),
)


def _run_one(name: str, check: Callable[[ChangeSet], list[Finding]], changes: ChangeSet) -> CheckResult:
    try:
        findings = check(changes)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run must report `error`, not vanish
        problem = Finding(rule=f"{name}/error", severity=Severity.ERROR,
                          message=f"the check could not run: {type(exc).__name__}: {exc}",
                          fix="fix the platform installation (`neuroscale doctor`), then push again to rerun")
        return CheckResult(name, "error", [problem.to_dict()])
    return CheckResult(name, "fail" if has_errors(findings) else "pass", [f.to_dict() for f in findings])


def run_checks(repo: GitRepo, *, base: str, head: str) -> list[CheckResult]:
    """Every check over what `head` changes relative to `base`."""
    changes = change_set(repo, base=base, head=head)
    return [_run_one(name, check, changes) for name, check in CHECKS]


def describe_failures(checks: Sequence[CheckResult]) -> list[str]:
    """One line per failing finding: rule, where, message and fix."""
    lines = []
    for check in checks:
        for finding in check.findings:
            if finding.get("severity") != Severity.ERROR.value:
                continue
            where = ":".join(p for p in (finding.get("file", ""), finding.get("field_path", "")) if p)
            fix = f" (fix: {finding['fix']})" if finding.get("fix") else ""
            lines.append(f"{finding['rule']} {where}: {finding['message']}{fix}" if where
                         else f"{finding['rule']}: {finding['message']}{fix}")
        if check.status != "pass" and not check.findings:
            lines.append(f"{check.name}: {check.status}")
    return lines
