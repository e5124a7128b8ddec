"""Kyverno `match` / `exclude` blocks: which resources a ClusterPolicy rule applies to.

Supports `any` / `all` lists of resource filters and the legacy single
`resources` form; kinds as `Kind`, `version/Kind` or `group/version/Kind`
with wildcards; names, namespaces, annotations, label selector and namespace
selector (wildcards allowed in values, as Kyverno does) and operations.
Filters on `subjects`, `roles` and `clusterRoles` compare with the requester
(`Requester`): by default nobody - no name, groups or roles, the same as
`kyverno test` without a userinfo file - so an exclude on a service account
excludes nothing; a test suite's `UserInfo` file supplies a real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from neuroscale.policy.selectors import UnsupportedConstruct, selector_matches, wildcard_match
from neuroscale.policy.subject import Subject

_USER_FILTERS = ("subjects", "roles", "clusterRoles")
_SERVICE_ACCOUNT = "system:serviceaccount:"


@dataclass(frozen=True)
class Requester:
    """Who sends the admission request, and which operation."""

    operation: str = "CREATE"
    username: str = ""
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def user_info(self) -> dict[str, Any]:
        """`request.userInfo` as the API server sends it."""
        info: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        info.update(self.extra)
        return info

    def service_account(self) -> tuple[str, str]:
        """(`serviceAccountNamespace`, `serviceAccountName`) when the requester is a service account."""
        if not self.username.startswith(_SERVICE_ACCOUNT):
            return "", ""
        namespace, _, name = self.username[len(_SERVICE_ACCOUNT):].partition(":")
        return namespace, name


NOBODY = Requester()


def _subject_matches(entry: Any, requester: Requester) -> bool:
    entry = entry if isinstance(entry, Mapping) else {}
    kind, name = str(entry.get("kind", "")), str(entry.get("name", ""))
    if kind == "ServiceAccount":
        namespace, account = requester.service_account()
        return bool(account) and wildcard_match(name, account) and \
            wildcard_match(str(entry.get("namespace", "")), namespace)
    if kind == "Group":
        return any(wildcard_match(name, group) for group in requester.groups)
    if kind == "User":
        return bool(requester.username) and wildcard_match(name, requester.username)
    raise UnsupportedConstruct(f"subject kind {kind!r} (User, Group or ServiceAccount)")


def _user_matches(item: Mapping[str, Any], requester: Requester) -> bool:
    if item.get("roles") and not any(str(r) in requester.roles for r in item["roles"]):
        return False
    if item.get("clusterRoles") and not any(str(r) in requester.cluster_roles for r in item["clusterRoles"]):
        return False
    return not item.get("subjects") or any(_subject_matches(s, requester) for s in item["subjects"])
_KNOWN_FIELDS = {"kinds", "names", "name", "namespaces", "annotations", "selector", "namespaceSelector",
                 "operations"}


def _parent_matches(entry: str, parent: tuple[str, str]) -> bool:
    """`Deployment/scale` or `apps/v1/Deployment/scale` for a subresource object (its own kind, `Scale`, is
    matched as any kind is)."""
    parts = entry.split("/")
    if len(parts) in (2, 4):
        return wildcard_match(parts[-2], parent[0]) and wildcard_match(parts[-1], parent[1])
    return False


def kind_matches(entry: str, subject: Subject, *, kind: str | None = None) -> bool:
    """`Pod`, `v1/Pod`, `apps/v1/Deployment`, `apps/*/Deployment`, `*`; `Kind/subresource` for the
    subresource objects a test's values declare."""
    if kind is None and subject.parent is not None and _parent_matches(entry, subject.parent):
        return True
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


def _resources_match(resources: Mapping[str, Any], subject: Subject, *, kind: str | None, where: str,
                     requester: Requester) -> bool:
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
    if operations and requester.operation not in operations:
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


def _filter_matches(item: Mapping[str, Any], subject: Subject, *, kind: str | None, where: str,
                    requester: Requester) -> bool:
    if not isinstance(item, Mapping):
        raise UnsupportedConstruct(f"{where}: a resource filter must be a mapping")
    if any(item.get(key) for key in _USER_FILTERS) and not _user_matches(item, requester):
        return False
    resources = item.get("resources")
    if not isinstance(resources, Mapping):
        return any(item.get(key) for key in _USER_FILTERS)
    return _resources_match(resources, subject, kind=kind, where=f"{where}.resources", requester=requester)


def block_matches(block: Any, subject: Subject, *, where: str, kind: str | None = None,
                  requester: Requester = NOBODY) -> bool | None:
    """True/False for a match or exclude block; None when the block is absent or empty."""
    if not isinstance(block, Mapping) or not block:
        return None
    if block.get("any"):
        return any(_filter_matches(item, subject, kind=kind, where=f"{where}.any[{i}]", requester=requester)
                   for i, item in enumerate(block["any"]))
    if block.get("all"):
        return all(_filter_matches(item, subject, kind=kind, where=f"{where}.all[{i}]", requester=requester)
                   for i, item in enumerate(block["all"]))
    if any(block.get(key) for key in ("resources", *_USER_FILTERS)):
        return _filter_matches(block, subject, kind=kind, where=where, requester=requester)
    return None


def _plain_kinds(item: Any) -> frozenset[str] | None:
    """The kinds a filter is limited to, if it is a plain `resources` filter that cannot raise; else None."""
    if not isinstance(item, Mapping) or any(item.get(key) for key in _USER_FILTERS):
        return None
    resources = item.get("resources")
    if not isinstance(resources, Mapping) or not set(resources) <= _KNOWN_FIELDS:
        return None
    kinds = resources.get("kinds")
    if not isinstance(kinds, list) or not kinds or not all(
            isinstance(kind, str) and not any(char in kind for char in "/*?") for kind in kinds):
        return None
    return frozenset(kinds)


def kinds_selected(block: Any) -> frozenset[str] | None:
    """Kinds outside this set make `block_matches` False (and raise nothing); None: any kind may match.

    Known only for blocks made of plain `resources` filters naming kinds without
    groups or wildcards; lets callers skip evaluating a rule for every other kind.
    """
    if not isinstance(block, Mapping) or not block:
        return None
    items = block.get("any") or block.get("all")
    if not items:
        return _plain_kinds(block) if block.get("resources") else None
    if not isinstance(items, list):
        return None
    if not block.get("any"):
        return _plain_kinds(items[0])  # `all` stops at its first filter that fails; later ones may raise
    found = [_plain_kinds(item) for item in items]
    kinds = [named for named in found if named is not None]
    return frozenset[str]().union(*kinds) if len(kinds) == len(found) else None


def may_match(block: Any, kinds: Sequence[Subject], *, kind: str | None = None) -> bool:
    """False only when `block` (a rule's `match`) selects none of `kinds` (`selectors.kinds_of` the subjects) by
    their kinds, read as `kind` when given (`Pod`, for a controller's pod template). Names, namespaces,
    selectors, operations and user filters only narrow a selection, so they are not read; a block this cannot
    read may match."""
    if not isinstance(block, Mapping) or not block:
        return True
    items = block.get("any") or block.get("all") or [block]
    if not isinstance(items, list):
        return True
    every = any if block.get("any") else all
    return any(every(_may_fit(item, subject, kind) for item in items) for subject in kinds)


def _may_fit(item: Any, subject: Subject, kind: str | None) -> bool:
    resources = item.get("resources") if isinstance(item, Mapping) else None
    entries = resources.get("kinds") if isinstance(resources, Mapping) else None
    if not isinstance(entries, list) or not entries:
        return True
    return any(kind_matches(str(entry), subject, kind=kind) for entry in entries)


def rule_applies(rule: Mapping[str, Any], subject: Subject, *, where: str, kind: str | None = None,
                 requester: Requester = NOBODY) -> bool:
    """Matched by `match` and not by `exclude` (raises `UnsupportedConstruct` for unknown fields)."""
    if block_matches(rule.get("match"), subject, where=f"{where}.match", kind=kind,
                     requester=requester) is not True:
        return False
    return block_matches(rule.get("exclude"), subject, where=f"{where}.exclude", kind=kind,
                         requester=requester) is not True
