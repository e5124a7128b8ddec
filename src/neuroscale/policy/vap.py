"""Evaluate ValidatingAdmissionPolicy (+ bindings) and Kyverno ValidatingPolicy offline.

Both kinds share one shape - matchConstraints, matchConditions, variables,
validations with message/messageExpression/reason, failurePolicy -
so one compiled form serves both; a Kyverno (Namespaced)ValidatingPolicy is treated as a
VAP with one implicit binding carrying its `spec.validationActions`.

Semantics follow the API server: a policy without a binding enforces nothing
(reported as a warning, since that is almost always a mistake); a
matchCondition that is false skips the object; an expression that fails at
runtime denies under `failurePolicy: Fail` (the default) and is reported as a
warning under `Ignore`. Compilation happens once per policy, not per object, and
not at all for a policy whose `matchConstraints` select no object of the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.findings import Finding, ObjectRef, Severity
from neuroscale.policy.celbinding import binding as cel
from neuroscale.policy.celenv import CelEnvironment, EvaluationError, Unevaluable
from neuroscale.policy.report import MALFORMED, RULES_ANNOTATION, UNEVALUABLE, policy_ref, unevaluable, violation
from neuroscale.policy.selectors import RulesMemo, UnsupportedConstruct, match_resources, selector_matches
from neuroscale.policy.subject import Subject, as_mapping

VAP_KINDS = ("ValidatingAdmissionPolicy",)
BINDING_KIND = "ValidatingAdmissionPolicyBinding"
KYVERNO_VPOL_KIND = "ValidatingPolicy"
KYVERNO_NAMESPACED_VPOL_KIND = "NamespacedValidatingPolicy"

_ACTION_SEVERITY = {"Deny": Severity.ERROR, "Warn": Severity.WARNING, "Audit": Severity.WARNING}


@dataclass(frozen=True)
class Binding:
    name: str
    match: Mapping[str, Any] | None
    actions: tuple[str, ...]
    param_ref: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Validation:
    program: cel.Program
    where: str
    message: str
    message_program: cel.Program | None
    reason: str
    field_path: str
    rule: str
    fix: str
    #: NeuroScale's own annotation may compute the failing field (e.g. which container); None: `field_path`.
    field_path_program: cel.Program | None = None


@dataclass
class CompiledCelPolicy:
    """One policy, compiled; `problems` holds what could not be compiled (then nothing else runs)."""

    name: str
    ref: ObjectRef
    match: Mapping[str, Any] | None
    failure_policy: str
    param_kind: Mapping[str, Any] | None
    namespace: str = ""
    bindings: list[Binding] = field(default_factory=list)
    conditions: list[tuple[str, cel.Program]] = field(default_factory=list)
    variables: list[tuple[str, cel.Program]] = field(default_factory=list)
    validations: list[Validation] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)


def _rule_names(metadata: Mapping[str, Any]) -> list[dict[str, str]]:
    raw = as_mapping(metadata.get("annotations")).get(RULES_ANNOTATION)
    try:
        names = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return []
    return names if isinstance(names, list) else []


def _compile(env: CelEnvironment, policy: CompiledCelPolicy, *, source: Any, where: str) -> cel.Program | None:
    try:
        return env.compile(source)
    except Unevaluable as exc:
        policy.problems.append(unevaluable(str(exc), policy=policy.name, where=where, policy_object=policy.ref))
        return None


def compile_cel_policy(document: Mapping[str, Any], env: CelEnvironment, *,
                       programs: bool = True) -> CompiledCelPolicy:
    """Compile a VAP or Kyverno ValidatingPolicy; bindings are attached afterwards (`attach_bindings`).

    `programs=False` is for a policy that selects no object of the run (`selectors.may_select`): its CEL is
    not compiled (a cost on every cold check), so it never evaluates and its expressions' errors are not
    reported; what its spec lacks still is."""
    metadata = as_mapping(document.get("metadata"))
    spec = as_mapping(document.get("spec"))
    policy = CompiledCelPolicy(
        name=str(metadata.get("name", "")), ref=policy_ref(document), match=spec.get("matchConstraints"),
        failure_policy=str(spec.get("failurePolicy") or "Fail"), param_kind=spec.get("paramKind"),
    )
    if document.get("kind") == KYVERNO_NAMESPACED_VPOL_KIND:
        policy.namespace = str(metadata.get("namespace") or "default")
    if document.get("kind") in (KYVERNO_VPOL_KIND, KYVERNO_NAMESPACED_VPOL_KIND):
        admission = as_mapping(as_mapping(spec.get("evaluation")).get("admission")).get("enabled", True)
        if admission is not False:
            actions = tuple(spec.get("validationActions") or ["Deny"])
            policy.bindings.append(Binding(name=policy.name, match=None, actions=actions))
    if programs:
        _compile_programs(policy, spec, names=_rule_names(metadata), env=env)
    if not spec.get("validations"):
        policy.problems.append(unevaluable("no spec.validations (audit annotations alone are not supported)",
                                           policy=policy.name, where="spec.validations", policy_object=policy.ref))
    return policy


def _compile_programs(policy: CompiledCelPolicy, spec: Mapping[str, Any], *, names: list[dict[str, str]],
                      env: CelEnvironment) -> None:
    for index, condition in enumerate(spec.get("matchConditions") or []):
        program = _compile(env, policy, source=condition.get("expression"),
                           where=f"spec.matchConditions[{index}].expression")
        if program is not None:
            policy.conditions.append((str(condition.get("name", index)), program))
    for index, variable in enumerate(spec.get("variables") or []):
        program = _compile(env, policy, source=variable.get("expression"), where=f"spec.variables[{index}].expression")
        if program is not None:
            policy.variables.append((str(variable.get("name", "")), program))
    for index, item in enumerate(spec.get("validations") or []):
        where = f"spec.validations[{index}]"
        program = _compile(env, policy, source=item.get("expression"), where=f"{where}.expression")
        message_program = None
        if item.get("messageExpression"):
            message_program = _compile(env, policy, source=item["messageExpression"],
                                       where=f"{where}.messageExpression")
        named = names[index] if index < len(names) and isinstance(names[index], dict) else {}
        field_path_program = None
        if named.get("fieldPathExpression"):
            field_path_program = _compile(env, policy, source=named["fieldPathExpression"],
                                          where=f"metadata.annotations[{RULES_ANNOTATION}][{index}]")
        if program is not None:
            policy.validations.append(Validation(
                program=program, where=where, message=str(item.get("message") or ""),
                message_program=message_program, reason=str(item.get("reason") or "Invalid"),
                field_path=str(named.get("fieldPath") or ""),
                rule=str(named.get("name", "")), fix=str(named.get("fix", "")),
                field_path_program=field_path_program,
            ))


def attach_bindings(policies: Mapping[str, CompiledCelPolicy], documents: Sequence[Mapping[str, Any]]) -> None:
    """Attach each ValidatingAdmissionPolicyBinding to the policy it names."""
    for document in documents:
        spec = as_mapping(document.get("spec"))
        target = policies.get(str(spec.get("policyName", "")))
        if target is None:
            continue
        target.bindings.append(Binding(
            name=str(as_mapping(document.get("metadata")).get("name", "")), match=spec.get("matchResources"),
            actions=tuple(spec.get("validationActions") or []), param_ref=spec.get("paramRef"),
        ))


def status_of(findings: Sequence[Finding]) -> str:
    """Kyverno-style result of one rule from its findings."""
    if any(f.rule == UNEVALUABLE or f.extra.get("result") == "error" for f in findings):
        return "error"
    return "fail" if findings else "pass"


def unbound_warning(policy: CompiledCelPolicy) -> Finding:
    return Finding(
        rule="policy/unbound", severity=Severity.WARNING, obj=policy.ref,
        message=f"ValidatingAdmissionPolicy {policy.name!r} has no ValidatingAdmissionPolicyBinding: "
                "it enforces nothing",
        fix=f"add a ValidatingAdmissionPolicyBinding with spec.policyName: {policy.name} and validationActions",
        extra={"policy": policy.name},
    )


def _params(policy: CompiledCelPolicy, binding: Binding, *, subject: Subject,
            everything: Sequence[Subject]) -> list[Any] | None:
    """Param objects for this binding; `None` means 'not found' (deny unless the binding allows)."""
    if not policy.param_kind:
        return [None]
    ref = binding.param_ref or {}
    kind = policy.param_kind.get("kind")
    api_version = policy.param_kind.get("apiVersion")
    namespace = ref.get("namespace") or subject.namespace
    found = [
        s.obj for s in everything
        if s.kind == kind and s.ref.api_version == api_version and (not s.namespace or s.namespace == namespace)
        and (s.name == ref["name"] if ref.get("name") else
             selector_matches(ref.get("selector"), s.labels, where="paramRef.selector"))
    ]
    return found or None


@dataclass(frozen=True)
class _Facts:
    """What evaluation asks of a program again and again (the binding copies its source on every read)."""

    program: cel.Program
    source: str
    reads_variables: bool


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """The same names bound to the very same values (identity: comparing CEL results deeply costs as much as
    converting them)."""
    return a.keys() == b.keys() and all(a[name] is b[name] for name in a)


_OPTIONAL_INPUTS = ("oldObject", "request", "namespaceObject")


def referenced_inputs(policies: Sequence[CompiledCelPolicy]) -> frozenset[str]:
    """Which of `request`, `namespaceObject`, `oldObject` any program reads (each costs a conversion)."""
    used: set[str] = set()
    for policy in policies:
        programs = [p for _, p in policy.conditions] + [p for _, p in policy.variables] + [
            p for v in policy.validations for p in (v.program, v.message_program) if p is not None]
        for program in programs:
            used.update(name for name in program.variables() if name in _OPTIONAL_INPUTS)
    return frozenset(used)


class CelPolicyRun:
    """Evaluates compiled policies against subjects, sharing one CEL context per subject.

    Converting Python data into CEL values dominates evaluation time, so each
    subject is converted once, and only when a policy that matched it runs
    (`begin` names the subject; most subjects match no policy and are never
    converted), and only the inputs some program reads are provided (`inputs`;
    default: all of them). Likewise `variables`: each policy sets its own, but
    the context receives them only when a program that reads `variables` runs
    and they differ from what it holds, so policies sharing one reading (the
    bundled InferenceService ones) convert them once per subject, not once each.
    """

    def __init__(self, env: CelEnvironment, everything: Sequence[Subject], *,
                 inputs: frozenset[str] = frozenset(_OPTIONAL_INPUTS), operation: str = "CREATE") -> None:
        self.env = env
        #: The admission operation every request of this run is (a `kyverno test` result can name one): on
        #: DELETE `object` is null and `oldObject` the resource; on UPDATE both are the resource.
        self.operation = operation
        self.context = env.context()
        self.everything = everything
        self.inputs = inputs
        self._converted: Subject | None = None
        #: Values of variables that read only the object, per subject: policies generated from one
        #: reading (the bundled InferenceService ones) share them, so each is computed once per object.
        self._shared: dict[str, Any] = {}
        #: `variables` as the running policy defines them now, and as the context last received them.
        self._variables: dict[str, Any] = {}
        self._sent: dict[str, Any] = {}
        #: `params` as the context holds it: any update, even to the same value, makes the binding rebuild its
        #: environment (every function wrapped again, ~12 µs) on the next execute.
        self._params: Any = None
        self._programs: dict[int, _Facts] = {}
        self._rules = RulesMemo()

    def begin(self, subject: Subject) -> None:
        """The subject the next evaluations are about (converted lazily, see the class docstring)."""
        if self._converted is not subject:
            self._converted = None

    def _convert(self, subject: Subject) -> None:
        if self._converted is subject:
            return
        self._converted = subject
        self._shared = {}
        self._variables = self._sent = {}
        self._params = None
        values: dict[str, Any] = {"object": None if self.operation == "DELETE" else subject.obj, "params": None,
                                  "variables": {}}
        if "oldObject" in self.inputs:
            values["oldObject"] = subject.obj if self.operation in ("UPDATE", "DELETE") else None
        if "request" in self.inputs:
            request = subject.request()
            values["request"] = request if self.operation == "CREATE" else {**request, "operation": self.operation}
        if "namespaceObject" in self.inputs:
            values["namespaceObject"] = subject.namespace_object
        self.context.update(values)

    def evaluate(self, policy: CompiledCelPolicy, subject: Subject) -> list[Finding]:
        return [] if policy.problems else self.outcome(policy, subject)[1]

    def outcome(self, policy: CompiledCelPolicy, subject: Subject) -> tuple[str, list[Finding]]:
        """("skip"|"pass"|"fail"|"error", findings) for one policy and one subject (after `begin`)."""
        try:
            return self._outcome(policy, subject)
        except MALFORMED as exc:
            return "error", [unevaluable(f"malformed policy ({type(exc).__name__}: {exc})", policy=policy.name,
                                         where="spec", subject=subject)]

    def _outcome(self, policy: CompiledCelPolicy, subject: Subject) -> tuple[str, list[Finding]]:
        if policy.namespace and subject.namespace != policy.namespace:
            return "skip", []
        try:
            if not match_resources(policy.match, subject, where="spec.matchConstraints", memo=self._rules,
                                   operation=self.operation):
                return "skip", []
            if policy.problems:
                return "error", []
            bindings = [b for b in policy.bindings
                        if match_resources(b.match, subject, where=f"binding {b.name}.spec.matchResources",
                                           memo=self._rules, operation=self.operation)]
        except UnsupportedConstruct as exc:
            return "error", [unevaluable(str(exc), policy=policy.name, where="match", subject=subject)]
        findings: list[Finding] = []
        evaluated = False
        for binding in bindings:
            params = _params(policy, binding, subject=subject, everything=self.everything)
            if params is None:
                if (binding.param_ref or {}).get("parameterNotFoundAction", "Deny") == "Deny":
                    evaluated = True
                    findings.append(violation(
                        subject, policy=policy.name, rule="", severity=Severity.ERROR, action="Deny",
                        message=f"no {policy.param_kind} parameter found for binding {binding.name}",
                        fix="add the parameter object to the repository or set parameterNotFoundAction: Allow"))
                continue
            for param in params:
                found = self.validate(policy, subject, actions=binding.actions, param=param)
                if found is not None:
                    evaluated = True
                    findings.extend(found)
        return status_of(findings) if evaluated else "skip", findings

    def validate(self, policy: CompiledCelPolicy, subject: Subject, *, actions: Sequence[str],
                 param: Any = None) -> list[Finding] | None:
        """Conditions, variables, validations; None when a match condition is false (skip)."""
        actions = tuple(actions) or ("Deny",)
        severity = min((_ACTION_SEVERITY.get(a, Severity.ERROR) for a in actions), key=lambda s: s.rank)
        action = "Deny" if "Deny" in actions else actions[0]
        self._convert(subject)
        if param is not self._params:
            self.context.update({"params": param})
            self._params = param
        self._variables = {}
        try:
            for _name, program in policy.conditions:
                if self._run(program) is not True:
                    return None
            variables: dict[str, Any] = {}
            failed: dict[str, str] = {}
            stale = False  # the context lacks variables computed since its last update
            for name, program in policy.variables:
                if stale and "variables." in self._facts(program).source:
                    self._variables = dict(variables)
                    stale = False
                try:
                    variables[name] = self._variable(program)
                except EvaluationError as exc:
                    failed[name] = str(exc)
                stale = True
            if stale:
                self._variables = dict(variables)
        except Unevaluable as exc:
            return [unevaluable(str(exc), policy=policy.name, where="spec", subject=subject)]
        except EvaluationError as exc:
            return self._failure(policy, subject, error=str(exc), where="spec.matchConditions", severity=severity,
                                 action=action)
        findings = []
        for validation in policy.validations:
            try:
                result = self._run(validation.program)
            except Unevaluable as exc:
                findings.append(unevaluable(str(exc), policy=policy.name, where=validation.where, subject=subject))
                continue
            except EvaluationError as exc:
                culprit = next((f"variable {n!r}: {m}" for n, m in failed.items() if f"variables.{n}" in
                                self.env.source(validation.program)), str(exc))
                findings.extend(self._failure(policy, subject, error=culprit, where=validation.where, severity=severity,
                                              action=action))
                continue
            if result is True:
                continue
            if result is not False:
                findings.append(unevaluable(f"expression returned {type(result).__name__}, not bool",
                                            policy=policy.name, where=validation.where, subject=subject))
                continue
            findings.append(violation(
                subject, policy=policy.name, rule=validation.rule, severity=severity, action=action,
                message=self._message(validation), field_path=self._field_path(validation), fix=validation.fix,
                reason=validation.reason,
            ))
        return findings

    def _variable(self, program: cel.Program) -> Any:
        """A variable's value; one that reads only the object is computed once per subject."""
        source = self._facts(program).source
        if "variables." in source or "params" in source:
            return self._run(program)
        if source not in self._shared:
            self._shared[source] = self._run(program)
        return self._shared[source]

    def _run(self, program: cel.Program) -> Any:
        if not _same(self._variables, self._sent) and self._facts(program).reads_variables:
            self.context.update({"variables": self._variables})
            self._sent = self._variables
        return self.env.run(program, self.context)

    def _facts(self, program: cel.Program) -> _Facts:
        facts = self._programs.get(id(program))
        if facts is None or facts.program is not program:
            facts = self._programs[id(program)] = _Facts(program, self.env.source(program),
                                                         "variables" in program.variables())
        return facts

    def _message(self, validation: Validation) -> str:
        if validation.message_program is not None:
            try:
                text = self._run(validation.message_program)
            except (Unevaluable, EvaluationError):
                text = None
            if isinstance(text, str) and text.strip():
                return text
        return validation.message or f"failed expression: {self.env.source(validation.program)}"

    def _field_path(self, validation: Validation) -> str:
        if validation.field_path_program is not None:
            try:
                path = self._run(validation.field_path_program)
            except (Unevaluable, EvaluationError):
                path = None
            if isinstance(path, str) and path:
                return path
        return validation.field_path

    @staticmethod
    def _failure(policy: CompiledCelPolicy, subject: Subject, *, error: str, where: str,
                 severity: Severity, action: str) -> list[Finding]:
        ignored = policy.failure_policy == "Ignore"
        return [violation(
            subject, policy=policy.name, rule="", action="Ignore" if ignored else action,
            severity=Severity.WARNING if ignored else severity,
            message=f"expression at {where} could not be evaluated: {error}"
                    + (" (ignored: failurePolicy Ignore)" if ignored else ""),
            fix="guard optional fields with has() in the policy, or fix the object", result="error",
        )]
