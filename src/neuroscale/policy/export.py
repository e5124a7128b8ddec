"""Export the bundled policies for a cluster: native VAP + bindings, or Kyverno ClusterPolicy with `validate.cel`.

The Kyverno form is a mechanical translation of the VAP form (same CEL, same
messages), one Kyverno rule per VAP validation so rule ids match the
findings `neuroscale check` prints (`<policy>/<check>`). The binding's
namespace scope becomes `match.resources.namespaces`, and the users a VAP
exempts (its `matchCondition` on `request.userInfo.username`) become
`exclude.subjects` - Kyverno rejects user filters in background mode, so
such a policy sets `background: false`. Every field that
Kyverno's CRD would default (`admission`, `background`, `emitWarning`,
`validationFailureAction`, `skipBackgroundRequests`, `allowExistingViolations`,
`cel.generate`) is written explicitly: otherwise the API server adds it and
Argo CD reports the policy OutOfSync forever (FM-05 / H-02).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from neuroscale.errors import InvalidInput
from neuroscale.policy.bundled import (
    EXEMPT_ANNOTATION,
    EXEMPT_CONDITION,
    NAMESPACE_LABEL,
    BundledOptions,
    bundled_policy_documents,
)
from neuroscale.policy.report import RULES_ANNOTATION
from neuroscale.policy.subject import resource_for_kind
from neuroscale.spec.fields import LABEL_MANAGED_BY, MANAGED_BY
from neuroscale.yamlio import dump

Format = Literal["vap", "kyverno"]
FORMATS: tuple[str, ...] = ("vap", "kyverno")
_KNOWN_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "CronJob", "Service",
                "InferenceService", "ServingRuntime", "ConfigMap", "Secret", "Namespace", "Ingress")
_KIND_BY_RESOURCE = {resource_for_kind(kind): kind for kind in _KNOWN_KINDS}
AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"


def _kinds(rule: Mapping[str, Any]) -> list[str]:
    kinds = []
    for group in rule.get("apiGroups") or [""]:
        for version in rule.get("apiVersions") or ["*"]:
            for resource in rule.get("resources") or []:
                kind = _KIND_BY_RESOURCE.get(str(resource))
                if kind is None:
                    raise InvalidInput(f"cannot translate resource {resource!r} to a Kyverno kind",
                                       fix="add the kind to neuroscale.policy.export._KNOWN_KINDS")
                kinds.append(f"{group}/{version}/{kind}" if group else f"{version}/{kind}")
    return kinds


def _filters(rules: Sequence[Mapping[str, Any]], constraints: Mapping[str, Any],
             scope: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    filters = []
    for rule in rules:
        resources: dict[str, Any] = {"kinds": _kinds(rule)}
        if rule.get("operations") and "*" not in rule["operations"]:
            resources["operations"] = list(rule["operations"])
        for source, target in (("objectSelector", "selector"), ("namespaceSelector", "namespaceSelector")):
            if constraints.get(source):
                resources[target] = copy.deepcopy(constraints[source])
        resources.update(_namespace_scope(scope or {}))
        filters.append({"resources": resources})
    return filters


def _namespace_scope(binding_match: Mapping[str, Any]) -> dict[str, Any]:
    """A binding's namespaceSelector: a list of names when it selects by name, else the selector itself."""
    selector = binding_match.get("namespaceSelector")
    if not selector:
        return {}
    expressions = selector.get("matchExpressions") or []
    if not selector.get("matchLabels") and len(expressions) == 1 and expressions[0].get("key") == NAMESPACE_LABEL \
            and expressions[0].get("operator") == "In":
        return {"namespaces": list(expressions[0].get("values") or [])}
    return {"namespaceSelector": copy.deepcopy(dict(selector))}


def _subject(user: str) -> dict[str, str]:
    """A Kyverno subject for a Kubernetes user name (service accounts by namespace and name)."""
    prefix, _, rest = user.partition("system:serviceaccount:")
    if not prefix and rest.count(":") == 1:
        namespace, name = rest.split(":")
        return {"kind": "ServiceAccount", "namespace": namespace, "name": name}
    return {"kind": "User", "name": user}


def _rule_names(vap: Mapping[str, Any]) -> list[str]:
    raw = ((vap.get("metadata") or {}).get("annotations") or {}).get(RULES_ANNOTATION, "[]")
    return [str(item.get("name")) for item in json.loads(raw)]


def _variables_used(variables: Sequence[Mapping[str, Any]], expression: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The variables one rule's expressions name (each Kyverno rule carries its own copy)."""
    text = " ".join(str(value) for value in expression.values())
    return [copy.deepcopy(dict(v)) for v in variables if f"variables.{v.get('name')}" in text]


def vap_to_kyverno(vap: Mapping[str, Any], binding: Mapping[str, Any]) -> dict[str, Any]:
    """One ClusterPolicy from a VAP and its binding (the actions decide Enforce/Audit)."""
    spec = copy.deepcopy(vap["spec"])
    constraints = spec.get("matchConstraints") or {}
    actions = (binding.get("spec") or {}).get("validationActions") or ["Deny"]
    action = "Enforce" if "Deny" in actions else "Audit"
    names = _rule_names(vap)
    binding_match = (binding.get("spec") or {}).get("matchResources") or {}
    match = {"any": _filters(constraints.get("resourceRules") or [], constraints, binding_match)}
    metadata = vap.get("metadata") or {}
    exempt = json.loads((metadata.get("annotations") or {}).get(EXEMPT_ANNOTATION, "[]"))
    conditions = [c for c in spec.get("matchConditions") or [] if not (exempt and c.get("name") == EXEMPT_CONDITION)]
    exclude = _filters(constraints.get("excludeResourceRules") or [], {})
    if exempt:
        exclude.append({"subjects": [_subject(str(user)) for user in exempt]})
    rules = []
    for index, validation in enumerate(spec.get("validations") or []):
        expression = {k: validation[k] for k in ("expression", "message", "messageExpression", "reason")
                      if validation.get(k)}
        cel: dict[str, Any] = {"generate": False, "expressions": [expression]}
        used = _variables_used(spec.get("variables") or [], expression)
        if used:
            cel["variables"] = used
        rule: dict[str, Any] = {
            "name": names[index] if index < len(names) else f"validation-{index}",
            "skipBackgroundRequests": True,
            "match": copy.deepcopy(match),
        }
        if exclude:
            rule["exclude"] = {"any": copy.deepcopy(exclude)}
        if conditions:
            rule["celPreconditions"] = copy.deepcopy(conditions)
        rule["validate"] = {"failureAction": action, "allowExistingViolations": True,
                            "message": validation.get("message", ""), "cel": cel}
        rules.append(rule)
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items()
                   if k not in (RULES_ANNOTATION, EXEMPT_ANNOTATION)}
    if any(r["match"]["any"][0]["resources"]["kinds"] == ["v1/Pod"] for r in rules):
        annotations[AUTOGEN_ANNOTATION] = "none"  # a Pod rule judges pods, not the controllers that make them
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": metadata["name"], "labels": {LABEL_MANAGED_BY: MANAGED_BY},
                     "annotations": annotations},
        "spec": {
            "admission": True,
            "background": not exempt,
            "emitWarning": "Warn" in actions,
            "validationFailureAction": action,
            "rules": rules,
        },
    }


def export_policies(fmt: Format, *, options: BundledOptions | None = None) -> list[dict[str, Any]]:
    """The bundled set as cluster objects in the chosen format."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}", fix=f"use one of: {', '.join(FORMATS)}")
    documents = bundled_policy_documents(options)
    if fmt == "vap":
        return documents
    bindings = {d["spec"]["policyName"]: d for d in documents if d["kind"] == "ValidatingAdmissionPolicyBinding"}
    return [vap_to_kyverno(d, bindings[d["metadata"]["name"]]) for d in documents
            if d["kind"] == "ValidatingAdmissionPolicy"]


def write_export(documents: Sequence[Mapping[str, Any]], output_dir: Path) -> list[Path]:
    """One YAML file per object, named `<kind>-<name>.yaml`; returns the paths written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for document in documents:
        path = output_dir / f"{str(document['kind']).lower()}-{document['metadata']['name']}.yaml"
        path.write_text(dump(document), encoding="utf-8")
        written.append(path)
    return written
