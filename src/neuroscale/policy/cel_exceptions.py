"""Kyverno's CEL PolicyExceptions (`policies.kyverno.io`): exempt objects from ValidatingPolicies.

An exception names the policies it applies to (`spec.policyRefs`, by name and
kind) and the objects it exempts with CEL `matchConditions`, all of which must
hold - evaluated with `object`, `oldObject`, `request` and `namespaceObject`
as the policy's own expressions see them. An exempt object is skipped by
those policies. An exception without conditions exempts every object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.policy.celbinding import binding as cel
from neuroscale.policy.celenv import CelEnvironment, EvaluationError, Unevaluable
from neuroscale.policy.subject import Subject, as_mapping

API_GROUP = "policies.kyverno.io/"
KIND = "PolicyException"


@dataclass(frozen=True)
class CelException:
    name: str
    policies: frozenset[str]
    conditions: tuple[cel.Program, ...] = field(default=())


def is_cel_exception(document: Any) -> bool:
    return isinstance(document, Mapping) and document.get("kind") == KIND and \
        str(document.get("apiVersion", "")).startswith(API_GROUP)


def compile_cel_exception(document: Mapping[str, Any], env: CelEnvironment) -> CelException:
    """The exception; raises Unevaluable when a condition does not compile."""
    spec = as_mapping(document.get("spec"))
    refs = [as_mapping(ref) for ref in spec.get("policyRefs") or []]
    return CelException(
        name=str(as_mapping(document.get("metadata")).get("name", "")),
        policies=frozenset(str(ref.get("name", "")) for ref in refs),
        conditions=tuple(env.compile(str(as_mapping(c).get("expression", "")))
                         for c in spec.get("matchConditions") or []))


def exempted(exceptions: Sequence[CelException], policy: str, subject: Subject, env: CelEnvironment) -> bool:
    """Does an exception exempt `subject` from `policy`? A condition that fails to evaluate exempts nothing."""
    relevant = [e for e in exceptions if policy in e.policies]
    if not relevant:
        return False
    context = env.context()
    context.update({"object": subject.obj, "oldObject": None, "request": subject.request(),
                    "namespaceObject": subject.namespace_object})
    for exception in relevant:
        try:
            if all(env.run(program, context) is True for program in exception.conditions):
                return True
        except (EvaluationError, Unevaluable):
            continue
    return False
