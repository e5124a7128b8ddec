"""Autogen for Kyverno ValidatingPolicies: the pod policy, rewritten for the pod controllers it names.

A ValidatingPolicy that matches only pods and lists controllers under
`spec.autogen.podControllers.controllers` also governs those controllers in
Kyverno: each controller gets the policy with its match moved to the
controller's resource and every `object.spec` / `oldObject.spec` in its
expressions moved to the pod template's spec (`spec.template.spec`, or
`spec.jobTemplate.spec.template.spec` for CronJobs). `object.metadata` keeps
meaning the controller's metadata. The derived policies keep the policy's
name, so their outcomes report as the policy's own.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from neuroscale.policy.subject import as_mapping, resource_for_kind
from neuroscale.policy.workloads import POD_SPEC_PATHS

def _group(kind: str) -> str:
    return "batch" if kind in ("Job", "CronJob") else "" if kind == "ReplicationController" else "apps"


#: Controller resource (`deployments`) -> (API group, dotted path of the pod spec inside the controller).
_CONTROLLERS: dict[str, tuple[str, str]] = {
    resource_for_kind(kind): (_group(kind), ".".join(path)) for kind, path in POD_SPEC_PATHS.items() if kind != "Pod"}


_SPEC = re.compile(r"\b(oldObject|object)\.spec\b")


def _rewrite(source: Any, spec_path: str) -> Any:
    return _SPEC.sub(lambda m: f"{m.group(1)}.{spec_path}", source) if isinstance(source, str) else source


def _pods_only(rules: Any) -> list[Mapping[str, Any]] | None:
    if not isinstance(rules, list) or not rules:
        return None
    for rule in rules:
        rule = as_mapping(rule)
        if list(rule.get("resources") or []) != ["pods"] or list(rule.get("apiGroups") or [""]) != [""]:
            return None
    return [as_mapping(rule) for rule in rules]


def autogen_documents(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The controller variants of a ValidatingPolicy document (none without autogen or for non-pod matches)."""
    spec = as_mapping(document.get("spec"))
    controllers = as_mapping(as_mapping(spec.get("autogen")).get("podControllers")).get("controllers") or []
    pod_rules = _pods_only(as_mapping(spec.get("matchConstraints")).get("resourceRules"))
    if not controllers or pod_rules is None:
        return []
    operations = sorted({str(op) for rule in pod_rules for op in rule.get("operations") or ["*"]})
    by_path: dict[str, list[str]] = {}
    for controller in controllers:
        if str(controller) in _CONTROLLERS:
            by_path.setdefault(_CONTROLLERS[str(controller)][1], []).append(str(controller))
    derived = []
    for spec_path, resources in by_path.items():
        variant = copy.deepcopy(dict(document))
        variant_spec = variant["spec"]
        variant_spec.pop("autogen", None)
        variant_spec["matchConstraints"] = {**as_mapping(spec.get("matchConstraints")), "resourceRules": [
            {"apiGroups": [_CONTROLLERS[r][0]], "apiVersions": ["v1"], "operations": operations,
             "resources": [r]} for r in resources]}
        for section, keys in (("validations", ("expression", "messageExpression")),
                              ("matchConditions", ("expression",)), ("variables", ("expression",))):
            for item in variant_spec.get(section) or []:
                if isinstance(item, dict):
                    for key in keys:
                        if key in item:
                            item[key] = _rewrite(item[key], spec_path)
        derived.append(variant)
    return derived
