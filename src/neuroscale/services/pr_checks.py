"""The checks every pull-request head must pass before it can merge.

Why here and not in the provider: which checks run and what blocks a merge is
platform policy, the same whichever provider hosts the pull request. Besides
`manifest-parses` (an endpoint file must parse as an endpoint, at its path),
the head runs the very `neuroscale check` pipeline CI runs — schema,
policies (the admission code the reconciler applies to `main`), lints — plus
the cost delta and the rendered diff against the base, each shown as a check;
findings are kept for the files the pull request changes, as `check --base`
keeps them. A check that cannot run reports `error`, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from neuroscale.cost.delta import UNALLOCATED, CostDelta
from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity, has_errors
from neuroscale.gitops.provider import CheckResult, CheckStatus
from neuroscale.gitops.repo import GitRepo
from neuroscale.policy.bundled import BundledOptions
from neuroscale.spec.manifest import APPS_DIR, manifest_path
from neuroscale.spec.serving import serving_spec
from neuroscale.yamlio import MANIFEST_LIMITS, load_all, utf8_text

if TYPE_CHECKING:
    from neuroscale.check.diff import ObjectChange

CHECK_MANIFEST = "manifest-parses"
CHECK_SCHEMA = "schema"
CHECK_POLICIES = "policies"
CHECK_LINTS = "lints"
CHECK_COST = "cost-delta"
CHECK_DIFF = "rendered-diff"
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
                    fix=item.get("fix") or f"set a valid {item['field']} in the manifest (`neuroscale endpoint "
                                           "create --help` describes every field)") for item in fields]


def parse_manifest_file(path: str, content: bytes) -> tuple[list[ChangedObject], list[Finding]]:
    try:
        documents = load_all(utf8_text(content, where=path), where=path, limits=MANIFEST_LIMITS)
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


PIPELINE_CHECKS = (CHECK_SCHEMA, CHECK_POLICIES, CHECK_LINTS, CHECK_COST, CHECK_DIFF)


def _status(findings: list[Finding]) -> CheckStatus:
    from neuroscale.check.model import UNEVALUABLE_RULES

    if any(f.rule in UNEVALUABLE_RULES for f in findings):
        return "error"
    return "fail" if has_errors(findings) else "pass"


def _result(name: str, findings: list[Finding]) -> CheckResult:
    return CheckResult(name, _status(findings), [f.to_dict() for f in findings])


def _crashed(name: str, exc: Exception) -> CheckResult:
    problem = Finding(rule=f"{name}/error", severity=Severity.ERROR,
                      message=f"the check could not run: {type(exc).__name__}: {exc}",
                      fix="fix the platform installation (`neuroscale doctor`), then push again to rerun")
    return CheckResult(name, "error", [problem.to_dict()])


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def cost_findings(delta: CostDelta) -> list[Finding]:
    """One note per workload whose monthly estimate changes (a warning when a threshold is crossed)."""
    findings = []
    for item in delta.items:
        workload = item.current
        warn = any("rises" in flag for flag in item.flags)
        findings.append(Finding(
            rule=CHECK_COST, severity=Severity.WARNING if warn else Severity.INFO, file=workload.file,
            message=f"{workload.kind} {workload.namespace or 'default'}/{workload.name} {item.change}: "
                    f"{_money(item.monthly_before, delta.currency)} -> {_money(item.monthly_after, delta.currency)}"
                    f" a month (cost center {workload.cost_center or UNALLOCATED})"
                    + "".join(f"; {flag}" for flag in item.flags),
            fix="review the replica counts and resource requests" if warn else ""))
    if delta.items:
        findings.append(Finding(
            rule=CHECK_COST, severity=Severity.WARNING if delta.flags else Severity.INFO,
            message=f"total: {_money(delta.total_before, delta.currency)} -> "
                    f"{_money(delta.total_after, delta.currency)} a month"
                    + "".join(f"; {flag}" for flag in delta.flags)))
    return findings


def diff_findings(changes: list[ObjectChange]) -> list[Finding]:
    """One note per object the merge adds, changes (field by field) or removes."""
    findings = []
    for change in changes:
        fields = "; ".join(f"{f.path}: {f.before or '(unset)'} -> {f.after or '(unset)'}" for f in change.fields[:8])
        more = " …" if change.truncated or len(change.fields) > 8 else ""
        findings.append(Finding(
            rule=CHECK_DIFF, severity=Severity.INFO, file=change.file,
            message=f"{change.change} {change.kind} {change.namespace + '/' if change.namespace else ''}{change.name}"
                    + (f": {fields}{more}" if fields else "")))
    return findings


def pipeline_checks(repo: GitRepo, *, base: str, head: str,
                    bundled: BundledOptions | None = None) -> list[CheckResult]:
    """The `neuroscale check` stages on `head`, plus cost delta and rendered diff against `base`."""
    from neuroscale.check.diff import rendered_diff  # the check pipeline is heavy: loaded when a PR is checked
    from neuroscale.check.model import CheckOptions
    from neuroscale.check.runner import changed_files, check_stages, files_view, touched, workloads_cost
    from neuroscale.cost import PriceTable

    # The embedded platform validates endpoints with its own parser (`manifest-parses`) and has no CRDs in its
    # repository, so "no schema" is a note there rather than a warning on every pull request.
    options = CheckOptions(no_schema_severity=Severity.INFO, bundled=bundled)
    try:
        head_files, base_files = repo.read_files(head), repo.read_files(base)
        view, loaded = files_view(head_files, options=options)
        base_view, _ = files_view(base_files, options=options)
        changed = changed_files(base_files, head_files)
        results = [_result(name, touched(loaded + found if name == CHECK_SCHEMA else found,
                                         files=head_files, changed=changed))
                   for name, found in check_stages(view, options)]
        results.append(_result(CHECK_COST, cost_findings(workloads_cost(base_view, view, PriceTable()))))
        results.append(_result(CHECK_DIFF, diff_findings(rendered_diff(base_view, view))))
    except Exception as exc:  # noqa: BLE001 - a check that cannot run must report `error`, not vanish
        return [_crashed(name, exc) for name in PIPELINE_CHECKS]
    return results


def _run_one(name: str, check: Callable[[ChangeSet], list[Finding]], changes: ChangeSet) -> CheckResult:
    try:
        findings = check(changes)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run must report `error`, not vanish
        return _crashed(name, exc)
    return CheckResult(name, "fail" if has_errors(findings) else "pass", [f.to_dict() for f in findings])


def run_checks(repo: GitRepo, *, base: str, head: str, bundled: BundledOptions | None = None) -> list[CheckResult]:
    """Every check over what `head` changes relative to `base` (bundled policies with `bundled`'s knobs)."""
    changes = change_set(repo, base=base, head=head)
    return [_run_one(CHECK_MANIFEST, check_manifests, changes),
            *pipeline_checks(repo, base=base, head=head, bundled=bundled)]


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
