"""Label selectors and resource rules: the matching vocabulary VAP and Kyverno share.

A selector the engine does not understand (unknown operator) raises
`UnsupportedConstruct` so the caller reports it instead of treating the
object as unmatched - a silently unmatched object is a silent pass.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from neuroscale.policy.subject import Subject


class UnsupportedConstruct(Exception):
    """A policy field this engine cannot evaluate; message names the construct."""


def selector_matches(selector: Any, labels: Mapping[str, str], *, where: str) -> bool:
    """Kubernetes LabelSelector semantics; an empty or absent selector matches everything."""
    if not selector:
        return True
    if not isinstance(selector, Mapping):
        raise UnsupportedConstruct(f"{where}: label selector must be a mapping")
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key", "")
        operator = expression.get("operator", "")
        values = [str(v) for v in expression.get("values") or []]
        present = key in labels
        if operator == "In":
            ok = present and labels[key] in values
        elif operator == "NotIn":
            ok = not present or labels[key] not in values
        elif operator == "Exists":
            ok = present
        elif operator == "DoesNotExist":
            ok = not present
        else:
            raise UnsupportedConstruct(f"{where}: label selector operator {operator!r}")
        if not ok:
            return False
    return True


def _listed(value: str, allowed: Sequence[Any] | None) -> bool:
    return bool(allowed) and ("*" in allowed or value in allowed)  # type: ignore[operator]


def _resource_listed(resource: str, allowed: Sequence[Any] | None) -> bool:
    """`resources` entries: `*`, `deployments`, `deployments/*` (no subresources offline)."""
    for entry in allowed or []:
        base, _, sub = str(entry).partition("/")
        if (base in ("*", resource)) and sub in ("", "*"):
            return True
    return False


def rule_matches(rule: Mapping[str, Any], subject: Subject, operation: str = "CREATE") -> bool:
    """A NamedRuleWithOperations against an `operation` (CREATE by default) of `subject`."""
    operations = rule.get("operations") or ["*"]
    if not _listed(operation, operations):
        return False
    if not _listed(subject.group, rule.get("apiGroups")):
        return False
    if not _listed(subject.version, rule.get("apiVersions")):
        return False
    if not _resource_listed(subject.resource, rule.get("resources")):
        return False
    names = rule.get("resourceNames")
    if names and subject.name not in names:
        return False
    scope = rule.get("scope", "*")
    if scope == "Cluster" and not subject.cluster_scoped:
        return False
    return not (scope == "Namespaced" and subject.cluster_scoped)


@dataclass
class RulesMemo:
    """`resourceRules` verdicts of one run, by the rules' id (they live as long as their policy, the run)."""

    #: Do the rules name resources (then the subject's name is part of the verdict's key)?
    named: dict[int, bool] = field(default_factory=dict)
    verdicts: dict[tuple[int, str, str, str, bool, str, str], bool] = field(default_factory=dict)


def _rules_match(rules: Any, subject: Subject, memo: RulesMemo | None, operation: str) -> bool:
    if memo is None:
        return any(rule_matches(rule, subject, operation) for rule in rules)
    named = memo.named.get(id(rules))
    if named is None:
        named = memo.named[id(rules)] = any(
            isinstance(rule, Mapping) and bool(rule.get("resourceNames")) for rule in rules)
    key = (id(rules), subject.group, subject.version, subject.resource, subject.cluster_scoped,
           subject.name if named else "", operation)
    found = memo.verdicts.get(key)
    if found is None:
        found = memo.verdicts[key] = any(rule_matches(rule, subject, operation) for rule in rules)
    return found


def kinds_of(subjects: Sequence[Subject]) -> list[Subject]:
    """One subject per kind of request (group, version, resource, scope): all `resourceRules` can tell apart."""
    seen: dict[tuple[str, str, str, bool], Subject] = {}
    for subject in subjects:
        seen.setdefault((subject.group, subject.version, subject.resource, subject.cluster_scoped), subject)
    return list(seen.values())


def may_select(spec: Any, kinds: Sequence[Subject], *, operation: str = "CREATE") -> bool:
    """False only when `matchConstraints` selects none of `kinds` (see `kinds_of`) by its `resourceRules`: then
    it selects no object at all. Names, exclusions and label selectors only narrow a selection, so they are not
    read; a block this cannot read is taken as selecting (evaluation reports it)."""
    if not isinstance(spec, Mapping) and spec:
        return True
    rules = spec.get("resourceRules") if spec else None
    if rules is None:
        return bool(kinds)  # every kind
    if not isinstance(rules, list) or not all(isinstance(rule, Mapping) for rule in rules):
        return True
    unnamed = [{**rule, "resourceNames": None} for rule in rules]
    return any(rule_matches(rule, subject, operation) for rule in unnamed for subject in kinds)


def match_resources(spec: Any, subject: Subject, *, where: str, memo: RulesMemo | None = None,
                    operation: str = "CREATE") -> bool:
    """VAP `matchConstraints` / binding `matchResources` (an absent block matches everything) for a request
    that is `operation` of `subject`.

    `memo` (one per run, while `spec` lives) remembers the `resourceRules` verdict per kind of
    subject: it depends only on group, version, resource, scope and (with resourceNames) the name.
    """
    if not spec:
        return True
    rules = spec.get("resourceRules")
    if rules is not None and not _rules_match(rules, subject, memo, operation):
        return False  # checked first: most policies reject most objects by kind, cheaply
    if any(rule_matches(rule, subject, operation) for rule in spec.get("excludeResourceRules") or []):
        return False
    ns_labels = subject.labels if subject.kind == "Namespace" else subject.namespace_labels
    if (subject.namespace or subject.kind == "Namespace") and not selector_matches(
            spec.get("namespaceSelector"), ns_labels, where=f"{where}.namespaceSelector"):
        return False
    return selector_matches(spec.get("objectSelector"), subject.labels, where=f"{where}.objectSelector")


@lru_cache(maxsize=2048)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


def wildcard_match(pattern: str, value: str) -> bool:
    """Kyverno wildcards: `*` any run, `?` one character; everything else literal."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == value
    escaped = pattern.replace("[", "[[]")
    return bool(_glob(escaped).match(value))
