"""The bundled guardrails, generated as ValidatingAdmissionPolicy + Binding from `neuroscale.spec`.

Written once, here, in Kubernetes' own admission format so that any cluster
from 1.30 enforces them without a webhook, `neuroscale check` evaluates the
very same CEL in CI, and the embedded reconciler admits with it too. Label
keys and storage schemes come from `spec.fields` (FM-23: a template writing
`costCenter` while the policy requires `cost-center` cannot happen again), and
the InferenceService shapes from `spec.isvc` through `policy.isvc_cel`: every
check applies to every container of every component, whichever way the
manifest names its model.

Decisions:
- Deployments that Knative (for a revision) or KServe (raw deployment mode)
  create are exempt from every Deployment policy (FM-24): their InferenceService
  was already checked, and the platform, not the author, writes them. The
  exemption is the *requesting user* - those controllers' service accounts, in
  a `matchCondition` (Kyverno: `exclude.subjects`) - never a label, which any
  author can set. InferenceService and Pod policies exempt nobody. Offline
  (`neuroscale check`, embedded admission) objects come from a repository, not
  from a service account, so they are never exempt.
- The `kserve-container` of every Pod is checked for non-root: the pods Knative
  creates run the serving runtime's security context, which the
  InferenceService policies cannot see.
- `namespaces` scopes every binding to the endpoint namespaces (a cluster's
  platform components are not endpoints); empty (the default for `check` and
  embedded admission) judges every object given.
- A container under a framework key or `model` without its own `image` runs the
  serving runtime's image and security context, so non-root is only required
  there when the manifest says otherwise; a container the author brings must
  declare `runAsNonRoot: true` itself or at pod level.
- A plain local path (no `scheme://`) and `file://` are local storage. Allowed
  by default, because the embedded mode serves models from disk; with
  `local_model_roots` they must be absolute, free of `..` and under a root; with
  `allow_local_paths=False` (`policy export --no-local-paths`, clusters) never.
- Per-endpoint ceilings are options, baked into the CEL as literals.
- ResourceQuota and LimitRange need the whole namespace, which a VAP cannot see;
  they are evaluated by `neuroscale.policy.quotas`, not here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroscale.policy import isvc_cel
from neuroscale.policy.isvc_cel import (
    COMPONENT_SPECS,
    CONTAINERS,
    STORAGE_URIS,
    every,
    failing_paths,
    first_failing_path,
    literal,
)
from neuroscale.policy.report import RULES_ANNOTATION
from neuroscale.policy.storage_uri_cel import describes, keeps
from neuroscale.spec.fields import (
    ALLOWED_STORAGE_SCHEMES,
    DNS1123_LABEL,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    REQUIRED_LABELS,
)
from neuroscale.spec.isvc import MODEL_KEYS
from neuroscale.spec.quantity import parse_quantity
from neuroscale.spec.storage_uri import RULES as URI_RULES

VAP_API = "admissionregistration.k8s.io/v1"
#: The service accounts of the controllers that write Deployments for InferenceServices (Knative, KServe).
PLATFORM_CONTROLLERS = ("system:serviceaccount:knative-serving:controller",
                        "system:serviceaccount:kserve:kserve-controller-manager")
#: The users a policy exempts, as JSON (read by the Kyverno export to write `exclude.subjects`).
EXEMPT_ANNOTATION = "policy.neuroscale.io/exempt-users"
EXEMPT_CONDITION = "not-a-platform-controller"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
#: The container KServe runs the model server in, in every pod it has Knative create.
MODEL_CONTAINER = "kserve-container"
SCALE_METRICS = ("cpu", "memory", "concurrency", "rps")

_DEPLOYMENT = {"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}
_ISVC = {"apiGroups": ["serving.kserve.io"], "apiVersions": ["v1beta1"], "resources": ["inferenceservices"]}
_POD = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
_USERNAME = re.compile(r"^[A-Za-z0-9:._@-]+$")

_DEPLOY_CONTAINERS = "object.spec.template.spec.containers"
_DEPLOY_ALL_CONTAINERS = (f"({_DEPLOY_CONTAINERS} + (has(object.spec.template.spec.initContainers) ? "
                          "object.spec.template.spec.initContainers : []))")


@dataclass(frozen=True)
class BundledOptions:
    """The knobs of the bundled set (defaults are what `neuroscale check` and admission use)."""

    cpu_limit_ceiling: str = "4"
    memory_limit_ceiling: str = "16Gi"
    allow_local_paths: bool = True
    #: Absolute directories local models must lie under; empty: any local path (when allowed).
    local_model_roots: tuple[str, ...] = ()
    validation_actions: tuple[str, ...] = ("Deny",)
    #: Namespaces the bindings apply to; empty: every namespace (what `check` and embedded admission judge).
    namespaces: tuple[str, ...] = ()
    #: Users whose Deployments are not judged (the controllers that generate them from InferenceServices).
    exempt_users: tuple[str, ...] = PLATFORM_CONTROLLERS

    def __post_init__(self) -> None:
        parse_quantity(self.cpu_limit_ceiling, where="cpu_limit_ceiling")
        parse_quantity(self.memory_limit_ceiling, where="memory_limit_ceiling")
        for name in self.namespaces:
            if not re.match(DNS1123_LABEL, name) or len(name) > 63:
                raise ValueError(f"namespace {name!r} is not a DNS-1123 label")
        for user in self.exempt_users:
            if not _USERNAME.match(user):
                raise ValueError(f"exempt user {user!r} is not a Kubernetes user name")
        for root in self.local_model_roots:
            if not root.startswith("/") or "/../" in f"{root}/":
                raise ValueError(f"local model root {root!r} must be an absolute path without '..'")


@dataclass(frozen=True)
class Check:
    """One validation: CEL that must be true, and what to tell the author when it is not."""

    name: str
    expression: str
    message: str
    fix: str
    field_path: str
    message_expression: str = ""
    #: CEL naming the failing field (evaluated by NeuroScale only; clusters show `field_path`).
    field_path_expression: str = ""


@dataclass(frozen=True)
class Bundled:
    name: str
    description: str
    rules: tuple[dict[str, Any], ...]
    checks: tuple[Check, ...]
    variables: tuple[tuple[str, str], ...] = field(default=())
    #: Skip objects the platform's controllers write (Deployments only, see the module docstring).
    exempt_platform: bool = False


def _listed_message(message: str, paths: str) -> str:
    """A messageExpression naming the failing fields after `message`."""
    return f"{literal(message + ' (at ')} + {paths} + ')'"


def _label_check(label: str) -> Check:
    key = literal(label)
    folded = re.sub(r"[-_.]", "", label.lower())
    near_miss = (f"object.metadata.labels.exists(k, k != {key} && "
                 f"k.lowerAscii().replace('-', '').replace('_', '').replace('.', '') == {literal(folded)})")
    return Check(
        name=f"{label}-label",
        expression=f"has(object.metadata.labels) && {key} in object.metadata.labels && "
                   f"object.metadata.labels[{key}] != ''",
        message=f"label '{label}' must be set and non-empty",
        message_expression=(f"has(object.metadata.labels) && {near_miss} ? \"label '{label}' must be set and "
                            f"non-empty (a near-miss key was found: label keys are exact)\" : "
                            f"\"label '{label}' must be set and non-empty\""),
        fix=f"add metadata.labels.{label}: <value> (exactly '{label}')",
        field_path=f"metadata.labels.{label}",
    )


def _has_quantity(container: str, section: str, resource: str) -> str:
    return (f"has({container}.resources) && has({container}.resources.{section}) && "
            f"{literal(resource)} in {container}.resources.{section}")


def _sets_both(container: str, section: str) -> str:
    return f"{_has_quantity(container, section, 'cpu')} && {_has_quantity(container, section, 'memory')}"


def _within(container: str, resource: str, ceiling: str) -> str:
    value = f"{container}.resources.limits[{literal(resource)}]"
    # A value that is not a quantity is the `quantities` check's finding, not an evaluation error here.
    return (f"!({_has_quantity(container, 'limits', resource)}) || !isQuantity(string({value})) || "
            f"quantity(string({value})).compareTo(quantity({literal(ceiling)})) <= 0")


def _valid_quantities(container: str) -> str:
    """CEL: the container's cpu/memory requests and limits, where set, are Kubernetes quantities."""
    parts = []
    for section in ("requests", "limits"):
        holder = f"{container}.resources.{section}"
        parts.append(f"(!has({holder}) || {holder}.all(k, !(k in ['cpu', 'memory']) || "
                     f"isQuantity(string({holder}[k]))))")
    return f"!has({container}.resources) || ({' && '.join(parts)})"


_QUANTITY_MESSAGE = "cpu and memory requests and limits must be Kubernetes quantities"
_QUANTITY_FIX = ("write quantities such as 250m or 2 for CPU and 512Mi or 2Gi for memory (ASCII digits, no "
                 "exponent beyond what the API server accepts)")


def _tagged(image: str) -> str:
    # substring/lastIndexOf rather than a regex: several times faster per object, same meaning.
    return (f"{image}.contains('@') || ({image}.substring({image}.lastIndexOf('/') + 1).contains(':') && "
            f"!{image}.endsWith(':latest'))")


_PIN_FIX = "pin the image, e.g. registry/app:1.4.2 or registry/app@sha256:..."
_PIN_MESSAGE = "images must be pinned to a tag other than ':latest' (or a digest)"


# --- Deployments ----------------------------------------------------------------------------------

def _deployment_policies(options: BundledOptions) -> tuple[Bundled, ...]:
    path = "spec.template.spec.containers[*]"
    pod_non_root = ("has(object.spec.template.spec.securityContext) && "
                    "has(object.spec.template.spec.securityContext.runAsNonRoot) && "
                    "object.spec.template.spec.securityContext.runAsNonRoot == true")
    container_non_root = ("has(c.securityContext) && has(c.securityContext.runAsNonRoot) ? "
                          "c.securityContext.runAsNonRoot == true : variables.podNonRoot")
    resources = (*(Check(
        name=section, expression=f"{_DEPLOY_CONTAINERS}.all(c, {_sets_both('c', section)})",
        message=f"every container must set cpu and memory {section}",
        fix=f"set resources.{section}.cpu and resources.{section}.memory (e.g. 100m / 256Mi)",
        field_path=f"{path}.resources.{section}") for section in ("requests", "limits")),
        Check("quantities", f"{_DEPLOY_ALL_CONTAINERS}.all(c, {_valid_quantities('c')})", _QUANTITY_MESSAGE,
              _QUANTITY_FIX, f"{path}.resources"))
    ceilings = tuple(Check(
        name=f"{resource}-limit-ceiling", expression=f"{_DEPLOY_CONTAINERS}.all(c, {_within('c', resource, ceiling)})",
        message=f"{resource} limit above the per-endpoint ceiling of {ceiling}",
        fix=f"lower resources.limits.{resource} to at most {ceiling}, or ask the platform team to raise the ceiling",
        field_path=f"{path}.resources.limits.{resource}")
        for resource, ceiling in (("cpu", options.cpu_limit_ceiling), ("memory", options.memory_limit_ceiling)))
    return (
        Bundled("neuroscale-require-labels", "Deployments carry the owner and cost-center labels showback needs.",
                (_DEPLOYMENT,), tuple(_label_check(label) for label in REQUIRED_LABELS), exempt_platform=True),
        Bundled("neuroscale-require-resources-deployment", "Deployment containers set cpu/memory requests and limits.",
                (_DEPLOYMENT,), resources, exempt_platform=True),
        Bundled("neuroscale-resource-ceilings-deployment", "Deployment containers stay under the per-endpoint ceiling.",
                (_DEPLOYMENT,), ceilings, exempt_platform=True),
        Bundled("neuroscale-disallow-latest-tag-deployment", "Deployment images are pinned.", (_DEPLOYMENT,),
                (Check("image-tag", f"{_DEPLOY_ALL_CONTAINERS}.all(c, !has(c.image) || {_tagged('c.image')})",
                       _PIN_MESSAGE, _PIN_FIX, f"{path}.image"),), exempt_platform=True),
        Bundled("neuroscale-run-as-non-root", "Deployment containers run as non-root.", (_DEPLOYMENT,),
                (Check("run-as-non-root", f"{_DEPLOY_ALL_CONTAINERS}.all(c, {container_non_root})",
                       "containers must run with securityContext.runAsNonRoot: true",
                       "set spec.template.spec.securityContext.runAsNonRoot: true (and a non-root runAsUser)",
                       "spec.template.spec.securityContext.runAsNonRoot"),),
                variables=(("podNonRoot", pod_non_root),), exempt_platform=True),
    )


def _pod_policy() -> Bundled:
    """The model server container of every pod runs as non-root, whatever wrote the pod."""
    own = "c.securityContext"
    pod = "object.spec.securityContext"
    declares = f"has({own}) && has({own}.runAsNonRoot) && {own}.runAsNonRoot == true"
    pod_declares = f"has({pod}) && has({pod}.runAsNonRoot) && {pod}.runAsNonRoot == true"
    non_root = f"!({_root(own)}) && (({declares}) || (!({_root(pod)}) && ({pod_declares})))"
    return Bundled(
        "neuroscale-run-as-non-root-pod", f"The {MODEL_CONTAINER} of every pod (those Knative creates for an "
        "InferenceService included) runs as non-root.", (_POD,),
        (Check("run-as-non-root",
               f"object.spec.containers.filter(c, c.name == {literal(MODEL_CONTAINER)}).all(c, {non_root})",
               f"the {MODEL_CONTAINER} container must run as non-root",
               "set securityContext.runAsNonRoot: true (and a non-zero runAsUser) on the serving runtime's "
               f"{MODEL_CONTAINER}, or on the InferenceService's container",
               f"spec.containers[{MODEL_CONTAINER}].securityContext.runAsNonRoot"),))


# --- InferenceServices: every container of every component ----------------------------------------

def _container_check(name: str, predicate: str, *, message: str, fix: str, field: str) -> Check:
    """A check over every container; `field` is the part of the container at fault (e.g. `.image`)."""
    return Check(name=name, expression=every(CONTAINERS, predicate), message=message, fix=fix,
                 field_path=f"spec.*{field}",
                 message_expression=_listed_message(message, failing_paths(CONTAINERS, predicate)),
                 field_path_expression=first_failing_path(CONTAINERS, predicate, suffix=field))


def _component_check(name: str, predicate: str, *, message: str, fix: str, field: str) -> Check:
    """A check over every component; `field` is the part of the component at fault (e.g. `.timeout`)."""
    failing = f"variables.{COMPONENT_SPECS}.filter(e, !({predicate})).map(e, e.path)"
    return Check(name=name, expression=f"variables.{COMPONENT_SPECS}.all(e, {predicate})", message=message,
                 fix=fix, field_path=f"spec.predictor{field}",
                 message_expression=_listed_message(message, f"{failing}.join(', ')"),
                 field_path_expression=f"{failing}[0] + {field!r}")


def _root(context: str) -> str:
    return (f"has({context}) && ((has({context}.runAsNonRoot) && {context}.runAsNonRoot == false) || "
            f"(has({context}.runAsUser) && {context}.runAsUser == 0))")


def _non_root() -> str:
    own = "e.c.securityContext"
    pod = "e.pod.securityContext"
    declares = f"has({own}) && has({own}.runAsNonRoot) && {own}.runAsNonRoot == true"
    pod_declares = f"has({pod}) && has({pod}.runAsNonRoot) && {pod}.runAsNonRoot == true"
    runtime_default = "(e.model && !has(e.c.image))"
    return f"!({_root(own)}) && (({declares}) || (!({_root(pod)}) && ({runtime_default} || ({pod_declares}))))"


def _storage_ok(options: BundledOptions) -> str:
    remote = [s for s in ALLOWED_STORAGE_SCHEMES if s != "file"]
    uri = "string(e.uri)"
    scheme_ok = f"{uri}.matches('^({'|'.join(re.escape(s) for s in remote)})://')"
    if not options.allow_local_paths:
        return scheme_ok
    is_local = f"({uri}.startsWith('file://') || !{uri}.contains('://'))"
    if not options.local_model_roots:
        return f"{scheme_ok} || {is_local}"
    path = f"({uri}.startsWith('file://') ? {uri}.substring(7) : {uri})"
    roots = "[" + ", ".join(literal(root.rstrip("/")) for root in options.local_model_roots) + "]"
    under = (f"{path}.startsWith('/') && !({path} + '/').contains('/../') && "
             f"{roots}.exists(r, {path} == r || {path}.startsWith(r + '/'))")
    return f"{scheme_ok} || ({is_local} && {under})"


def _storage_check(options: BundledOptions) -> Check:
    remote = [f"{s}://" for s in ALLOWED_STORAGE_SCHEMES if s != "file"]
    if options.allow_local_paths:
        local = "a local path or file://" + (f" under {', '.join(options.local_model_roots)}"
                                             if options.local_model_roots else "")
        remote.append(local)
    allowed = ", ".join(remote)
    predicate = _storage_ok(options)
    message = f"storageUri not allowed (allowed: {allowed})"
    return Check("storage-uri-scheme", every(STORAGE_URIS, predicate), message,
                 f"store the model under one of: {allowed}", "spec.*.storageUri",
                 message_expression=_listed_message(message, failing_paths(STORAGE_URIS, predicate)),
                 field_path_expression=first_failing_path(STORAGE_URIS, predicate))


def _uri_shape_checks() -> tuple[Check, ...]:
    """`spec.storage_uri`'s rules, one check each, naming every URI at fault in the reader's words."""
    checks = []
    for rule in URI_RULES:
        predicate = keeps(rule)
        detail = describes(rule)
        listed = (failing_paths(STORAGE_URIS, predicate, shown=f"{detail} + ' (at ' + e.path + ')'") if detail else
                  _listed_message(rule.summary, failing_paths(STORAGE_URIS, predicate)))
        checks.append(Check(rule.name, every(STORAGE_URIS, predicate), rule.summary, rule.fix, "spec.*.storageUri",
                            message_expression=listed,
                            field_path_expression=first_failing_path(STORAGE_URIS, predicate)))
    return tuple(checks)


def _semantics_checks() -> tuple[Check, ...]:
    c = "e.c"
    models = ", ".join(f"has({c}.{key})" for key in MODEL_KEYS["predictor"])
    return (
        _component_check(
            "canary-traffic-percent",
            f"!has({c}.canaryTrafficPercent) || ({c}.canaryTrafficPercent >= 0 && {c}.canaryTrafficPercent <= 100)",
            message="canaryTrafficPercent must be between 0 and 100",
            fix="set canaryTrafficPercent to the share of traffic (0-100) the new revision gets",
            field=".canaryTrafficPercent"),
        _component_check(
            "replicas",
            f"(!has({c}.minReplicas) || {c}.minReplicas >= 0) && (!has({c}.maxReplicas) || {c}.maxReplicas >= 0) && "
            f"(!has({c}.minReplicas) || !has({c}.maxReplicas) || {c}.maxReplicas == 0 || "
            f"{c}.maxReplicas >= {c}.minReplicas)",
            message="minReplicas and maxReplicas must be at least 0, and maxReplicas at least minReplicas",
            fix="set maxReplicas >= minReplicas (maxReplicas 0 means no upper bound)",
            field=".maxReplicas"),
        _component_check(
            "autoscaling",
            f"(!has({c}.scaleTarget) || {c}.scaleTarget > 0) && "
            f"(!has({c}.scaleMetric) || {c}.scaleMetric in {list(SCALE_METRICS)!r})",
            message=f"scaleTarget must be above 0 and scaleMetric one of {', '.join(SCALE_METRICS)}",
            fix="set scaleMetric: concurrency (or rps) and a positive scaleTarget, e.g. 10",
            field=".scaleTarget"),
        _component_check(
            "concurrency-and-timeout",
            f"(!has({c}.containerConcurrency) || {c}.containerConcurrency >= 0) && "
            f"(!has({c}.timeout) || {c}.timeout > 0)",
            message="containerConcurrency must be at least 0 and timeout above 0 seconds",
            fix="set containerConcurrency: 0 (no limit) or more, and timeout to seconds, e.g. 60",
            field=".timeout"),
        _component_check(
            "batcher",
            f"!has({c}.batcher) || ((!has({c}.batcher.maxBatchSize) || {c}.batcher.maxBatchSize > 0) && "
            f"(!has({c}.batcher.maxLatency) || {c}.batcher.maxLatency > 0))",
            message="batcher maxBatchSize and maxLatency must be above 0",
            fix="set batcher.maxBatchSize (requests per batch) and batcher.maxLatency (milliseconds) above 0",
            field=".batcher"),
        _component_check(
            "one-model",
            f"e.kind != 'predictor' || ([{models}].filter(x, x).size() <= 1 && "
            f"([{models}, has({c}.containers)].exists(x, x)))",
            message="a predictor names exactly one model: one of model, "
                    f"{', '.join(MODEL_KEYS['predictor'][1:])}, or containers",
            fix="keep one framework key (or model with modelFormat) per predictor",
            field=""),
    )


def _isvc_policies(options: BundledOptions) -> tuple[Bundled, ...]:
    variables = dict(isvc_cel.variables())

    def uses(*names: str) -> tuple[tuple[str, str], ...]:
        return tuple((name, variables[name]) for name in names)

    resources = (*(_container_check(
        section, f"e.init || ({_sets_both('e.c', section)})",
        message=f"every container must set cpu and memory {section}",
        fix=f"set resources.{section}.cpu and resources.{section}.memory on each model and container "
            "(e.g. 100m / 256Mi)", field=f".resources.{section}") for section in ("requests", "limits")),
        _container_check("quantities", _valid_quantities("e.c"), message=_QUANTITY_MESSAGE, fix=_QUANTITY_FIX,
                         field=".resources"))
    ceilings = []
    for resource, ceiling in (("cpu", options.cpu_limit_ceiling), ("memory", options.memory_limit_ceiling)):
        message = f"{resource} limit above the per-endpoint ceiling of {ceiling}"
        within = _within("e.c", resource, ceiling)  # a container's limits, or a component's pod-level ones
        pods = f"variables.{COMPONENT_SPECS}.filter(e, !({within})).map(e, e.path + '.resources')"
        ceilings.append(Check(
            name=f"{resource}-limit-ceiling",
            expression=f"{every(CONTAINERS, within)} && variables.{COMPONENT_SPECS}.all(e, {within})",
            message=message,
            fix=f"lower resources.limits.{resource} to at most {ceiling}, or ask the platform team to raise "
                "the ceiling",
            field_path=f"spec.*.resources.limits.{resource}",
            field_path_expression=(f"[{failing_paths(CONTAINERS, within)}, {pods}.join(', ')]"
                                   f".filter(s, s != '')[0].split(', ')[0] + '.resources.limits.{resource}'"),
            message_expression=_listed_message(
                message, f"[{failing_paths(CONTAINERS, within)}, {pods}.join(', ')]"
                         ".filter(s, s != '').join(', ')")))
    return (
        Bundled("neuroscale-require-labels-inferenceservice",
                "InferenceServices carry the owner and cost-center labels showback needs.",
                (_ISVC,), tuple(_label_check(label) for label in REQUIRED_LABELS)),
        Bundled("neuroscale-require-resources-inferenceservice",
                "Every InferenceService container sets cpu/memory requests and limits.", (_ISVC,), resources,
                variables=uses(CONTAINERS)),
        Bundled("neuroscale-resource-ceilings-inferenceservice",
                "Every InferenceService container stays under the per-endpoint ceiling.", (_ISVC,),
                tuple(ceilings), variables=uses(CONTAINERS, COMPONENT_SPECS)),
        Bundled("neuroscale-disallow-latest-tag-inferenceservice", "Every InferenceService image is pinned.",
                (_ISVC,), (_container_check("image-tag", f"!has(e.c.image) || {_tagged('string(e.c.image)')}",
                                            message=_PIN_MESSAGE, fix=_PIN_FIX, field=".image"),),
                variables=uses(CONTAINERS)),
        Bundled("neuroscale-run-as-non-root-inferenceservice", "Every InferenceService container runs as non-root.",
                (_ISVC,), (_container_check(
                    "run-as-non-root", _non_root(),
                    message="containers must run as non-root",
                    fix="set securityContext.runAsNonRoot: true on the container or its component, and never "
                        "runAsUser: 0 (models under a framework key inherit the serving runtime's non-root user)",
                    field=".securityContext.runAsNonRoot"),),
                variables=uses(CONTAINERS)),
        Bundled("neuroscale-storage-uri-scheme", "Models load only from allowed storage, by URIs that stay "
                "inside it.", (_ISVC,), (_storage_check(options), *_uri_shape_checks()),
                variables=uses(STORAGE_URIS)),
        Bundled("neuroscale-inferenceservice-semantics",
                "Traffic, replica, autoscaling, batching and model fields hold values KServe can honour.",
                (_ISVC,), _semantics_checks(), variables=uses(COMPONENT_SPECS)),
    )


def _policies(options: BundledOptions) -> tuple[Bundled, ...]:
    return (*_deployment_policies(options), *_isvc_policies(options), _pod_policy())


def _exempt_condition(users: tuple[str, ...]) -> dict[str, str]:
    """A matchCondition false for the exempt users; a request without a user name is judged."""
    listed = "[" + ", ".join(literal(user) for user in users) + "]"
    return {"name": EXEMPT_CONDITION, "expression": "!has(request.userInfo) || !has(request.userInfo.username) || "
                                                    f"!(request.userInfo.username in {listed})"}


def _vap(policy: Bundled, options: BundledOptions) -> dict[str, Any]:
    rules = [{**rule, "operations": ["CREATE", "UPDATE"]} for rule in policy.rules]
    spec: dict[str, Any] = {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules}}
    exempt = options.exempt_users if policy.exempt_platform else ()
    if exempt:
        spec["matchConditions"] = [_exempt_condition(exempt)]
    if policy.variables:
        spec["variables"] = [{"name": n, "expression": e} for n, e in policy.variables]
    validations = []
    for check in policy.checks:
        item = {"expression": check.expression, "message": check.message, "reason": "Invalid"}
        if check.message_expression:
            item["messageExpression"] = check.message_expression
        validations.append(item)
    spec["validations"] = validations
    annotations = {
        "policy.neuroscale.io/description": policy.description,
        RULES_ANNOTATION: json.dumps(
            [{"name": c.name, "fix": c.fix, "fieldPath": c.field_path,
              **({"fieldPathExpression": c.field_path_expression} if c.field_path_expression else {})}
             for c in policy.checks],
            separators=(",", ":")),
    }
    if exempt:
        annotations[EXEMPT_ANNOTATION] = json.dumps(list(exempt), separators=(",", ":"))
    return {"apiVersion": VAP_API, "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": policy.name, "labels": {LABEL_MANAGED_BY: MANAGED_BY}, "annotations": annotations},
            "spec": spec}


def _binding(policy: Bundled, options: BundledOptions) -> dict[str, Any]:
    spec: dict[str, Any] = {"policyName": policy.name, "validationActions": list(options.validation_actions)}
    if options.namespaces:
        spec["matchResources"] = {"namespaceSelector": {"matchExpressions": [
            {"key": NAMESPACE_LABEL, "operator": "In", "values": list(options.namespaces)}]}}
    return {"apiVersion": VAP_API, "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": f"{policy.name}-binding", "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
            "spec": spec}


def model_root_policy(roots: Sequence[Path]) -> BundledOptions:
    """The embedded platform's knobs: local model paths only under its model roots (none given: any)."""
    return BundledOptions(local_model_roots=tuple(str(root) for root in roots))


def bundled_policy_documents(options: BundledOptions | None = None) -> list[dict[str, Any]]:
    """Every bundled VAP followed by its binding, as plain dicts (fresh copies each call)."""
    chosen = options or BundledOptions()
    documents: list[dict[str, Any]] = []
    for policy in _policies(chosen):
        documents.extend((_vap(policy, chosen), _binding(policy, chosen)))
    return documents


def bundled_policy_names() -> list[str]:
    return [policy.name for policy in _policies(BundledOptions())]
