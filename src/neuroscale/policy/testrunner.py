"""`neuroscale policy test DIR`: run Kyverno CLI test suites (`kyverno-test.yaml`) unchanged.

Format (`cli.kyverno.io/v1alpha1` `Test`, or the older unversioned form):
`policies` and `resources` are files relative to the test file; `variables`
may name a `Values` file whose `namespaceSelector` gives namespace labels
(variable overrides in it are refused, since ignoring them could flip a result);
each entry of `results` names `policy`, optional `rule`, `resources` (or
`resource`), optional `kind` / `namespace`, and the expected `result`
(`pass`, `fail`, `skip`, `warn`, `error`). A resource that no rule matched
is `skip`. ValidatingAdmissionPolicies report per policy (or per named
validation); the namespace-wide quota / LimitRange checks report under
`neuroscale-resource-quota` / `neuroscale-limit-range`.

Features that need a cluster or another engine (mutate `patchedResources`,
`generatedResource`, `checks`, exceptions, userinfo) make the suite unrunnable
(exit 2) instead of passing; so does a policy the engine cannot evaluate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity
from neuroscale.policy.celenv import CelEnvironment, default_environment
from neuroscale.policy.kyverno import KyvernoRun
from neuroscale.policy.policyset import PolicySet, compile_policy_set, is_policy_document
from neuroscale.policy.quotas import LIMIT_POLICY, QUOTA_POLICY, evaluate_namespaces
from neuroscale.policy.report import UNEVALUABLE
from neuroscale.policy.repository import read_yaml_documents, yaml_files
from neuroscale.policy.subject import Subject, subjects
from neuroscale.policy.vap import CelPolicyRun

TEST_FILE = "kyverno-test.yaml"
RESULTS = ("pass", "fail", "skip", "warn", "error")
_UNSUPPORTED_RESULT_KEYS = ("patchedResource", "patchedResources", "generatedResource", "cloneSourceResource")
_UNSUPPORTED_TEST_KEYS = ("checks", "exceptions", "userinfo", "context")
_Key = tuple[str, str, int]


@dataclass(frozen=True)
class CaseResult:
    test: str
    policy: str
    rule: str
    resource: str
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass
class SuiteReport:
    cases: list[CaseResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tests: int = 0

    @property
    def exit_code(self) -> int:
        if self.errors or self.tests == 0:
            return 2
        if any(case.actual == "error" and case.expected != "error" for case in self.cases):
            return 2
        return 0 if all(case.ok for case in self.cases) else 1


class TestSuiteError(Exception):
    """The test manifest cannot be run as written."""


def _documents(base: Path, entries: Any, what: str) -> list[Any]:
    if not isinstance(entries, list) or not entries:
        raise TestSuiteError(f"'{what}' must be a non-empty list of files")
    documents: list[Any] = []
    for entry in entries:
        if not isinstance(entry, str) or "://" in entry:
            raise TestSuiteError(f"{what} entry {entry!r}: only local files are supported")
        path = (base / entry)
        files = yaml_files(path) if path.is_dir() else [path]
        if not path.exists():
            raise TestSuiteError(f"{what} file not found: {entry}")
        for file in files:
            documents.extend(read_yaml_documents(file))
    return documents


def _namespaces(base: Path, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    if not manifest.get("variables"):
        return []
    values = [doc for doc in _documents(base, [manifest["variables"]], "variables") if isinstance(doc, Mapping)]
    overrides = [key for doc in values for key in ("globalValues", "policies", "subresources") if doc.get(key)]
    if overrides:
        raise TestSuiteError(f"Values {', '.join(sorted(set(overrides)))} are not supported offline "
                             "(only namespaceSelector)")
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": item.get("name"), "labels": dict(item.get("labels") or {})}}
            for doc in values for item in doc.get("namespaceSelector") or [] if isinstance(item, Mapping)]


def _record(actual: dict[_Key, str], key: _Key, status: str) -> None:
    order = ("error", "fail", "warn", "pass", "skip")
    current = actual.get(key)
    if current is None or order.index(status) < order.index(current):
        actual[key] = status


def _vap_statuses(actual: dict[_Key, str], policy: str, *, status: str, findings: Sequence[Finding],
                  index: int, rules: Sequence[str]) -> None:
    _record(actual, (policy, "", index), status)
    for rule in rules:
        if status in ("pass", "fail"):
            failed = any(f.extra.get("rule") == rule for f in findings)
            _record(actual, (policy, rule, index), "fail" if failed else "pass")
        else:
            _record(actual, (policy, rule, index), status)


def _evaluate(policies: PolicySet, admitted: Sequence[Subject], *, env: CelEnvironment,
              scored: Mapping[str, bool]) -> dict[_Key, str]:
    actual: dict[_Key, str] = {}
    cel_run = CelPolicyRun(env, admitted)
    kyverno_run = KyvernoRun(cel_run)
    for subject in admitted:
        cel_run.begin(subject)
        for policy in policies.cel_policies:
            status, findings = cel_run.outcome(policy, subject)
            _vap_statuses(actual, policy.name, status=status, findings=findings, index=subject.index,
                          rules=[v.rule for v in policy.validations if v.rule])
        for kpolicy in policies.kyverno_policies:
            for rule, status, _ in kyverno_run.outcomes(kpolicy, subject):
                if status == "fail" and not scored.get(kpolicy.name, True):
                    status = "warn"
                # Suites name the base rule for pod controllers; Kyverno resolves it to the autogen rule.
                base = rule.removeprefix("autogen-cronjob-").removeprefix("autogen-")
                for name in {rule, base, ""}:
                    _record(actual, (kpolicy.name, name, subject.index), status)
    namespaces = {s.namespace for s in admitted if s.kind in ("ResourceQuota", "LimitRange")}
    by_object: dict[tuple[str, int], list[Finding]] = defaultdict(list)
    for finding in evaluate_namespaces(admitted):
        by_object[(str(finding.extra.get("policy")), int(finding.extra.get("index", -1)))].append(finding)
    for subject in admitted:
        if subject.namespace in namespaces:
            for namespace_policy in (QUOTA_POLICY, LIMIT_POLICY):
                found = by_object.get((namespace_policy, subject.index), [])
                status = "error" if any(f.rule == UNEVALUABLE for f in found) else \
                    "fail" if any(f.severity is Severity.ERROR for f in found) else "pass"
                _record(actual, (namespace_policy, "", subject.index), status)
    return actual


def _resolve(entry: str, result: Mapping[str, Any], admitted: Sequence[Subject]) -> list[Subject]:
    parts = entry.split("/")
    name = parts[-1]
    namespace = parts[0] if len(parts) > 1 else str(result.get("namespace") or "")
    kind = parts[1] if len(parts) == 3 else str(result.get("kind") or "")
    return [s for s in admitted if s.name == name and (not namespace or s.namespace == namespace)
            and (not kind or s.kind == kind or kind.endswith("/" + s.kind))]


def run_test_file(path: Path, *, env: CelEnvironment | None = None) -> list[CaseResult]:
    """Run one `kyverno-test.yaml`; raises TestSuiteError / InvalidInput when it cannot run."""
    environment = env or default_environment()
    loaded = read_yaml_documents(path)
    manifest = loaded[0] if len(loaded) == 1 and isinstance(loaded[0], Mapping) else None
    if manifest is None:
        raise TestSuiteError("a test file holds exactly one mapping")
    unsupported = [key for key in _UNSUPPORTED_TEST_KEYS if manifest.get(key)]
    if unsupported:
        raise TestSuiteError(f"unsupported test feature(s): {', '.join(unsupported)}")
    base = path.parent
    policy_documents = [d for d in _documents(base, manifest.get("policies"), "policies") if is_policy_document(d)]
    if not policy_documents:
        raise TestSuiteError("no policy documents in 'policies'")
    resources: list[Mapping[str, Any]] = [
        d for d in _documents(base, manifest.get("resources"), "resources") if isinstance(d, Mapping)]
    policies = compile_policy_set(policy_documents, environment, implicit_bindings=True)
    admitted = subjects([*resources, *_namespaces(base, manifest)])
    scored = {str((d.get("metadata") or {}).get("name")):
              ((d.get("metadata") or {}).get("annotations") or {}).get("policies.kyverno.io/scored") != "false"
              for d in policy_documents}
    actual = _evaluate(policies, admitted, env=environment, scored=scored)
    cases = []
    for result in manifest.get("results") or []:
        if not isinstance(result, Mapping) or result.get("result") not in RESULTS:
            raise TestSuiteError(f"result entry needs 'result' in {RESULTS}: {result!r}")
        if any(result.get(key) for key in _UNSUPPORTED_RESULT_KEYS):
            raise TestSuiteError(f"mutate/generate expectations are not supported: {result.get('policy')}")
        entries = list(result.get("resources") or []) + ([result["resource"]] if result.get("resource") else [])
        if not entries:
            raise TestSuiteError(f"result for policy {result.get('policy')!r} names no resources")
        policy, rule = str(result.get("policy", "")), str(result.get("rule") or "")
        for entry in entries:
            matched = _resolve(str(entry), result, admitted)
            statuses = [actual.get((policy, rule, s.index), "skip") for s in matched] or ["resource not found"]
            observed = next((s for s in statuses if s != result["result"]), result["result"])
            cases.append(CaseResult(str(path), policy, rule, str(entry), str(result["result"]), observed))
    return cases


def run_tests(directory: Path, *, file_name: str = TEST_FILE) -> SuiteReport:
    """Every `file_name` under `directory` (recursively)."""
    report = SuiteReport()
    if not directory.exists():
        report.errors.append(f"{directory}: no such directory")
        return report
    files = [directory] if directory.is_file() else sorted(directory.rglob(file_name))
    for path in files:
        report.tests += 1
        try:
            report.cases.extend(run_test_file(path))
        except (TestSuiteError, InvalidInput) as exc:
            report.errors.append(f"{path}: {exc}")
    if report.tests == 0:
        report.errors.append(f"{directory}: no {file_name} found")
    return report
