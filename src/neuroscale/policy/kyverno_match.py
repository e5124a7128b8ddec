"""Kyverno `match` / `exclude` blocks: which resources a ClusterPolicy rule applies to.

Supports `any` / `all` lists of resource filters and the legacy single
`resources` form; kinds as `Kind`, `version/Kind` or `group/version/Kind`
with wildcards; names, namespaces, annotations, label selector and namespace
selector (wildcards allowed in values, as Kyverno does) and operations.
Offline there is no requesting user: filters on `subjects`, `roles` or
`clusterRoles` never match (the same as `kyverno test` without a userinfo
file), so an exclude on a service account does not exclude anything here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroscale.policy.selectors import UnsupportedConstruct, selector_matches, wildcard_match
from neuroscale.policy.subject import Subject

_USER_FILTERS = ("subjects", "roles", "clusterRoles")
_KNOWN_FIELDS = {"kinds", "names", "name", "namespaces", "annotations", "selector", "namespaceSelector",
                 "operations"}


def kind_matches(entry: str, subject: Subject, *, kind: str | None = None) -> bool:
    """`Pod`, `v1/Pod`, `apps/v1/Deployment`, `apps/*/Deployment`, `*` (no subresources offline)."""
    actual_kind = kind or subject.kind
    parts = entry.split("/")
    if len(parts) == 1:
        return wildcard_match(parts[0], actual_kind)
    if len(parts) == 2:
        if wildcard_match(parts[1], actual_kind) and wildcard_match(parts[0], subject.version):
            return True
        return wildcard_match(parts[0], actual_kind) and parts[1] in ("*", "")
    group, version, kind_part = parts[0], parts[1], "/".join(parts[2:])
    kind_part = kind_part.split("/")[0]
    return (wildcard_match(group, subject.group) and wildcard_match(version, subject.version)
            and wildcard_match(kind_part, actual_kind))


def _wild_selector(selector: Any, labels: Mapping[str, str], where: str) -> bool:
    if isinstance(selector, Mapping) and any("*" in str(v) or "?" in str(v)
                                             for v in (selector.get("matchLabels") or {}).values()):
        for key, value in (selector.get("matchLabels") or {}).items():
            if key not in labels or not wildcard_match(str(value), labels[key]):
                return False
        selector = {**selector, "matchLabels": {}}
    return selector_matches(selector, labels, where=where)


def _resources_match(resources: Mapping[str, Any], subject: Subject, *, kind: str | None, where: str) -> bool:
    unknown = set(resources) - _KNOWN_FIELDS
    if unknown:
        raise UnsupportedConstruct(f"{where}: unknown resource filter field(s) {sorted(unknown)}")
    kinds = resources.get("kinds")
    if kinds and not any(kind_matches(str(entry), subject, kind=kind) for entry in kinds):
        return False
    names = list(resources.get("names") or []) + ([resources["name"]] if resources.get("name") else [])
    if names and not any(wildcard_match(str(n), subject.name) for n in names):
        return False
    namespaces = resources.get("namespaces")
    if namespaces and not any(wildcard_match(str(n), subject.namespace) for n in namespaces):
        return False
    operations = resources.get("operations")
    if operations and "CREATE" not in operations:
        return False
    annotations = ((subject.obj.get("metadata") or {}).get("annotations") or {})
    for key, value in (resources.get("annotations") or {}).items():
        if key not in annotations or not wildcard_match(str(value), str(annotations[key])):
            return False
    if not _wild_selector(resources.get("selector"), subject.labels, f"{where}.selector"):
        return False
    if subject.namespace and resources.get("namespaceSelector"):
        return _wild_selector(resources["namespaceSelector"], subject.namespace_labels, f"{where}.namespaceSelector")
    return True


def _filter_matches(item: Mapping[str, Any], subject: Subject, *, kind: str | None, where: str) -> bool:
    if any(item.get(key) for key in _USER_FILTERS):
        return False
    resources = item.get("resources")
    if not isinstance(resources, Mapping):
        return False
    return _resources_match(resources, subject, kind=kind, where=f"{where}.resources")


def block_matches(block: Any, subject: Subject, *, where: str, kind: str | None = None) -> bool | None:
    """True/False for a match or exclude block; None when the block is absent or empty."""
    if not isinstance(block, Mapping) or not block:
        return None
    if block.get("any"):
        return any(_filter_matches(item, subject, kind=kind, where=f"{where}.any[{i}]")
                   for i, item in enumerate(block["any"]))
    if block.get("all"):
        return all(_filter_matches(item, subject, kind=kind, where=f"{where}.all[{i}]")
                   for i, item in enumerate(block["all"]))
    if any(block.get(key) for key in ("resources", *_USER_FILTERS)):
        return _filter_matches(block, subject, kind=kind, where=where)
    return None


def rule_applies(rule: Mapping[str, Any], subject: Subject, *, where: str, kind: str | None = None) -> bool:
    """Matched by `match` and not by `exclude` (raises `UnsupportedConstruct` for unknown fields)."""
    if block_matches(rule.get("match"), subject, where=f"{where}.match", kind=kind) is not True:
        return False
    return block_matches(rule.get("exclude"), subject, where=f"{where}.exclude", kind=kind) is not True
