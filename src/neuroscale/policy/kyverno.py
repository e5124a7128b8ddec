"""Kyverno `ClusterPolicy` / `Policy` validate rules: pattern, anyPattern, deny, foreach and cel.

Kyverno's defaults are kept: `validationFailureAction` defaults to Audit
(a WARNING finding), Enforce gives an ERROR; a rule-level
`validate.failureAction` and failure-action overrides per namespace win.
Rules that match `Pod` also apply to every pod controller through Kyverno's
auto-generation (rule names `autogen-<rule>` / `autogen-cronjob-<rule>`),
evaluated against the pod template, limited by the policy's
`pod-policies.kyverno.io/autogen-controllers` annotation (`none`, or a list).

Rules run as Kyverno runs them: context entries (`kyverno_context`), then
`preconditions`, then the validate block (`kyverno_checks`), with `{{ }}`
variables over the admission request (`kyverno_request`) and Kyverno's
JMESPath functions. A `PolicyException` that matches exempts the resource
(result `skip`). Anything a rule needs that offline evaluation cannot provide
- mutate, generate, verifyImages, podSecurity, API-call context, unknown
JMESPath functions - makes the rule unevaluable: reported once per policy and
as an `error` result for every resource the rule matches, never a pass.
Given the kinds of the objects under admission, the `validate.cel` of a rule
none of them can reach (by its `match`, or through autogen as a controller's
pod) is not compiled, as for a ValidatingAdmissionPolicy that selects none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.findings import Finding, ObjectRef, Severity
from neuroscale.policy.celenv import CelEnvironment
from neuroscale.policy.kyverno_checks import Block, Result, compile_block, run_block
from neuroscale.policy.kyverno_conditions import conditions_hold
from neuroscale.policy.kyverno_context import ContextSources, check_entries, load_entries
from neuroscale.policy.kyverno_exceptions import CompiledException, exempting
from neuroscale.policy.kyverno_match import NOBODY, Requester, kinds_selected, may_match, rule_applies
from neuroscale.policy.kyverno_request import (NO_VALUES, Values, given_operation, images, request_data,
                                               shaped_object)
from neuroscale.policy.kyverno_variables import ConditionError, ConditionUnsupported, check_syntax, substitute
from neuroscale.policy.pattern import PatternUnsupported
from neuroscale.policy.report import MALFORMED, policy_ref, unevaluable, violation
from neuroscale.policy.selectors import UnsupportedConstruct, wildcard_match
from neuroscale.policy.subject import Subject, as_mapping
from neuroscale.policy.vap import Binding, CelPolicyRun, CompiledCelPolicy, compile_cel_policy
from neuroscale.policy.workloads import POD_TEMPLATE_PATHS

KINDS = ("ClusterPolicy", "Policy")
AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"
_UNSUPPORTED_RULES = ("mutate", "generate", "verifyImages")
_UNSUPPORTED_VALIDATE = ("podSecurity", "manifests", "assert")


#: What a rule's context may be given instead of loading it: variable names per (policy, rule).
GivenNames = Callable[[str, str], Collection[str]]


@dataclass
class KyvernoRule:
    name: str
    raw: Mapping[str, Any]
    where: str
    block: Block | None = None
    preconditions: Any = None
    context: Any = None
    cel: CompiledCelPolicy | None = None
    message: str = ""
    action: str = "Audit"
    overrides: list[Mapping[str, Any]] = field(default_factory=list)
    broken: bool = False
    #: Reads the request data (variables, preconditions, context, foreach, deny): built only for these rules.
    uses_data: bool = True
    #: `kinds_selected(match)`: kinds the rule can apply to; None when any kind may.
    kinds: frozenset[str] | None = None


@dataclass
class CompiledKyvernoPolicy:
    name: str
    namespace: str
    ref: ObjectRef
    autogen: str
    rules: list[KyvernoRule] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        """How a PolicyException names it: `<namespace>/<name>` for a namespaced Policy."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


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


def _unsupported(raw: Mapping[str, Any], validate: Mapping[str, Any]) -> str:
    problem = next((f"rule type '{key}'" for key in _UNSUPPORTED_RULES if raw.get(key)), "")
    if not problem and not isinstance(raw.get("validate"), Mapping):
        problem = "rule without a validate block"
    return problem or next((f"validate.{key}" for key in _UNSUPPORTED_VALIDATE if validate.get(key)), "")


def _reachable(raw: Mapping[str, Any], policy: CompiledKyvernoPolicy, kinds: Sequence[Subject] | None) -> bool:
    """Whether an object of `kinds` (None: of any kind) can reach the rule, itself or as the pod of a controller
    (autogen), by what `KyvernoRun._target` reads of its `match`."""
    if kinds is None or may_match(raw.get("match"), kinds):
        return True
    if policy.autogen == "none":
        return False
    controllers = [subject for subject in kinds if subject.kind in POD_TEMPLATE_PATHS and
                   (policy.autogen == "all" or subject.kind in policy.autogen.split(","))]
    return bool(controllers) and may_match(raw.get("match"), controllers, kind="Pod")


def _compile_rule(raw: Mapping[str, Any], index: int, *, policy: CompiledKyvernoPolicy, default_action: str,
                  overrides: list[Mapping[str, Any]], env: CelEnvironment, given: GivenNames | None,
                  kinds: Sequence[Subject] | None) -> KyvernoRule:
    rule = KyvernoRule(name=str(raw.get("name", index)), raw=raw, where=f"spec.rules[{index}]",
                       kinds=kinds_selected(raw.get("match")))
    validate = as_mapping(raw.get("validate"))
    problem = _unsupported(raw, validate)
    if not problem:
        names = given(policy.name, rule.name) if given else ()
        try:
            check_entries(raw.get("context"), given={name: True for name in names})
            check_syntax(raw.get("preconditions"))
            check_syntax(validate.get("message"))
            if not validate.get("cel"):
                rule.block = compile_block({k: v for k, v in validate.items() if k in
                                            ("pattern", "anyPattern", "deny", "foreach")},
                                           given={name: True for name in names})
        except ConditionUnsupported as exc:
            problem = str(exc)
    if problem:
        rule.broken = True
        policy.problems.append(unevaluable(problem, policy=policy.name, where=rule.where, policy_object=policy.ref))
        return rule
    rule.preconditions = raw.get("preconditions") or None
    rule.context = raw.get("context") or None
    rule.uses_data = bool(rule.preconditions or rule.context or "{{" in repr(raw) or rule.block is None
                          or rule.block.foreach or rule.block.deny is not None)
    rule.message = str(validate.get("message") or "")
    rule.action = _action(validate.get("failureAction"), default_action)
    rule.overrides = list(validate.get("failureActionOverrides") or overrides)
    if validate.get("cel") and _reachable(raw, policy, kinds):  # no object reaches it: never evaluated
        _compile_cel(rule, validate["cel"], conditions=raw.get("celPreconditions"), policy=policy, env=env)
    return rule


def compile_policy(document: Mapping[str, Any], env: CelEnvironment, *, given: GivenNames | None = None,
                   kinds: Sequence[Subject] | None = None) -> CompiledKyvernoPolicy:
    """Compile every rule; `given` names the context variables a test's values file provides. With `kinds`
    (`selectors.kinds_of` the subjects), the `validate.cel` of a rule no object of those kinds can reach is not
    compiled: it is never evaluated, and its CEL's errors are not reported (as for a ValidatingAdmissionPolicy
    that selects none of them)."""
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
                                              overrides=overrides, env=env, given=given, kinds=kinds))
    if not policy.rules:
        policy.problems.append(unevaluable("policy without rules", policy=policy.name, where="spec.rules",
                                           policy_object=policy.ref))
    return policy


def _pod_view(subject: Subject) -> tuple[Subject, str] | None:
    path = POD_TEMPLATE_PATHS.get(subject.kind)
    template: Any = subject.obj
    for key in path or ():
        template = template.get(key) if isinstance(template, Mapping) else None
    if path is None:
        return None
    template = template if isinstance(template, Mapping) else {}
    metadata = dict(template.get("metadata") or {})
    metadata.setdefault("namespace", subject.namespace)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec") or {}}
    return dataclasses.replace(subject, obj=pod, kind="Pod", group="", version="v1", resource="pods"), \
        ".".join(path) + "."


def _autogen_possible(rule: Mapping[str, Any]) -> bool:
    """Kyverno generates pod-controller rules only when match/exclude select pods by kind alone."""
    for block_name in ("match", "exclude"):
        block = as_mapping(rule.get(block_name))
        filters = [as_mapping(item) for item in (block.get("any") or block.get("all") or [block])]
        for item in filters:
            resources = as_mapping(item.get("resources"))
            if any(resources.get(key) for key in ("name", "names", "selector", "annotations")):
                return False
    return True


def _message(template: str, data: Mapping[str, Any]) -> str:
    try:
        return str(substitute(template, data))
    except (ConditionError, ConditionUnsupported):
        return template


@dataclass(frozen=True)
class KyvernoInputs:
    """What evaluation may use beyond policies and objects: requester, test values, ConfigMaps, exceptions."""

    requester: Requester = NOBODY
    values: Values = NO_VALUES
    context: ContextSources = field(default_factory=ContextSources)
    exceptions: tuple[CompiledException, ...] = ()


class KyvernoRun:
    """Evaluates compiled Kyverno policies; CEL rules share the VAP run's context."""

    def __init__(self, cel_run: CelPolicyRun, inputs: KyvernoInputs | None = None) -> None:
        self.cel_run = cel_run
        self.inputs = inputs or KyvernoInputs()
        self._images: dict[int, dict[str, Any]] = {}

    def evaluate(self, policy: CompiledKyvernoPolicy, subject: Subject) -> list[Finding]:
        return [f for _, _, findings in self.outcomes(policy, subject) for f in findings]

    def outcomes(self, policy: CompiledKyvernoPolicy, subject: Subject) -> list[tuple[str, str, list[Finding]]]:
        """(rule name, pass|fail|skip|error, findings) for each rule that applies to `subject`."""
        if policy.namespace and subject.namespace != policy.namespace:
            return []
        results = []
        for rule in policy.rules:
            try:
                shaped = self._shaped(policy, rule, subject)
                target = self._target(policy, rule, shaped)
                if target is not None:
                    view, name, prefix = target
                    results.append(self._validate(policy, rule, subject=shaped, view=view, name=name,
                                                  prefix=prefix))
            except UnsupportedConstruct as exc:
                results.append((rule.name, "error", [unevaluable(str(exc), policy=policy.name, where=rule.where,
                                                                 subject=subject)]))
            except MALFORMED as exc:
                results.append((rule.name, "error", [unevaluable(
                    f"malformed rule ({type(exc).__name__}: {exc})", policy=policy.name, where=rule.where,
                    subject=subject)]))
        return results

    def _shaped(self, policy: CompiledKyvernoPolicy, rule: KyvernoRule, subject: Subject) -> Subject:
        """`subject` as the test values under `request.object` reshape it (itself when they do not)."""
        if self.inputs.values is NO_VALUES:
            return subject
        obj = shaped_object(subject.obj, self.inputs.values.for_rule(policy.name, rule.name, subject.name))
        if obj is None:
            return subject
        labels = as_mapping(as_mapping(obj.get("metadata")).get("labels"))
        return dataclasses.replace(subject, obj=obj, labels={str(k): str(v) for k, v in labels.items()})

    def _requester(self, policy: CompiledKyvernoPolicy, subject: Subject, rule: KyvernoRule) -> Requester:
        operation = given_operation(self.inputs.values.for_rule(policy.name, rule.name, subject.name))
        return dataclasses.replace(self.inputs.requester, operation=operation) if operation else \
            self.inputs.requester

    def _target(self, policy: CompiledKyvernoPolicy, rule: KyvernoRule,
                subject: Subject) -> tuple[Subject, str, str] | None:
        # `rule.kinds` skips only evaluations that would be False without raising: outcomes stay as they were.
        direct = rule.kinds is None or subject.kind in rule.kinds
        via_pod = rule.kinds is None or "Pod" in rule.kinds
        requester = self._requester(policy, subject, rule) if direct or via_pod else NOBODY
        if direct and rule_applies(rule.raw, subject, where=rule.where, requester=requester):
            return subject, rule.name, ""
        if policy.autogen == "none" or (policy.autogen != "all" and subject.kind not in policy.autogen.split(",")):
            return None
        pod = _pod_view(subject)
        if pod is None or not _autogen_possible(rule.raw) or not via_pod or \
                not rule_applies(rule.raw, subject, where=rule.where, kind="Pod", requester=requester):
            return None
        prefix = "autogen-cronjob-" if subject.kind == "CronJob" else "autogen-"
        return pod[0], prefix + rule.name, pod[1]

    def _severity(self, rule: KyvernoRule, subject: Subject) -> tuple[Severity, str]:
        action = rule.action
        for override in rule.overrides:
            if any(wildcard_match(str(ns), subject.namespace) for ns in override.get("namespaces") or []):
                action = _action(override.get("action"), action)
        return (Severity.ERROR if action == "Enforce" else Severity.WARNING), action

    def _cel(self, rule: KyvernoRule, *, subject: Subject, view: Subject, name: str, prefix: str,
             action: str) -> tuple[str, str, list[Finding]]:
        assert rule.cel is not None
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

    def _data(self, subject: Subject, view: Subject, *, requester: Requester,
              values: Mapping[str, Any]) -> dict[str, Any]:
        if subject.index not in self._images:
            self._images[subject.index] = images(subject.obj)
        return request_data(subject, view, requester=requester, values=values, image_data=self._images[subject.index])

    def _validate(self, policy: CompiledKyvernoPolicy, rule: KyvernoRule, *, subject: Subject, view: Subject,
                  name: str, prefix: str) -> tuple[str, str, list[Finding]]:
        if rule.broken:
            return name, "error", []
        requester = self._requester(policy, subject, rule)
        values = self.inputs.values.for_rule(policy.name, rule.name, subject.name)
        if self.inputs.exceptions and exempting(
                self.inputs.exceptions, policy=policy.qualified_name, rule=name, subject=subject,
                data=self._data(subject, subject, requester=requester, values=values)):
            return name, "skip", []
        if rule.cel is not None:
            return self._cel(rule, subject=subject, view=view, name=name, prefix=prefix,
                             action=self._severity(rule, subject)[1])
        assert rule.block is not None
        data = self._data(subject, view, requester=requester, values=values) if rule.uses_data else {}
        sources = dataclasses.replace(self.inputs.context, values={**self.inputs.context.values, **values})
        try:
            if rule.context:
                load_entries(rule.context, data, sources)
            if rule.preconditions is not None and not conditions_hold(rule.preconditions, data):
                return name, "skip", []
            if requester.operation == "DELETE" and rule.block.patterns:
                return name, "skip", []
            result = run_block(rule.block, view.obj, data, sources=sources)
        except (PatternUnsupported, ConditionUnsupported) as exc:
            return name, "error", [unevaluable(str(exc), policy=policy.name, where=f"{rule.where}.validate",
                                               subject=subject)]
        except ConditionError as exc:
            result = Result("error", message=str(exc))
        return name, result.status, self._findings(policy.name, rule, result, subject=subject, name=name,
                                                   prefix=prefix, data=data)

    def _findings(self, policy: str, rule: KyvernoRule, result: Result, *, subject: Subject, name: str,
                  prefix: str, data: Mapping[str, Any]) -> list[Finding]:
        """The finding a `fail` or `error` result reports (with the message's variables substituted)."""
        severity, action = self._severity(rule, subject)
        if result.status in ("pass", "skip"):
            return []
        if result.status == "error":
            return [violation(
                subject, policy=policy, rule=name, severity=severity, action=action, result="error",
                message=f"rule {name} could not be evaluated: {result.message}",
                fix="give variables a default (`|| ''`) or fix the expression")]
        message = f"validation error: {_message(rule.message, data)}".rstrip(": ")
        message += f". rule {name} failed at path {result.path}"
        return [violation(
            subject, policy=policy, rule=name, severity=severity, action=action, message=message,
            field_path=prefix + result.path.strip("/").replace("/", "."), fix=result.message,
        )]
