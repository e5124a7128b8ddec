"""The side files of a `kyverno test` suite: the values file (`variables:`) and the user file (`userinfo:`).

A values file (`cli.kyverno.io/v1alpha1` `Values`, or the older unversioned
form) gives variables for every rule (`globalValues`), per policy rule
(`policies[].rules[].values`) and per resource (`policies[].resources[].values`),
plus namespace labels (`namespaceSelector`) for namespaceSelector matching. A
`UserInfo` file gives the requesting user, groups, roles and cluster roles.
Anything else in them (`subresources`, per-element `foreachValues`) is refused rather than ignored, since
ignoring it could change a result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from neuroscale.policy.kyverno_match import NOBODY, Requester
from neuroscale.policy.kyverno_request import NO_VALUES, Values
from neuroscale.policy.subject import as_mapping


class TestSuiteError(Exception):
    """The test manifest cannot be run as written."""


@dataclass(frozen=True)
class SuiteInputs:
    values: Values = NO_VALUES
    namespaces: tuple[dict[str, Any], ...] = ()
    requester: Requester = NOBODY


def _mapping_list(value: Any, what: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise TestSuiteError(f"{what} must be a list of mappings")
    return list(value)


def parse_values(documents: list[Any]) -> tuple[Values, tuple[dict[str, Any], ...]]:
    """Values and Namespace objects (from `namespaceSelector`) of a values file."""
    global_values: dict[str, Any] = {}
    rules: dict[tuple[str, str], dict[str, Any]] = {}
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    namespaces = []
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        if document.get("subresources"):
            raise TestSuiteError("values file: subresources are not supported offline")
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
    return Values(global_values=global_values, rules=rules, resources=resources), tuple(namespaces)


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
    """Everything the manifest's `variables` and `userinfo` files give (`read(file, what)` loads one)."""
    values: Values = NO_VALUES
    namespaces: tuple[dict[str, Any], ...] = ()
    if manifest.get("variables"):
        values, namespaces = parse_values(read(str(manifest["variables"]), "variables"))
    requester = parse_user(read(str(manifest["userinfo"]), "userinfo")) if manifest.get("userinfo") else NOBODY
    return SuiteInputs(values=values, namespaces=namespaces, requester=requester)
