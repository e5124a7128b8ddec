"""Kyverno `ClusterPolicy` / `Policy` validate rules: pattern, anyPattern and cel.

Kyverno's defaults are kept: `validationFailureAction` defaults to Audit
(a WARNING finding), Enforce gives an ERROR; a rule-level
`validate.failureAction` and failure-action overrides per namespace win.
Rules that match `Pod` also apply to pod controllers through Kyverno's
auto-generation (rule names `autogen-<rule>` / `autogen-cronjob-<rule>`),
evaluated against the pod template, unless the policy's
`pod-policies.kyverno.io/autogen-controllers` annotation says `none`.

Anything a rule needs that offline evaluation cannot provide - mutate,
generate, verifyImages, deny conditions and preconditions (JMESPath), foreach,
podSecurity, context/API calls, `{{ }}` variables in patterns - makes the
rule an unevaluable ERROR, reported once per policy and as an `error` result
for every resource the rule matches.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neuroscale.findings import Finding, ObjectRef, Severity
from neuroscale.policy.celenv import CelEnvironment
from neuroscale.policy.kyverno_match import rule_applies
from neuroscale.policy.pattern import PatternUnsupported, match_pattern
from neuroscale.policy.report import MALFORMED, policy_ref, unevaluable, violation
from neuroscale.policy.selectors import UnsupportedConstruct, wildcard_match
from neuroscale.policy.subject import Subject, as_mapping
from neuroscale.policy.vap import Binding, CelPolicyRun, CompiledCelPolicy, compile_cel_policy

KINDS = ("ClusterPolicy", "Policy")
AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"
_POD_TEMPLATES = {
    "Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"), "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"), "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"), "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_UNSUPPORTED_RULES = ("mutate", "generate", "verifyImages")
_UNSUPPORTED_VALIDATE = ("deny", "podSecurity", "manifests", "assert")
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
#: The JMESPath subset a foreach `list` may use offline: a plain path into the object.
_FOREACH_LIST = re.compile(r"^\s*request\.object((?:\.[A-Za-z0-9_-]+)+)\s*$")


@dataclass(frozen=True)
class PatternCheck:
    """Patterns applied to the object (empty path) or to every element of a foreach list."""

    list_path: tuple[str, ...]
    patterns: tuple[Any, ...]
    any_pattern: bool


@dataclass
class KyvernoRule:
    name: str
    raw: Mapping[str, Any]
    where: str
    checks: list[PatternCheck] = field(default_factory=list)
    cel: CompiledCelPolicy | None = None
    message: str = ""
    action: str = "Audit"
    overrides: list[Mapping[str, Any]] = field(default_factory=list)
    broken: bool = False


@dataclass
class CompiledKyvernoPolicy:
    name: str
    namespace: str
    ref: ObjectRef
    autogen: str
    rules: list[KyvernoRule] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)


def _action(value: Any, default: str) -> str:
    text = str(value or default)
    return "Enforce" if text.lower() == "enforce" else "Audit"


def _compile_cel(rule: KyvernoRule, block: Mapping[str, Any], *, conditions: Any, policy: CompiledKyvernoPolicy,
                 env: CelEnvironment) -> None:
    document = {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": policy.name},
                "spec": {"validations": block.get("expressions") or [], "variables": block.get("variables") or [],
                         "matchConditions": conditions or [], "paramKind": block.get("paramKind")}}
    compiled = compile_cel_policy(document, env)
    compiled.validations = [dataclasses.replace(v, rule=rule.name) for v in compiled.validations]
    for problem in compiled.problems:
        inner = problem.field_path.removeprefix("spec.").replace("validations", "expressions")
        policy.problems.append(unevaluable(str(problem.extra.get("construct")), policy=policy.name,
                                           where=f"{rule.where}.validate.cel.{inner}", policy_object=policy.ref))
    rule.broken = bool(compiled.problems)
    compiled.bindings = [Binding(name=rule.name, match=None, actions=("Deny",), param_ref=block.get("paramRef"))]
    rule.cel = compiled


def _pattern_check(block: Mapping[str, Any], list_path: tuple[str, ...] = ()) -> PatternCheck | str:
    """The check a pattern / anyPattern block describes, or what makes it unevaluable."""
    if "{{" in repr(block.get("pattern") or block.get("anyPattern") or ""):
        return "{{ }} variables in a pattern"
    if block.get("anyPattern"):
        return PatternCheck(list_path, tuple(block["anyPattern"]), True)
    if block.get("pattern") is not None:
        return PatternCheck(list_path, (block["pattern"],), False)
    return "validate block without pattern, anyPattern or cel"


def _foreach_checks(entries: Any) -> list[PatternCheck] | str:
    checks = []
    for entry in entries if isinstance(entries, list) else [entries]:
        entry = as_mapping(entry)
        unsupported = [key for key in ("deny", "foreach", "preconditions", "context") if entry.get(key)]
        path = _FOREACH_LIST.match(str(entry.get("list", "")))
        if unsupported or path is None:
            return (f"validate.foreach with {', '.join(unsupported)}" if unsupported
                    else f"validate.foreach list {entry.get('list')!r} (only request.object.<path> offline)")
        check = _pattern_check(entry, tuple(path.group(1).strip(".").split(".")))
        if isinstance(check, str):
            return check
        checks.append(check)
    return checks


def _compile_rule(raw: Mapping[str, Any], index: int, *, policy: CompiledKyvernoPolicy, default_action: str,
                  overrides: list[Mapping[str, Any]], env: CelEnvironment) -> KyvernoRule:
    rule = KyvernoRule(name=str(raw.get("name", index)), raw=raw, where=f"spec.rules[{index}]")
    problem = next((f"rule type '{key}'" for key in _UNSUPPORTED_RULES if raw.get(key)), "")
    if not problem and not isinstance(raw.get("validate"), Mapping):
        problem = "rule without a validate block"
    validate = as_mapping(raw.get("validate"))
    if not problem:
        problem = next((f"validate.{key}" for key in _UNSUPPORTED_VALIDATE if validate.get(key)), "")
    if not problem and raw.get("preconditions"):
        problem = "preconditions (JMESPath conditions)"
    if not problem and raw.get("context"):
        problem = "context entries (API calls, ConfigMaps, image data)"
    checks: list[PatternCheck] | str = []
    if not problem and validate.get("foreach"):
        checks = _foreach_checks(validate["foreach"])
    elif not problem and not validate.get("cel"):
        single = _pattern_check(validate)
        checks = single if isinstance(single, str) else [single]
    if isinstance(checks, str):
        problem = checks
    if problem or isinstance(checks, str):
        rule.broken = True
        policy.problems.append(unevaluable(problem, policy=policy.name, where=rule.where, policy_object=policy.ref))
        return rule
    rule.message = str(validate.get("message") or "")
    rule.action = _action(validate.get("failureAction"), default_action)
    rule.overrides = list(validate.get("failureActionOverrides") or overrides)
    if validate.get("cel"):
        _compile_cel(rule, validate["cel"], conditions=raw.get("celPreconditions"), policy=policy, env=env)
    else:
        rule.checks = checks
    return rule


def compile_policy(document: Mapping[str, Any], env: CelEnvironment) -> CompiledKyvernoPolicy:
    metadata = as_mapping(document.get("metadata"))
    spec = as_mapping(document.get("spec"))
    policy = CompiledKyvernoPolicy(
        name=str(metadata.get("name", "")), ref=policy_ref(document),
        namespace=str(metadata.get("namespace") or "default") if document.get("kind") == "Policy" else "",
        autogen=str(as_mapping(metadata.get("annotations")).get(AUTOGEN_ANNOTATION, "all")),
    )
    default_action = _action(spec.get("validationFailureAction"), "Audit")
    overrides = list(spec.get("validationFailureActionOverrides") or [])
    for index, raw in enumerate(spec.get("rules") or []):
        if isinstance(raw, Mapping):
            policy.rules.append(_compile_rule(raw, index, policy=policy, default_action=default_action,
                                              overrides=overrides, env=env))
    if not policy.rules:
        policy.problems.append(unevaluable("policy without rules", policy=policy.name, where="spec.rules",
                                           policy_object=policy.ref))
    return policy


def _pod_view(subject: Subject) -> tuple[Subject, str] | None:
    path = _POD_TEMPLATES.get(subject.kind)
    template: Any = subject.obj
    for key in path or ():
        template = template.get(key) if isinstance(template, Mapping) else None
    if path is None or not isinstance(template, Mapping):
        return None
    metadata = dict(template.get("metadata") or {})
    metadata.setdefault("namespace", subject.namespace)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec") or {}}
    return dataclasses.replace(subject, obj=pod, kind="Pod", group="", version="v1", resource="pods"), \
        ".".join(path) + "."


def _substitute(message: str, subject: Subject) -> str:
    def value(match: re.Match[str]) -> str:
        node: Any = {"request": {"object": subject.obj, "namespace": subject.namespace}}
        for part in match.group(1).split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return match.group(0) if node is None or isinstance(node, (Mapping, list)) else str(node)

    return _VARIABLE.sub(value, message)


def _run_checks(checks: list[PatternCheck], obj: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]]]:
    """(how many targets the patterns applied to, [(failing path, reason)]) over object or foreach elements."""
    applied = 0
    failed: list[tuple[str, str]] = []
    for check in checks:
        targets: list[tuple[str, Any]] = [("", obj)]
        if check.list_path:
            node: Any = obj
            for key in check.list_path:
                node = node.get(key) if isinstance(node, Mapping) else None
            base = "/" + "/".join(check.list_path)
            targets = [(f"{base}/{i}", item) for i, item in enumerate(node if isinstance(node, list) else [])]
        for base, target in targets:
            results = [match_pattern(target, pattern) for pattern in check.patterns]
            if any(r.status == "pass" for r in results):
                applied += 1
            elif not all(r.status == "skip" for r in results):
                applied += 1
                failed += [(base + r.path, r.message) for r in results if r.status == "fail"][:1]
    return applied, failed


class KyvernoRun:
    """Evaluates compiled Kyverno policies; CEL rules share the VAP run's context."""

    def __init__(self, cel_run: CelPolicyRun) -> None:
        self.cel_run = cel_run

    def evaluate(self, policy: CompiledKyvernoPolicy, subject: Subject) -> list[Finding]:
        return [f for _, _, findings in self.outcomes(policy, subject) for f in findings]

    def outcomes(self, policy: CompiledKyvernoPolicy, subject: Subject) -> list[tuple[str, str, list[Finding]]]:
        """(rule name, pass|fail|skip|error, findings) for each rule that applies to `subject`."""
        if policy.namespace and subject.namespace != policy.namespace:
            return []
        results = []
        for rule in policy.rules:
            try:
                target = self._target(policy, rule, subject)
                if target is not None:
                    view, name, prefix = target
                    results.append(self._validate(policy, rule, subject=subject, view=view, name=name,
                                                  prefix=prefix))
            except UnsupportedConstruct as exc:
                results.append((rule.name, "error", [unevaluable(str(exc), policy=policy.name, where=rule.where,
                                                                 subject=subject)]))
            except MALFORMED as exc:
                results.append((rule.name, "error", [unevaluable(
                    f"malformed rule ({type(exc).__name__}: {exc})", policy=policy.name, where=rule.where,
                    subject=subject)]))
        return results

    def _target(self, policy: CompiledKyvernoPolicy, rule: KyvernoRule,
                subject: Subject) -> tuple[Subject, str, str] | None:
        if rule_applies(rule.raw, subject, where=rule.where):
            return subject, rule.name, ""
        if policy.autogen == "none" or (policy.autogen != "all" and subject.kind not in policy.autogen):
            return None
        pod = _pod_view(subject)
        if pod is None or not rule_applies(rule.raw, subject, where=rule.where, kind="Pod"):
            return None
        prefix = "autogen-cronjob-" if subject.kind == "CronJob" else "autogen-"
        return pod[0], prefix + rule.name, pod[1]

    def _severity(self, rule: KyvernoRule, subject: Subject) -> tuple[Severity, str]:
        action = rule.action
        for override in rule.overrides:
            if any(wildcard_match(str(ns), subject.namespace) for ns in override.get("namespaces") or []):
                action = _action(override.get("action"), action)
        return (Severity.ERROR if action == "Enforce" else Severity.WARNING), action

    def _validate(self, policy: CompiledKyvernoPolicy, rule: KyvernoRule, *, subject: Subject, view: Subject,
                  name: str, prefix: str) -> tuple[str, str, list[Finding]]:
        if rule.broken:
            return name, "error", []
        severity, action = self._severity(rule, subject)
        if rule.cel is not None:
            cel_rule = dataclasses.replace(rule.cel, validations=[
                dataclasses.replace(v, rule=name, field_path=prefix + v.field_path if v.field_path else "")
                for v in rule.cel.validations])
            cel_rule.bindings = [dataclasses.replace(b, actions=("Deny" if action == "Enforce" else "Audit",))
                                 for b in rule.cel.bindings]
            self.cel_run.begin(view)
            status, findings = self.cel_run.outcome(cel_rule, view)
            findings = [dataclasses.replace(f, obj=subject.ref, extra={**f.extra, "action": action})
                        for f in findings]
            return name, status, findings
        try:
            applied, failed = _run_checks(rule.checks, view.obj)
        except PatternUnsupported as exc:
            return name, "error", [unevaluable(str(exc), policy=policy.name, where=f"{rule.where}.validate",
                                               subject=subject)]
        if not failed:
            return name, "pass" if applied else "skip", []
        paths = ", ".join(path for path, _ in failed)
        message = f"validation error: {_substitute(rule.message, subject)}".rstrip(": ")
        message += f". rule {name} failed at path {paths}"
        return name, "fail", [violation(
            subject, policy=policy.name, rule=name, severity=severity, action=action, message=message,
            field_path=prefix + failed[0][0].strip("/").replace("/", "."), fix=failed[0][1],
        )]
