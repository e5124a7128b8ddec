"""NS-L018: policies whose scope leaves gaps a workload walks through (FM-43).

A policy can be correct rule by rule and still miss what it is for:

- it governs some namespaces (`namespaces: [prod]`, a binding's
  namespaceSelector) while the workloads it exists for live in others;
- it exempts objects by label only (`exclude` on a selector, a
  PolicyException matching labels): anyone who can create the object can set
  the label, so the exemption is a switch every author holds;
- it checks a securityContext field (runAsNonRoot, runAsUser, ...) on
  containers only, while Kubernetes applies the pod-level value to every
  container that does not override it — or on the pod only, while a
  container can override it;
- its "image must have a tag" test accepts an untagged image whose registry
  has a port (`registry:5000/app` contains a colon): found by running the
  policy through the engine on two probe objects, so any pattern or CEL is
  judged by what it does, not how it reads.

The workloads that matter are the governed namespaces of `neuroscale.yaml`
and those holding InferenceServices (else every namespace with workloads).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from typing import Any

from neuroscale.check.applied import applied_objects
from neuroscale.check.lints.base import Lint, dig
from neuroscale.check.lints.policy_probe import untagged_port_gaps
from neuroscale.check.model import Document, RepoView
from neuroscale.check.repoconfig import read_config
from neuroscale.findings import Finding, Severity
from neuroscale.policy.workloads import POD_SPEC_PATHS

ID = "NS-L018"
KYVERNO_KINDS = ("ClusterPolicy", "Policy")
BOTH_LEVEL_FIELDS = ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile", "seLinuxOptions", "appArmorProfile")
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_ANCHOR = re.compile(r"^[=+^X<]?\((.*)\)$")
_USER_FILTERS = ("subjects", "roles", "clusterRoles")
_WHERE_FILTERS = ("namespaces", "names", "name", "namespaceSelector", *_USER_FILTERS)
#: Names a CEL expression gives the pod-level object whose securityContext it reads (`e.pod`, `spec`, an
#: InferenceService component such as `predictor`).
_POD_HOLDERS = frozenset({"pod", "podspec", "template", "predictor", "transformer", "explainer", "workerspec"})
_FIELD_REF = re.compile(r"([\w\]\)]*)\.securityContext\.(" + "|".join(BOTH_LEVEL_FIELDS) + r")\b")


def _filters(block: Any) -> list[dict[str, Any]]:
    """Resource filters of a Kyverno match/exclude block (`any`, `all` or the legacy single form)."""
    if not isinstance(block, dict):
        return []
    found = [item for key in ("any", "all") for item in (block.get(key) or []) if isinstance(item, dict)]
    if isinstance(block.get("resources"), dict) or any(k in block for k in _USER_FILTERS):
        found.append(block)
    return found


def _resources(item: dict[str, Any]) -> dict[str, Any]:
    resources = item.get("resources")
    return resources if isinstance(resources, dict) else {}


def _warning(view: RepoView, policy: Document, needle: str, message: str, fix: str) -> Finding:
    return view.finding(policy, rule=ID, severity=Severity.WARNING, needle=needle, field_path="spec",
                        message=message, fix=fix)


def _rules(doc: Document) -> Iterator[dict[str, Any]]:
    rules = dig(doc.data, "spec", "rules")
    yield from (r for r in rules if isinstance(r, dict)) if isinstance(rules, list) else ()


# --- namespaces ------------------------------------------------------------------------------------------------------

def _kind_matches(entry: str, kind: str) -> bool:
    wanted = entry.split("/")[-1]
    return fnmatch.fnmatchcase(kind, wanted) or (wanted == "Pod" and kind in POD_SPEC_PATHS)


def _namespaces(resources: dict[str, Any]) -> set[str] | None:
    """Namespaces a filter is limited to (None: any namespace)."""
    named = resources.get("namespaces")
    selector = dig(resources, "namespaceSelector", "matchLabels")
    if isinstance(named, list) and named:
        return {str(n) for n in named}
    if isinstance(selector, dict) and set(selector) == {"kubernetes.io/metadata.name"}:
        return {str(selector["kubernetes.io/metadata.name"])}
    return None


def _relevant_namespaces(view: RepoView, objects: list[Document]) -> set[str]:
    config, _ = read_config(view)
    relevant = set(config.governed_namespaces) | {d.namespace or "default" for d in objects
                                                   if d.kind == "InferenceService"}
    return relevant or {d.namespace or "default" for d in objects if d.kind in POD_SPEC_PATHS}


def _namespace_gaps(view: RepoView, policy: Document, objects: list[Document], relevant: set[str]) -> list[Finding]:
    findings = []
    for rule in _rules(policy):
        filters = [_resources(f) for f in _filters(rule.get("match"))]
        limits = [_namespaces(r) for r in filters]
        if not filters or any(limit is None for limit in limits):
            continue
        covered = set().union(*(limit or set() for limit in limits))
        kinds = [str(k) for r in filters for k in (r.get("kinds") or []) if isinstance(k, str)]
        missed = sorted({d.namespace or "default" for d in objects if any(_kind_matches(k, d.kind) for k in kinds)
                         and (d.namespace or "default") in relevant - covered})
        if missed:
            findings.append(view.finding(
                policy, rule=ID, severity=Severity.WARNING, needle="namespaces", field_path="spec.rules",
                message=f"rule {rule.get('name')} governs only namespaces {', '.join(sorted(covered))}, while "
                        f"workloads it matches live in {', '.join(missed)}: they are not judged",
                fix="match every namespace the workloads use (or all of them and exclude system namespaces)"))
    return findings


# --- label-only exemptions -----------------------------------------------------------------------------------------

def _label_only(item: dict[str, Any]) -> str:
    """The labels a filter exempts by, when labels (or annotations) are all it checks; else ''."""
    resources = _resources(item)
    if any(item.get(k) for k in _USER_FILTERS) or any(resources.get(k) for k in _WHERE_FILTERS):
        return ""
    selector = resources.get("selector")
    keys = [*(dig(selector, "matchLabels") or {})] + [str(e.get("key")) for e in dig(selector, "matchExpressions") or []
                                                      if isinstance(e, dict)]
    keys += list(resources.get("annotations") or {}) if isinstance(resources.get("annotations"), dict) else []
    return ", ".join(keys)


def _label_exemptions(view: RepoView, policy: Document) -> list[Finding]:
    blocks: list[tuple[str, Any]] = [(f"rule {r.get('name')} excludes", r.get("exclude")) for r in _rules(policy)]
    if policy.kind == "PolicyException":
        blocks.append(("the exception applies to", dig(policy.data, "spec", "match")))
    findings = []
    for what, block in blocks:
        for item in _filters(block):
            labels = _label_only(item)
            if labels:
                findings.append(_warning(
                    view, policy, "selector",
                    f"{what} objects by label only ({labels}): anyone who may create the object can set the label "
                    "and opt out of the policy",
                    "key the exemption on something authors do not control: namespaces, names, or the requesting "
                    "subjects/roles (a controller's service account)"))
    return findings


# --- securityContext levels ----------------------------------------------------------------------------------------

def _strip(key: str) -> str:
    match = _ANCHOR.match(key)
    return match.group(1) if match else key


def _pattern_levels(node: Any, ancestors: tuple[str, ...], found: dict[str, set[str]]) -> None:
    if isinstance(node, list):
        for item in node:
            _pattern_levels(item, ancestors, found)
        return
    if not isinstance(node, dict):
        return
    for raw, sub in node.items():
        key = _strip(str(raw))
        if key == "securityContext" and isinstance(sub, dict):
            level = "container" if any(a in _CONTAINER_LISTS for a in ancestors) else "pod"
            for field in sub:
                if _strip(str(field)) in BOTH_LEVEL_FIELDS:
                    found.setdefault(_strip(str(field)), set()).add(level)
        _pattern_levels(sub, (*ancestors, key), found)


def _validation_levels(validate: Any) -> dict[str, set[str]]:
    """securityContext fields a validation reads, by level (pod / container)."""
    found: dict[str, set[str]] = {}
    if not isinstance(validate, dict):
        return found
    patterns = [validate.get("pattern"), *(validate.get("anyPattern") or [])]
    for pattern in patterns:
        _pattern_levels(pattern, (), found)
    for each in validate.get("foreach") or []:
        if isinstance(each, dict):
            start = ("containers",) if "ontainers" in str(each.get("list", "")) else ()
            _pattern_levels(each.get("pattern"), start, found)
    text = json.dumps({k: v for k, v in validate.items() if k not in ("pattern", "anyPattern")}, default=str)
    for before, field in _FIELD_REF.findall(text):
        holder = before.lower()
        found.setdefault(field, set()).add("pod" if holder in _POD_HOLDERS or holder.endswith("spec") else "container")
    if "spec.securityContext" in text:  # a pod-level read (through a variable, a has()) still counts
        for levels in found.values():
            levels.add("pod")
    return found


def _level_gaps(view: RepoView, policy: Document, validations: list[tuple[str, Any]]) -> list[Finding]:
    findings = []
    for name, validate in validations:
        for field, levels in sorted(_validation_levels(validate).items()):
            if levels == {"container"}:
                message = (f"{name} checks securityContext.{field} on containers only: a pod that sets it at pod "
                           "level, which every container inherits, is judged as if it were unset")
            elif levels == {"pod"}:
                message = (f"{name} checks securityContext.{field} at pod level only: a container that overrides "
                           "it is not checked")
            else:
                continue
            findings.append(_warning(view, policy, field, message,
                                     f"read the container's {field} and fall back to the pod's (as the kubelet does)"))
    return findings


def _validations(policy: Document) -> list[tuple[str, Any]]:
    if policy.kind in KYVERNO_KINDS:
        return [(f"rule {r.get('name')}", r.get("validate")) for r in _rules(policy)]
    spec = dig(policy.data, "spec") or {}
    return [("the policy", {"cel": {k: spec.get(k) for k in ("validations", "variables", "matchConditions")}})]


def _policies(objects: list[Document]) -> list[Document]:
    kyverno = [d for d in objects if d.group in ("kyverno.io", "policies.kyverno.io")
               and d.kind in (*KYVERNO_KINDS, "PolicyException", "ValidatingPolicy")]
    vaps = [d for d in objects if d.group == "admissionregistration.k8s.io" and d.kind == "ValidatingAdmissionPolicy"]
    return kyverno + vaps


def check(view: RepoView) -> list[Finding]:
    objects = applied_objects(view)
    policies = _policies(objects)
    if not policies:
        return []
    relevant = _relevant_namespaces(view, objects)
    bindings = [d.data for d in objects if d.kind == "ValidatingAdmissionPolicyBinding"]
    findings = []
    for policy in policies:
        if policy.kind == "ClusterPolicy":
            findings += _namespace_gaps(view, policy, objects, relevant)
        findings += _label_exemptions(view, policy)
        if policy.kind != "PolicyException":
            findings += _level_gaps(view, policy, _validations(policy))
            findings += [_warning(
                view, policy, "image",
                f"{rule} rejects the untagged image registry.example/team/app but accepts "
                "registry.example:5000/team/app: the registry's port reads as a tag",
                "look for the tag after the last '/' (e.g. image.substring(image.lastIndexOf('/') + 1).contains(':')), "
                "or require a digest") for rule in untagged_port_gaps(policy.data, bindings)]
    return findings


LINT = Lint(id=ID, title="Policy scope gaps", failure_modes=("FM-43",), severity=Severity.WARNING, check=check)
