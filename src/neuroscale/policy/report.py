"""Finding builders shared by every policy evaluator, so all of them speak the same shape.

`extra` always carries `policy` and `rule` (what Kyverno test results name),
`action` (Deny/Warn/Audit or Enforce/Audit) and, for per-object results, the
object's `index` in the admitted sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroscale.findings import Finding, ObjectRef, Severity
from neuroscale.policy.subject import Subject, as_mapping

UNEVALUABLE = "policy/unevaluable"

#: What walking a malformed policy document (a list where a map belongs, ...) raises; evaluators turn
#: these into unevaluable findings at the policy boundary instead of a traceback.
MALFORMED = (AttributeError, TypeError, ValueError, KeyError, IndexError)

#: Annotation on bundled policies: JSON list of {"name", "fix"} aligned with spec.validations.
RULES_ANNOTATION = "policy.neuroscale.io/rules"


def policy_ref(document: Mapping[str, Any]) -> ObjectRef:
    metadata = as_mapping(document.get("metadata"))
    return ObjectRef(
        kind=str(document.get("kind", "")), name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace", "") or ""), api_version=str(document.get("apiVersion", "")),
    )


def rule_id(policy: str, rule: str) -> str:
    return f"{policy}/{rule}" if rule else policy


def violation(
    subject: Subject, *, policy: str, rule: str, message: str, severity: Severity, action: str,
    field_path: str = "", fix: str = "", **extra: Any,
) -> Finding:
    """One object failing one rule."""
    return Finding(
        rule=rule_id(policy, rule), severity=severity, message=message, fix=fix, obj=subject.ref,
        field_path=field_path.lstrip("."),
        extra={"index": subject.index, "policy": policy, "rule": rule, "action": action, **extra},
    )


def unevaluable(
    construct: str, *, policy: str, where: str, subject: Subject | None = None,
    policy_object: ObjectRef | None = None,
) -> Finding:
    """Something the engine cannot evaluate: an error, never a pass."""
    extra: dict[str, Any] = {"policy": policy, "where": where, "construct": construct, "result": "error"}
    if subject is not None:
        extra["index"] = subject.index
    return Finding(
        rule=UNEVALUABLE, severity=Severity.ERROR,
        message=f"policy {policy!r} cannot be evaluated at {where}: {construct}",
        fix="rewrite the construct with supported features, or remove the policy from the set",
        obj=subject.ref if subject is not None else policy_object, field_path=where, extra=extra,
    )
