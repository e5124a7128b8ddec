"""The side files of a `kyverno test` suite: the values file (`variables:`, or inline `values:`) and the user
file (`userinfo:`).

A values file (`cli.kyverno.io/v1alpha1` `Values`, or the older unversioned
form) gives variables for every rule (`globalValues`), per policy rule
(`policies[].rules[].values`) and per resource (`policies[].resources[].values`),
plus namespace labels (`namespaceSelector`) for namespaceSelector matching. A
`UserInfo` file gives the requesting user, groups, roles and cluster roles.
`subresources` declare which resource kinds are subresources of which parent
(`Scale` is `Deployment/scale`), so that policies matching `Deployment/scale`
apply to them. Anything else in them (per-element `foreachValues`) is refused
rather than ignored, since ignoring it could change a result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from neuroscale.policy.kyverno_match import NOBODY, Requester
from neuroscale.policy.kyverno_request import NO_VALUES, Values
from neuroscale.policy.subject import Subject, as_mapping


class TestSuiteError(Exception):
    """The test manifest cannot be run as written."""


#: (apiVersion, kind) of a subresource object -> (parent kind, subresource name).
Subresources = Mapping[tuple[str, str], tuple[str, str]]


@dataclass(frozen=True)
class SuiteInputs:
    values: Values = NO_VALUES
    namespaces: tuple[dict[str, Any], ...] = ()
    requester: Requester = NOBODY
    subresources: Subresources = field(default_factory=dict)

    def with_parents(self, admitted: list[Subject]) -> list[Subject]:
        """`admitted`, each subresource object knowing its parent kind and subresource name."""
        return [dataclasses.replace(s, parent=self.subresources.get((s.ref.api_version, s.kind)))
                if (s.ref.api_version, s.kind) in self.subresources else s for s in admitted]


def _api_version(spec: Mapping[str, Any]) -> str:
    group, version = str(spec.get("group") or ""), str(spec.get("version") or "")
    return f"{group}/{version}" if group else version


def parse_subresources(entries: list[Mapping[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    """A values file's `subresources`: each `subresource` (name `deployments/scale`, kind, group, version)
    with its `parentResource` (kind, ...)."""
    result = {}
    for entry in entries:
        sub, parent = as_mapping(entry.get("subresource")), as_mapping(entry.get("parentResource"))
        name = str(sub.get("name") or "")
        if "/" not in name or not sub.get("kind") or not parent.get("kind"):
            raise TestSuiteError(f"values file subresources: an entry needs subresource name (parent/sub) and "
                                 f"kind, and parentResource kind: {dict(entry)!r}")
        result[(_api_version(sub), str(sub["kind"]))] = (str(parent["kind"]), name.split("/", 1)[1])
    return result


def _mapping_list(value: Any, what: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise TestSuiteError(f"{what} must be a list of mappings")
    return list(value)


def parse_values(documents: list[Any]) -> tuple[Values, tuple[dict[str, Any], ...], Subresources]:
    """Values, Namespace objects (from `namespaceSelector`) and subresources of a values file."""
    global_values: dict[str, Any] = {}
    rules: dict[tuple[str, str], dict[str, Any]] = {}
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    namespaces = []
    subresources: dict[tuple[str, str], tuple[str, str]] = {}
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        subresources.update(parse_subresources(_mapping_list(document.get("subresources"),
                                                             "values file subresources")))
        global_values.update(as_mapping(document.get("globalValues")))
        for policy in _mapping_list(document.get("policies"), "values file policies"):
            name = str(policy.get("name", ""))
            for rule in _mapping_list(policy.get("rules"), f"values for policy {name} rules"):
                if rule.get("foreachValues"):
                    raise TestSuiteError(f"values for policy {name}: foreachValues are not supported offline")
                rules.setdefault((name, str(rule.get("name", ""))), {}).update(as_mapping(rule.get("values")))
            for resource in _mapping_list(policy.get("resources"), f"values for policy {name} resources"):
                resources.setdefault((name, str(resource.get("name", ""))), {}).update(
                    as_mapping(resource.get("values")))
        for item in _mapping_list(document.get("namespaceSelector"), "values file namespaceSelector"):
            namespaces.append({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": item.get("name"), "labels": dict(item.get("labels") or {})}})
    return (Values(global_values=global_values, rules=rules, resources=resources), tuple(namespaces),
            subresources)


def parse_user(documents: list[Any]) -> Requester:
    """The requester a `UserInfo` file describes."""
    if len(documents) != 1 or not isinstance(documents[0], Mapping):
        raise TestSuiteError("a userinfo file holds one UserInfo mapping")
    document = documents[0]
    user = as_mapping(document.get("userInfo"))
    extra = {key: value for key, value in user.items() if key not in ("username", "groups")}
    return Requester(username=str(user.get("username") or ""), groups=tuple(str(g) for g in user.get("groups") or []),
                     roles=tuple(str(r) for r in document.get("roles") or []),
                     cluster_roles=tuple(str(r) for r in document.get("clusterRoles") or []), extra=extra)


def suite_inputs(manifest: Mapping[str, Any], read: Callable[[str, str], list[Any]]) -> SuiteInputs:
    """Everything the manifest's `variables` and `userinfo` files and inline `values` give (`read(file, what)`
    loads one)."""
    values: Values = NO_VALUES
    namespaces: tuple[dict[str, Any], ...] = ()
    subresources: Subresources = {}
    documents = read(str(manifest["variables"]), "variables") if manifest.get("variables") else []
    if isinstance(manifest.get("values"), Mapping):  # the same Values, written inline in the test manifest
        documents.append(manifest["values"])
    if documents:
        values, namespaces, subresources = parse_values(documents)
    requester = parse_user(read(str(manifest["userinfo"]), "userinfo")) if manifest.get("userinfo") else NOBODY
    return SuiteInputs(values=values, namespaces=namespaces, requester=requester, subresources=subresources)
