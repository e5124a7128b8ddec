"""`neuroscale policy test DIR`: run Kyverno CLI test suites (`kyverno-test.yaml`) unchanged.

Format (`cli.kyverno.io/v1alpha1` `Test`, or the older unversioned form):
`policies`, `resources`, `exceptions` and `paramResources` (the parameter
objects ValidatingAdmissionPolicy bindings refer to) are files relative to the
test file; `variables` may name a `Values` file and `userinfo` a `UserInfo`
file (see `testinputs`); each entry of `results` names `policy`, optional
`rule`, `resources` (or `resource`), optional `kind` / `namespace`, the
expected `result` (`pass`, `fail`, `skip`, `warn`, `error`) and optionally the
request's `operation` (or `resourceOperation`; CREATE by default - on UPDATE
the old object is the resource itself, on DELETE it is the only one). A
resource that no rule
matched is `skip`. ValidatingAdmissionPolicies report per policy (or per named
validation); the namespace-wide quota / LimitRange checks report under
`neuroscale-resource-quota` / `neuroscale-limit-range`.

Expectations about mutate, generate or verifyImages rules are reported as
skipped, with the reason, never as passed - and a suite with skipped cases
exits 2 (not everything it asserts was checked). Features that need a cluster
(`checks`, a `context` file), JSON payloads (`jsonPayload`, for Kyverno's
JSON policies) and old objects for UPDATE requests (`oldResources`) make the
suite unrunnable (exit 2); so does a policy the engine cannot evaluate (an
`error` result nobody expected).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity
from neuroscale.policy.cel_exceptions import exempted
from neuroscale.policy.celenv import CelEnvironment, default_environment
from neuroscale.policy.kyverno import KyvernoInputs, KyvernoRun
from neuroscale.policy.kyverno_context import ContextSources, config_map_index
from neuroscale.policy.policyset import PolicySet, compile_policy_set, is_policy_document
from neuroscale.policy.quotas import LIMIT_POLICY, QUOTA_POLICY, evaluate_namespaces
from neuroscale.policy.report import UNEVALUABLE
from neuroscale.policy.repository import read_yaml_documents, yaml_files
from neuroscale.policy.subject import Subject, as_mapping, subjects
from neuroscale.policy.testinputs import SuiteInputs, TestSuiteError, suite_inputs
from neuroscale.policy.vap import CelPolicyRun

TEST_FILE = "kyverno-test.yaml"
RESULTS = ("pass", "fail", "skip", "warn", "error")
_UNSUPPORTED_RESULT_KEYS = ("patchedResource", "patchedResources", "generatedResource", "cloneSourceResource")
_UNSUPPORTED_TEST_KEYS = ("checks", "context", "jsonPayload", "oldResources")
_UNEVALUATED_RULES = ("mutate", "generate", "verifyImages")
_Key = tuple[str, str, int]


@dataclass(frozen=True)
class CaseResult:
    test: str
    policy: str
    rule: str
    resource: str
    expected: str
    actual: str
    #: Why the expectation was not checked (a mutate/generate/verifyImages rule); "" when it was.
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.skipped and self.expected == self.actual


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
        if any(case.skipped for case in self.cases) and all(case.ok or case.skipped for case in self.cases):
            return 2
        return 0 if all(case.ok for case in self.cases) else 1


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
              scored: Mapping[str, bool], inputs: KyvernoInputs,
              params: Sequence[Subject] = (), operation: str = "") -> dict[_Key, str]:
    actual: dict[_Key, str] = {}
    cel_run = CelPolicyRun(env, [*admitted, *params], operation=operation or "CREATE")
    kyverno_run = KyvernoRun(cel_run, inputs)
    for subject in admitted:
        cel_run.begin(subject)
        for policy in policies.cel_policies:
            status, findings = cel_run.outcome(policy, subject)
            if status != "skip" and exempted(policies.cel_exceptions, policy.name, subject, env):
                status, findings = "skip", []
            _vap_statuses(actual, policy.name, status=status, findings=findings, index=subject.index,
                          rules=[v.rule for v in policy.validations if v.rule])
        for kpolicy in policies.kyverno_policies:
            for rule, status, _ in kyverno_run.outcomes(kpolicy, subject):
                if status == "fail" and not scored.get(kpolicy.name, True):
                    status = "warn"
                # Suites name the base rule for pod controllers; Kyverno resolves it to the autogen rule.
                base = rule.removeprefix("autogen-cronjob-").removeprefix("autogen-")
                for name in {rule, base, ""}:
                    for policy_name in {kpolicy.name, kpolicy.qualified_name}:
                        _record(actual, (policy_name, name, subject.index), status)
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
    # A resource written without a namespace matches whatever namespace the result names (as in Kyverno).
    return [s for s in admitted if s.name == name
            and (not namespace or s.namespace == namespace or not as_mapping(s.obj.get("metadata")).get("namespace"))
            and (not kind or s.kind == kind or kind.endswith("/" + s.kind))]


def _rule_kinds(documents: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(policy, rule) -> the rule type Kyverno would run (`validate`, `mutate`, ...); rule "" for the policy."""
    kinds: dict[tuple[str, str], str] = {}
    for document in documents:
        name = str(as_mapping(document.get("metadata")).get("name", ""))
        types = []
        for rule in as_mapping(document.get("spec")).get("rules") or []:
            rule = as_mapping(rule)
            kind = next((key for key in _UNEVALUATED_RULES if rule.get(key)), "validate")
            kinds[(name, str(rule.get("name", "")))] = kind
            types.append(kind)
        if types and all(kind != "validate" for kind in types):
            kinds[(name, "")] = types[0]
    return kinds


def _skip_reason(result: Mapping[str, Any], kinds: Mapping[tuple[str, str], str]) -> str:
    if any(result.get(key) for key in _UNSUPPORTED_RESULT_KEYS):
        return "mutate/generate expectation (patched or generated resource) is not evaluated"
    policy = str(result.get("policy", "")).rpartition("/")[2]
    rule = str(result.get("rule") or "").removeprefix("autogen-cronjob-").removeprefix("autogen-")
    kind = kinds.get((policy, rule), "validate")
    return f"{kind} rules are not evaluated" if kind != "validate" else ""


def _scored(documents: Sequence[Mapping[str, Any]]) -> dict[str, bool]:
    return {str(as_mapping(d.get("metadata")).get("name")):
            as_mapping(as_mapping(d.get("metadata")).get("annotations")).get("policies.kyverno.io/scored") != "false"
            for d in documents}


def _compile(base: Path, manifest: Mapping[str, Any], inputs: SuiteInputs,
             env: CelEnvironment) -> tuple[PolicySet, list[Mapping[str, Any]]]:
    documents = [d for d in _documents(base, manifest.get("policies"), "policies") if is_policy_document(d)]
    if not documents:
        raise TestSuiteError("no policy documents in 'policies'")
    if manifest.get("exceptions"):
        documents += [d for d in _documents(base, manifest["exceptions"], "exceptions") if is_policy_document(d)]
    values = inputs.values
    policies = compile_policy_set(documents, env, implicit_bindings=True,
                                  given=lambda policy, rule: values.names(policy, rule))
    ignored = [p.message for p in policies.problems if p.extra.get("where") in ("kind", "spec")]
    if ignored:  # an exception or policy left out could change any result
        raise TestSuiteError("; ".join(ignored))
    return policies, documents


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
    inputs = suite_inputs(manifest, lambda entry, what: _documents(base, [entry], what))
    policies, documents = _compile(base, manifest, inputs, environment)
    resources: list[Mapping[str, Any]] = [
        d for d in _documents(base, manifest.get("resources"), "resources") if isinstance(d, Mapping)]
    param_objects: list[Mapping[str, Any]] = [
        d for d in _documents(base, manifest["paramResources"], "paramResources") if isinstance(d, Mapping)
    ] if manifest.get("paramResources") else []
    everything = inputs.with_parents(subjects([*resources, *inputs.namespaces, *param_objects]))
    split = len(everything) - len(param_objects)
    admitted, params = everything[:split], everything[split:]
    kyverno_inputs = KyvernoInputs(requester=inputs.requester, values=inputs.values,
                                   context=ContextSources(config_maps=config_map_index(resources)),
                                   exceptions=tuple(policies.exceptions))
    by_operation: dict[str, dict[_Key, str]] = {}

    def actual_for(operation: str) -> dict[_Key, str]:
        """Outcomes when every request is `operation` (a result's own `operation`; "" as the values say)."""
        if operation not in by_operation:
            run_inputs = kyverno_inputs if not operation else dataclasses.replace(
                kyverno_inputs, values=inputs.values.with_operation(operation))
            by_operation[operation] = _evaluate(policies, admitted, env=environment, scored=_scored(documents),
                                                inputs=run_inputs, params=params, operation=operation)
        return by_operation[operation]

    kinds = _rule_kinds(documents)
    cases = []
    for result in manifest.get("results") or []:
        if isinstance(result, Mapping) and "result" not in result and "status" in result:
            result = {**result, "result": result["status"]}  # the older name of the field
        if not isinstance(result, Mapping) or result.get("result") not in RESULTS:
            raise TestSuiteError(f"result entry needs 'result' in {RESULTS}: {result!r}")
        entries = list(result.get("resources") or []) + ([result["resource"]] if result.get("resource") else [])
        if not entries:
            raise TestSuiteError(f"result for policy {result.get('policy')!r} names no resources")
        policy, rule = str(result.get("policy", "")), str(result.get("rule") or "")
        operation = str(result.get("operation") or result.get("resourceOperation") or "").upper()
        skipped = _skip_reason(result, kinds)
        actual = actual_for(operation)
        for entry in entries:
            matched = _resolve(str(entry), result, admitted)
            statuses = [actual.get((policy, rule, s.index), "skip") for s in matched] or ["resource not found"]
            observed = "not evaluated" if skipped else next((s for s in statuses if s != result["result"]),
                                                            result["result"])
            cases.append(CaseResult(str(path), policy, rule, str(entry), str(result["result"]), observed,
                                    skipped=skipped))
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
