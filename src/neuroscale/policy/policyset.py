"""Turn policy documents into one compiled, evaluable set, with override by name.

Documents are layered: later documents replace earlier ones of the same
policy name (bundled first, then a repository's own `policies/`), so a team
can tighten or relax a bundled policy by shipping one with the same
`metadata.name`. Bindings are keyed by their own name, so overriding a
bundled VAP keeps the bundled binding unless the override ships one too.

Kyverno `PolicyException`s (kyverno.io) are compiled alongside and exempt
matching resources from the rules they name; the CEL ones (policies.kyverno.io)
exempt objects from the ValidatingPolicies they name. A ValidatingPolicy with
autogen also yields its pod-controller variants (`vpol_autogen`). Given the
kinds of the objects under admission, the CEL of a ValidatingAdmissionPolicy or
ValidatingPolicy (or variant) whose `matchConstraints` select none of them is
not compiled, nor the `validate.cel` of a Kyverno ClusterPolicy or Policy rule
whose `match` none of them (or, through autogen, none of their pod templates)
can reach: the bundled set's expressions, or their Kyverno export committed to
a repository, cost every cold check otherwise. Every
document kind the engine does not evaluate (MutatingAdmissionPolicy, Kyverno
ImageValidatingPolicy, ...) becomes an unevaluable finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.findings import Finding, Severity
from neuroscale.policy import kyverno
from neuroscale.policy.kyverno_exceptions import CompiledException, compile_exception, is_exception
from neuroscale.policy.cel_exceptions import CelException, compile_cel_exception, is_cel_exception
from neuroscale.policy.celenv import CelEnvironment, Unevaluable
from neuroscale.policy.report import MALFORMED, UNEVALUABLE, policy_ref, unevaluable
from neuroscale.policy.selectors import may_select
from neuroscale.policy.subject import Subject, as_mapping
from neuroscale.policy.vpol_autogen import autogen_documents
from neuroscale.policy.vap import (
    BINDING_KIND, KYVERNO_NAMESPACED_VPOL_KIND, KYVERNO_VPOL_KIND, VAP_KINDS, Binding, CompiledCelPolicy, attach_bindings, compile_cel_policy,
    unbound_warning,
)

_KYVERNO_GROUPS = ("kyverno.io/", "policies.kyverno.io/")
#: Kyverno kinds that can deny admission; those we cannot evaluate are reported, never skipped.
#: (Mutating, generating and cleanup kinds never deny, so they are not policy documents here.)
_KYVERNO_VALIDATING = (*kyverno.KINDS, KYVERNO_VPOL_KIND, KYVERNO_NAMESPACED_VPOL_KIND, "ImageValidatingPolicy",
                       "NamespacedImageValidatingPolicy", "PolicyException")


def is_policy_document(document: Any) -> bool:
    """True for the kinds that validate admission: VAP and bindings, Kyverno validating kinds."""
    if not isinstance(document, Mapping):
        return False
    kind = document.get("kind")
    api_version = str(document.get("apiVersion", ""))
    if kind in (*VAP_KINDS, BINDING_KIND) and api_version.startswith("admissionregistration.k8s.io/"):
        return True
    return api_version.startswith(_KYVERNO_GROUPS) and kind in _KYVERNO_VALIDATING


def _key(document: Mapping[str, Any]) -> tuple[str, str]:
    metadata = as_mapping(document.get("metadata"))
    family = {BINDING_KIND: "binding", "PolicyException": "exception"}.get(str(document.get("kind")), "policy")
    scope = str(metadata.get("namespace") or "") if document.get("kind") in ("Policy", "PolicyException") else ""
    return family, f"{scope}/{metadata.get('name', '')}"


def layer(*layers: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Merge document layers; a later policy (or binding) with the same name replaces the earlier one."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for documents in layers:
        for document in documents:
            if isinstance(document, Mapping):
                merged[_key(document)] = document
    return list(merged.values())


@dataclass
class PolicySet:
    cel_policies: list[CompiledCelPolicy] = field(default_factory=list)
    kyverno_policies: list[kyverno.CompiledKyvernoPolicy] = field(default_factory=list)
    exceptions: list[CompiledException] = field(default_factory=list)
    cel_exceptions: list[CelException] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class _Compiling:
    """What compiling one document needs besides it and the environment."""

    result: PolicySet
    vaps: dict[str, CompiledCelPolicy]
    bindings: list[Mapping[str, Any]]
    given: kyverno.GivenNames | None
    kinds: Sequence[Subject] | None  # None: compile every policy's CEL

    def cel(self, document: Mapping[str, Any], env: CelEnvironment) -> CompiledCelPolicy:
        match = as_mapping(document.get("spec")).get("matchConstraints")
        try:
            selects = self.kinds is None or may_select(match, self.kinds)
        except MALFORMED:  # evaluation reports it, per object, as it always has
            selects = True
        return compile_cel_policy(document, env, programs=selects)


def _compile_one(document: Mapping[str, Any], env: CelEnvironment, *, run: _Compiling) -> None:
    result, vaps, bindings, given = run.result, run.vaps, run.bindings, run.given
    kind = document.get("kind")
    name = str(as_mapping(document.get("metadata")).get("name", ""))
    if not isinstance(document.get("spec"), Mapping):
        result.problems.append(unevaluable("document has no spec mapping", policy=name, where="spec",
                                           policy_object=policy_ref(document)))
    elif kind in VAP_KINDS:
        vaps[name] = run.cel(document, env)
    elif kind == BINDING_KIND:
        bindings.append(document)
    elif kind in (KYVERNO_VPOL_KIND, KYVERNO_NAMESPACED_VPOL_KIND):
        result.cel_policies.append(run.cel(document, env))
        result.cel_policies.extend(run.cel(variant, env) for variant in autogen_documents(document))
    elif kind in kyverno.KINDS and str(document.get("apiVersion", "")).startswith("kyverno.io/"):
        result.kyverno_policies.append(kyverno.compile_policy(document, env, given=given, kinds=run.kinds))
    elif is_cel_exception(document):
        try:
            result.cel_exceptions.append(compile_cel_exception(document, env))
        except Unevaluable as exc:
            result.problems.append(unevaluable(str(exc), policy=name, where="spec",
                                               policy_object=policy_ref(document)))
    elif is_exception(document):
        exception = compile_exception(document, result.problems)
        if exception is not None:
            result.exceptions.append(exception)
    else:
        result.problems.append(unevaluable(f"policy kind {document.get('apiVersion')}/{kind} is not supported",
                                           policy=name, where="kind", policy_object=policy_ref(document)))


def compile_policy_set(documents: Sequence[Mapping[str, Any]], env: CelEnvironment, *,
                       implicit_bindings: bool = False, given: kyverno.GivenNames | None = None,
                       kinds: Sequence[Subject] | None = None) -> PolicySet:
    """Compile every document; an unbound VAP is a warning (or, for test suites as in the
    Kyverno CLI, gets an implicit Deny binding). `given` names context variables a test provides;
    `kinds` (`selectors.kinds_of` the subjects) leaves the CEL of policies and Kyverno rules that select none
    of them uncompiled."""
    result = PolicySet()
    vaps: dict[str, CompiledCelPolicy] = {}
    bindings: list[Mapping[str, Any]] = []
    run = _Compiling(result=result, vaps=vaps, bindings=bindings, given=given, kinds=kinds)
    for document in documents:
        try:
            _compile_one(document, env, run=run)
        except MALFORMED as exc:
            name = str(as_mapping(document.get("metadata")).get("name", ""))
            result.problems.append(unevaluable(f"malformed policy document ({type(exc).__name__}: {exc})",
                                               policy=name, where="spec", policy_object=policy_ref(document)))
    attach_bindings(vaps, bindings)
    for policy in vaps.values():
        if not policy.bindings and implicit_bindings:
            policy.bindings.append(Binding(name=f"{policy.name}-implicit", match=None, actions=("Deny",)))
        elif not policy.bindings:
            result.problems.append(unbound_warning(policy))
    result.cel_policies[:0] = vaps.values()
    for cel_policy in result.cel_policies:
        result.problems.extend(cel_policy.problems)
    for kyverno_policy in result.kyverno_policies:
        result.problems.extend(kyverno_policy.problems)
    return result


def invalid_object(index: int) -> Finding:
    return Finding(rule=UNEVALUABLE, severity=Severity.ERROR, message=f"object #{index} is not a mapping",
                   fix="each YAML document must be a Kubernetes object (a mapping with apiVersion and kind)",
                   extra={"index": index})
