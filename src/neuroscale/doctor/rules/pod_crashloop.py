"""FM-30 / FM-31 / FM-20: a container keeps crashing, or only looks like it.

Crash loops are reported with the last log lines. Two look-alikes are told
apart (FM-31): a crashing pod from an old ReplicaSet during a rollout is
transitional, and a pod Running 0/1 inside its startup-probe budget is starting.
The Argo CD repo-server has its own rule (it explains Application states).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from neuroscale.doctor.index import Obj, SnapshotIndex, dig, labels_of, name_of, namespace_of
from neuroscale.doctor.k8s import PLATFORM_NAMESPACES, container_statuses, pod_ready, ref, waiting
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.doctor.rules.repo_server import REPO_SERVER_LABEL
from neuroscale.findings import Severity

REVISION = "deployment.kubernetes.io/revision"


def _category(pod: Obj) -> Category:
    if namespace_of(pod) == "backstage":
        return Category.PORTAL
    return Category.CONTROLLERS if namespace_of(pod) in PLATFORM_NAMESPACES else Category.WORKLOADS


def _is_old_replica(index: SnapshotIndex, pod: Obj) -> bool:
    rs = index.owner_of(pod)
    deployment = index.owner_of(rs) if rs is not None else None
    if rs is None or deployment is None:
        return False
    mine = str(dig(rs, "metadata", "annotations", REVISION) or "")
    newest = str(dig(deployment, "metadata", "annotations", REVISION) or "")
    return bool(mine and newest and mine != newest)


def _startup_budget_s(pod: Obj, container: str) -> float:
    for spec in dig(pod, "spec", "containers") or []:
        if spec.get("name") == container and spec.get("startupProbe"):
            probe = spec["startupProbe"]
            return float(probe.get("initialDelaySeconds", 0)) + float(probe.get("failureThreshold", 3)) * float(
                probe.get("periodSeconds", 10))
    return 0.0


def _age_s(pod: Obj, taken_at: str) -> float | None:
    started = dig(pod, "status", "startTime")
    try:
        return (datetime.fromisoformat(taken_at.replace("Z", "+00:00"))
                - datetime.fromisoformat(str(started).replace("Z", "+00:00"))).total_seconds()
    except (TypeError, ValueError):
        return None


def _log_tail(index: SnapshotIndex, pod: Obj, container: str) -> str:
    text = index.logs.get(f"{namespace_of(pod)}/{name_of(pod)}/{container}", "")
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if any(w in line.lower() for w in ("error", "fatal", "exception", "failed"))]
    return (errors or lines or [""])[-1]


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    taken_at = str(index.meta.get("takenAt", ""))
    for pod in index.objects("Pod"):
        if labels_of(pod).get(REPO_SERVER_LABEL[0]) == REPO_SERVER_LABEL[1]:
            continue
        for status in container_statuses(pod):
            finding = _diagnose(index, pod, status, taken_at)
            if finding is not None:
                found.append(finding)
    return found


def _diagnose(index: SnapshotIndex, pod: Obj, status: Any, taken_at: str) -> DoctorFinding | None:
    reason, _ = waiting(status)
    container = str(status.get("name", ""))
    restarts = int(status.get("restartCount", 0))
    last = dig(status, "lastState", "terminated") or {}
    evidence = (f"containerStatuses[{container}].state.waiting.reason={reason}, restartCount={restarts}"
                + (f", lastState.terminated.exitCode={last.get('exitCode')}" if last else ""))
    tail = _log_tail(index, pod, container)
    if tail:
        evidence += f"; log: {tail}"
    if reason == "CrashLoopBackOff":
        if _is_old_replica(index, pod):
            return RULE.finding(
                obj=ref(pod, "Pod"), severity=Severity.INFO, category=_category(pod),
                message=f"{container} crashes in a pod of an old ReplicaSet (rollout in progress)",
                evidence=evidence + "; pod-template-hash is not the Deployment's newest revision",
                root_cause="the old ReplicaSet is still being scaled down; the crash is transitional",
                fix=f"kubectl -n {namespace_of(pod)} rollout status deploy/<name>  # do not delete all pods "
                "mid-rollout", covers=("FM-31",),
            )
        return RULE.finding(
            obj=ref(pod, "Pod"), category=_category(pod),
            message=f"{container} is in CrashLoopBackOff ({restarts} restarts)", evidence=evidence,
            root_cause="the container exits soon after start"
            + (" — or is killed by a startup probe that fires before the app has started (probe values at the "
               "wrong Helm nesting level fall back to chart defaults)" if namespace_of(pod) == "backstage" else ""),
            fix=f"kubectl -n {namespace_of(pod)} logs {name_of(pod)} -c {container} --previous --tail=50\n"
            f"kubectl -n {namespace_of(pod)} get pod {name_of(pod)} -o jsonpath='{{.spec.containers[*].startupProbe}}'"
            "  # fix the cause in Git (image, args, probes under backstage.backstage.*), not with kubectl",
            explains_when=(f"pod {namespace_of(pod)}/{name_of(pod)}",),
        )
    running = "running" in (status.get("state") or {})
    if running and not status.get("ready") and not pod_ready(pod):
        budget = _startup_budget_s(pod, container)
        age = _age_s(pod, taken_at)
        if budget and age is not None and age < budget:
            return None  # still inside its startup window: starting, not failing (FM-31)
        if restarts == 0 and not budget:
            return None
        return RULE.finding(
            obj=ref(pod, "Pod"), severity=Severity.WARNING, category=_category(pod),
            message=f"{container} is Running but not Ready" + (f" after {int(age)}s (startup budget {int(budget)}s)"
                                                              if age is not None and budget else ""),
            evidence=evidence, root_cause="the readiness or startup probe keeps failing",
            fix=f"kubectl -n {namespace_of(pod)} describe pod {name_of(pod)}  # read the Unhealthy events",
            explains_when=(f"pod {namespace_of(pod)}/{name_of(pod)}",),
        )
    return None


RULE = Rule(
    id="crash-loop", title="Containers not crash-looping", covers=("FM-30", "FM-31", "FM-20"),
    category=Category.WORKLOADS, severity=Severity.ERROR, check=check,
)
