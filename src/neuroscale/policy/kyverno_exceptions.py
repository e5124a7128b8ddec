"""Kyverno `PolicyException` (kyverno.io/v2, v2beta1): rules a matching resource is exempt from.

An exception names policies (`<namespace>/<name>` for a namespaced Policy)
and rule names (wildcards allowed; autogen rules are named as Kyverno names
them, `autogen-<rule>`), a `match`/`exclude` block with the rule syntax and
optional `conditions`. When all of them hold for a resource, Kyverno reports
the rule as `skip` instead of evaluating it - so does this engine. An
exception with `podSecurity` controls (which only mean something to
`validate.podSecurity` rules, not evaluated here) is refused loudly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from neuroscale.findings import Finding
from neuroscale.policy.kyverno_conditions import conditions_hold
from neuroscale.policy.kyverno_match import rule_applies
from neuroscale.policy.kyverno_variables import ConditionError, ConditionUnsupported, check_syntax
from neuroscale.policy.report import policy_ref, unevaluable
from neuroscale.policy.selectors import UnsupportedConstruct, wildcard_match
from neuroscale.policy.subject import Subject, as_mapping

KIND = "PolicyException"
API_GROUP = "kyverno.io/"


@dataclass(frozen=True)
class CompiledException:
    name: str
    namespace: str
    targets: tuple[tuple[str, tuple[str, ...]], ...]
    block: Mapping[str, Any]
    conditions: Any


def is_exception(document: Any) -> bool:
    return isinstance(document, Mapping) and document.get("kind") == KIND and \
        str(document.get("apiVersion", "")).startswith(API_GROUP)


def compile_exception(document: Mapping[str, Any], problems: list[Finding]) -> CompiledException | None:
    """The exception, or None (with a finding in `problems`) when it cannot be honoured faithfully."""
    metadata = as_mapping(document.get("metadata"))
    spec = as_mapping(document.get("spec"))
    name = str(metadata.get("name", ""))
    problem = ""
    if spec.get("podSecurity"):
        problem = "podSecurity exceptions (validate.podSecurity rules are not evaluated offline)"
    targets = []
    for item in spec.get("exceptions") or []:
        item = as_mapping(item)
        targets.append((str(item.get("policyName", "")), tuple(str(r) for r in item.get("ruleNames") or [])))
    if not targets:
        problem = problem or "an exception without spec.exceptions"
    try:
        check_syntax(spec.get("conditions"))
    except ConditionUnsupported as exc:
        problem = problem or str(exc)
    if problem:
        problems.append(unevaluable(problem, policy=name, where="spec", policy_object=policy_ref(document)))
        return None
    return CompiledException(name=name, namespace=str(metadata.get("namespace") or "default"),
                             targets=tuple(targets), conditions=spec.get("conditions"),
                             block={"match": spec.get("match"), "exclude": spec.get("exclude")})


def _names(exception: CompiledException, policy: str, rule: str) -> bool:
    return any(wildcard_match(target, policy) and any(wildcard_match(r, rule) for r in rules)
               for target, rules in exception.targets)


def exempting(exceptions: Sequence[CompiledException], *, policy: str, rule: str, subject: Subject,
              data: Mapping[str, Any]) -> str:
    """The name of the first exception that exempts `subject` from `policy`/`rule`, or ""."""
    for exception in exceptions:
        if not _names(exception, policy, rule):
            continue
        try:
            if not rule_applies(exception.block, subject, where=f"PolicyException {exception.name}"):
                continue
            if exception.conditions is not None and not conditions_hold(exception.conditions, dict(data)):
                continue
        except (UnsupportedConstruct, ConditionError):
            continue
        return exception.name
    return ""
