"""ResourceQuota and LimitRange, evaluated over the whole desired state of each namespace.

A ValidatingAdmissionPolicy sees one object at a time, so it cannot know that
the tenth InferenceService pushes the namespace over its quota; this module
replays what the API server would do if the repository were applied in order:
LimitRange defaults fill in missing requests/limits, LimitRange bounds are
checked per container (and per pod), then every ResourceQuota in the
namespace is charged. An object any of them refuses is reported and, as on a
real cluster, consumes nothing. Usage already present in a live cluster is
unknown offline, so only the desired set counts. Quota keys or scopes this
engine does not model are reported as unevaluable, never skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from neuroscale.errors import InvalidInput
from neuroscale.findings import Finding, Severity
from neuroscale.policy.report import MALFORMED, unevaluable, violation
from neuroscale.policy.subject import Subject
from neuroscale.policy.workloads import Container, Workload, workload
from neuroscale.spec.quantity import parse_quantity

QUOTA_POLICY = "neuroscale-resource-quota"
LIMIT_POLICY = "neuroscale-limit-range"
_CORE_COUNTS = {"services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers",
                "resourcequotas"}
_Amounts = dict[str, Decimal]


def _qty(value: Any) -> Decimal | None:
    try:
        return parse_quantity(value)
    except InvalidInput:
        return None


def _fmt(amount: Decimal) -> str:
    """`2.1`, `1073741824`: plain digits, no exponent, no trailing zeros."""
    return format(amount.normalize(), "f")


def _spec(subject: Subject) -> Mapping[str, Any]:
    spec = subject.obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


class _Effective:
    """A container's requests and limits after LimitRange defaulting."""

    def __init__(self, container: Container, ranges: Sequence[Mapping[str, Any]]) -> None:
        self.container = container
        self.limits: _Amounts = {}
        self.requests: _Amounts = {}
        defaults: dict[str, Any] = {}
        default_requests: dict[str, Any] = {}
        for item in ranges:
            if item.get("type") == "Container":
                for key, value in (item.get("default") or {}).items():
                    defaults.setdefault(key, value)
                for key, value in (item.get("defaultRequest") or item.get("default") or {}).items():
                    default_requests.setdefault(key, value)
        for key, value in {**defaults, **dict(container.limits)}.items():
            if (amount := _qty(value)) is not None:
                self.limits[key] = amount
        for key, value in {**default_requests, **dict(container.limits), **dict(container.requests)}.items():
            if (amount := _qty(value)) is not None:
                self.requests[key] = amount


def _limit_items(ranges: Sequence[Subject]) -> list[tuple[Subject, Mapping[str, Any]]]:
    return [(r, item) for r in ranges for item in (_spec(r).get("limits") or []) if isinstance(item, Mapping)]


def _bound_findings(subject: Subject, owner: Subject, item: Mapping[str, Any], *, what: str, path: str,
                    requests: _Amounts, limits: _Amounts) -> list[Finding]:
    problems: list[tuple[str, str]] = []
    for key, raw in (item.get("max") or {}).items():
        bound = _qty(raw)
        if bound is None:
            continue
        if key not in limits:
            problems.append((f"{path}.resources.limits.{key}", f"{what} must set a {key} limit (LimitRange max {raw})"))
        elif limits[key] > bound:
            problems.append((f"{path}.resources.limits.{key}", f"{what} {key} limit is above the LimitRange max {raw}"))
    for key, raw in (item.get("min") or {}).items():
        bound = _qty(raw)
        if bound is None:
            continue
        if key not in requests:
            problems.append((f"{path}.resources.requests.{key}",
                             f"{what} must set a {key} request (LimitRange min {raw})"))
        elif requests[key] < bound:
            problems.append((f"{path}.resources.requests.{key}",
                             f"{what} {key} request is below the LimitRange min {raw}"))
    for key, raw in (item.get("maxLimitRequestRatio") or {}).items():
        ratio = _qty(raw)
        if ratio is not None and key in limits and requests.get(key) and limits[key] / requests[key] > ratio:
            problems.append((f"{path}.resources.limits.{key}",
                             f"{what} {key} limit/request ratio is above the LimitRange maximum {raw}"))
    return [violation(subject, policy=LIMIT_POLICY, rule=owner.name, severity=Severity.ERROR, action="Deny",
                      message=message, field_path=field_path,
                      fix=f"fit the resources within LimitRange {owner.namespace}/{owner.name}")
            for field_path, message in problems]


def _limit_range_findings(subject: Subject, load: Workload | None, *, effective: list[_Effective],
                          ranges: Sequence[Subject]) -> list[Finding]:
    findings: list[Finding] = []
    for owner, item in _limit_items(ranges):
        kind = item.get("type")
        if kind == "Container" and load is not None:
            for eff in effective:
                findings += _bound_findings(subject, owner, item,
                                            what=f"container {eff.container.name or eff.container.path}",
                                            path=eff.container.path, requests=eff.requests, limits=eff.limits)
        elif kind == "Pod" and load is not None and effective:
            sums = [_sum(effective, "requests"), _sum(effective, "limits")]
            findings += _bound_findings(subject, owner, item, what="pod", path=effective[0].container.path,
                                        requests=sums[0], limits=sums[1])
        elif kind == "PersistentVolumeClaim" and subject.kind == "PersistentVolumeClaim":
            requests = {"storage": s} if (s := _qty(_pvc_storage(subject))) is not None else {}
            findings += _bound_findings(subject, owner, item, what="claim", path="spec",
                                        requests=requests, limits=requests)
        elif kind not in ("Container", "Pod", "PersistentVolumeClaim"):
            findings.append(unevaluable(f"LimitRange type {kind!r}", policy=LIMIT_POLICY,
                                        where=f"{owner.ref} spec.limits", subject=subject))
    return findings


def _sum(effective: Sequence[_Effective], section: str) -> _Amounts:
    keys = set().union(*(getattr(e, section).keys() for e in effective))
    return {k: sum((getattr(e, section)[k] for e in effective), Decimal(0))
            for k in keys if all(k in getattr(e, section) for e in effective)}


def _pvc_storage(subject: Subject) -> Any:
    return ((_spec(subject).get("resources") or {}).get("requests") or {}).get("storage")


def _usage(key: str, subject: Subject, *, load: Workload | None, effective: Sequence[_Effective],
           pods: int) -> Decimal | str | None:
    """What `subject` adds to quota key `key`; a str is a reason it must be refused; None = unmodelled key."""
    if key == "pods":
        return Decimal(pods if load is not None else 0)
    if key.startswith("count/"):
        resource, _, group = key[len("count/"):].partition(".")
        return Decimal(int(subject.resource == resource and subject.group == group))
    if key in _CORE_COUNTS:
        return Decimal(int(subject.resource == key and subject.group == ""))
    if key in ("services.loadbalancers", "services.nodeports"):
        wanted = "LoadBalancer" if key.endswith("loadbalancers") else "NodePort"
        return Decimal(int(subject.kind == "Service" and _spec(subject).get("type") == wanted))
    if key == "requests.storage":
        storage = _qty(_pvc_storage(subject)) if subject.kind == "PersistentVolumeClaim" else None
        return storage or Decimal(0)
    if key.startswith(("requests.", "limits.")):
        section, _, resource = key.partition(".")
    elif key in ("cpu", "memory", "ephemeral-storage"):
        section, resource = "requests", key
    else:
        return None
    if load is None or pods == 0:
        return Decimal(0)
    total = Decimal(0)
    for eff in effective:
        amounts = eff.requests if section == "requests" else eff.limits
        if resource not in amounts:
            return f"container {eff.container.name or eff.container.path} must set {section}.{resource}: " \
                   "a quota tracks it"
        total += amounts[resource]
    return total * pods


def _quota_path(key: str, subject: Subject, effective: Sequence[_Effective]) -> str:
    """Where in the object the charged amount comes from (for the finding's field path)."""
    if key == "pods":
        return "spec.predictor.minReplicas" if subject.kind == "InferenceService" else "spec.replicas"
    section, _, resource = key.partition(".") if "." in key else ("requests", "", key)
    if section in ("requests", "limits") and effective and not key.startswith("count/"):
        return f"{effective[0].container.path}.resources.{section}.{resource}"
    return ""


class _Quota:
    def __init__(self, subject: Subject) -> None:
        self.subject = subject
        self.hard: _Amounts = {}
        self.used: _Amounts = defaultdict(Decimal)
        spec = _spec(subject)
        self.problem = "quota scopes/scopeSelector" if spec.get("scopes") or spec.get("scopeSelector") else ""
        for key, value in (spec.get("hard") or {}).items():
            amount = _qty(value)
            if amount is None:
                self.problem = f"hard.{key} is not a quantity: {value!r}"
            else:
                self.hard[str(key)] = amount


def _charge(subject: Subject, load: Workload | None, *, effective: list[_Effective], quotas: list[_Quota],
            ) -> tuple[list[Finding], list[tuple[_Quota, str, Decimal]]]:
    findings: list[Finding] = []
    charges: list[tuple[_Quota, str, Decimal]] = []
    pods = load.pods if load is not None else 0
    for quota in quotas:
        name = quota.subject.name
        if quota.problem:
            findings.append(unevaluable(quota.problem, policy=QUOTA_POLICY,
                                        where=f"{quota.subject.ref} spec", subject=subject))
            continue
        for key, hard in quota.hard.items():
            usage = _usage(key, subject, load=load, effective=effective, pods=pods)
            fix = f"lower the request, or raise ResourceQuota {subject.namespace}/{name} hard.{key}"
            if usage is None:
                findings.append(unevaluable(f"quota key {key!r}", policy=QUOTA_POLICY,
                                            where=f"{quota.subject.ref} spec.hard", subject=subject))
            elif isinstance(usage, str):
                findings.append(violation(subject, policy=QUOTA_POLICY, rule=name, severity=Severity.ERROR,
                                          action="Deny", message=usage, fix=fix,
                                          field_path=_quota_path(key, subject, effective)))
            elif usage and quota.used[key] + usage > hard:
                findings.append(violation(
                    subject, policy=QUOTA_POLICY, rule=name, severity=Severity.ERROR, action="Deny", fix=fix,
                    message=f"exceeds ResourceQuota {name} {key}: would use {_fmt(quota.used[key] + usage)} "
                            f"of {_fmt(hard)} in namespace {subject.namespace}",
                    field_path=_quota_path(key, subject, effective)))
            elif usage:
                charges.append((quota, key, usage))
    return findings, charges


def _scale_out_warnings(subject: Subject, load: Workload, *, effective: list[_Effective],
                        quotas: list[_Quota]) -> list[Finding]:
    extra = load.max_pods - load.pods
    findings = []
    for quota in quotas:
        for key, hard in quota.hard.items():
            usage = _usage(key, subject, load=load, effective=effective, pods=extra) if not quota.problem else None
            if isinstance(usage, Decimal) and usage and quota.used[key] + usage > hard:
                findings.append(violation(
                    subject, policy=QUOTA_POLICY, rule=quota.subject.name, severity=Severity.WARNING, action="Warn",
                    message=f"scaling out to maxReplicas={load.max_pods} would exceed ResourceQuota "
                            f"{quota.subject.name} {key} ({_fmt(quota.used[key] + usage)} of {_fmt(hard)})",
                    fix="lower maxReplicas or raise the quota", field_path="spec.predictor.maxReplicas"))
    return findings


def evaluate_namespaces(subjects: Sequence[Subject]) -> list[Finding]:
    """Quota and LimitRange findings for every object, replaying admission in order."""
    by_namespace: dict[str, list[Subject]] = defaultdict(list)
    for subject in subjects:
        if subject.namespace:
            by_namespace[subject.namespace].append(subject)
    findings: list[Finding] = []
    for namespace, members in by_namespace.items():
        try:
            findings += _evaluate_namespace(members)
        except MALFORMED as exc:
            findings.append(unevaluable(f"malformed ResourceQuota/LimitRange ({type(exc).__name__}: {exc})",
                                        policy=QUOTA_POLICY, where=f"namespace {namespace}"))
    return findings


def _evaluate_namespace(members: Sequence[Subject]) -> list[Finding]:
    ranges = [s for s in members if s.kind == "LimitRange"]
    quotas = [_Quota(s) for s in members if s.kind == "ResourceQuota"]
    if not ranges and not quotas:
        return []
    findings: list[Finding] = []
    limit_items = [item for _, item in _limit_items(ranges)]
    admitted: list[tuple[Subject, Workload, list[_Effective]]] = []
    for subject in members:
        load = workload(subject.obj)
        effective = [_Effective(c, limit_items) for c in load.containers] if load else []
        denied = _limit_range_findings(subject, load, effective=effective, ranges=ranges)
        charged, charges = _charge(subject, load, effective=effective, quotas=quotas)
        denied += charged
        findings += denied
        if not any(f.severity is Severity.ERROR for f in denied):
            for quota, key, usage in charges:
                quota.used[key] += usage
            if load is not None and load.max_pods > load.pods:
                admitted.append((subject, load, effective))
    for subject, load, effective in admitted:
        findings += _scale_out_warnings(subject, load, effective=effective, quotas=quotas)
    return findings
