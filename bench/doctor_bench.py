"""Time every doctor rule over a generated 5,000-object cluster snapshot (target: <= 1 s).

The snapshot scales a realistic platform: many model endpoints, each with its
InferenceService, Application, Knative objects, Deployment, ReplicaSet, Pod,
Service, EndpointSlice and events, a share of them broken so rules have work
to do (crash loops, denied syncs, webhooks without endpoints).

    .venv/bin/python bench/doctor_bench.py [--objects 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from neuroscale.cluster.snapshot import empty_snapshot
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.rules import rules_for
from neuroscale.doctor.runner import diagnose

PER_ENDPOINT = 12  # objects generated per model endpoint


def _md(name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", **extra}


def _cond(type_: str, status: str, message: str = "") -> dict[str, str]:
    return {"type": type_, "status": status, "message": message}


def _endpoint(i: int) -> dict[str, list[dict[str, Any]]]:
    ns, name = f"team-{i % 40}", f"model-{i}"
    broken = i % 10 == 0
    labels = {"owner": f"team-{i % 40}", "cost-center": f"cc-{i % 7}"}
    pod_labels = {**labels, "serving.kserve.io/inferenceservice": name, "app": f"{name}-predictor"}
    waiting = {"waiting": {"reason": "CrashLoopBackOff"}} if broken else {"running": {}}
    deny = (f'admission webhook "inferenceservice.kserve-webhook-server.validator.webhook" denied the request: '
            f'no endpoints available for service "svc-gone-{i % 5}"')
    return {
        "InferenceService": [{"kind": "InferenceService", "metadata": _md(name, ns, labels=labels),
                              "status": {"url": f"http://{name}.{ns}.127.0.0.1.sslip.io",
                                         "conditions": [_cond("Ready", "False" if broken else "True"),
                                                        _cond("PredictorReady", "False" if broken else "True")]}}],
        "Application": [{"kind": "Application", "metadata": _md(name, "argocd"),
                         "spec": {"source": {"repoURL": "https://git.example/gitops", "path": f"apps/{name}"},
                                  "syncPolicy": {"automated": {"selfHeal": True}, "retry": {"limit": 5}}},
                         "status": {"sync": {"status": "OutOfSync" if broken else "Synced"},
                                    "health": {"status": "Degraded" if broken else "Healthy"},
                                    "conditions": [{"type": "SyncError", "message": deny}] if broken else [],
                                    "resources": [{"kind": "InferenceService", "name": name, "namespace": ns,
                                                   "status": "Synced", "health": {"status": "Healthy"}}]}}],
        "KnativeService": [{"kind": "Service", "metadata": _md(f"{name}-predictor", ns),
                            "status": {"conditions": [_cond("Ready", "True")]}}],
        "Route": [{"kind": "Route", "metadata": _md(f"{name}-predictor", ns),
                   "status": {"conditions": [_cond("Ready", "True")]}}],
        "Revision": [{"kind": "Revision", "metadata": _md(f"{name}-predictor-00001", ns),
                      "status": {"conditions": [_cond("Ready", "True")]}}],
        "Deployment": [{"kind": "Deployment", "metadata": _md(f"{name}-predictor", ns, labels=labels,
                                                              ownerReferences=[{"uid": f"uid-{ns}-{name}"}]),
                        "status": {"availableReplicas": 1}}],
        "ReplicaSet": [{"kind": "ReplicaSet", "metadata": _md(
            f"{name}-predictor-abc", ns, ownerReferences=[{"uid": f"uid-{ns}-{name}-predictor"}])}],
        "Pod": [{"kind": "Pod", "metadata": _md(f"{name}-predictor-abc-x1", ns, labels=pod_labels,
                                                ownerReferences=[{"uid": f"uid-{ns}-{name}-predictor-abc"}]),
                 "status": {"phase": "Running", "conditions": [_cond("Ready", "False" if broken else "True")],
                            "containerStatuses": [{"name": "kserve-container", "ready": not broken,
                                                   "restartCount": 5 if broken else 0, "state": waiting}]}}],
        "Service": [{"kind": "Service", "metadata": _md(f"svc-{i}", ns), "spec": {"selector": {"app": name}}}],
        "EndpointSlice": [{"kind": "EndpointSlice",
                           "metadata": _md(f"svc-{i}-x", ns, labels={"kubernetes.io/service-name": f"svc-{i}"}),
                           "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]}],
        "Event": [{"kind": "Event", "metadata": _md(f"ev-{i}-{n}", ns), "reason": "Started", "type": "Normal",
                   "involvedObject": {"kind": "Pod", "namespace": ns, "name": f"{name}-predictor-abc-x1"}}
                  for n in range(2)],
    }


def build_snapshot(objects: int) -> dict[str, Any]:
    snap = empty_snapshot("cluster", takenAt="2026-05-20T09:00:00+00:00")
    for i in range(max(1, objects // PER_ENDPOINT)):
        for kind, items in _endpoint(i).items():
            snap["objects"].setdefault(kind, []).extend(items)
    hooks = [{"name": f"hook-{n}.example.dev", "failurePolicy": "Fail",
              "clientConfig": {"service": {"namespace": f"team-{n % 40}", "name": f"svc-{n}"}},
              "rules": [{"resources": ["inferenceservices"]}]} for n in range(60)]
    hooks += [{"name": f"stale-{n}.example.dev", "failurePolicy": "Fail",
               "clientConfig": {"service": {"namespace": "gone", "name": f"svc-gone-{n}"}}} for n in range(5)]
    snap["objects"]["ValidatingWebhookConfiguration"] = [{"kind": "ValidatingWebhookConfiguration",
                                                          "metadata": {"name": "bench"}, "webhooks": hooks}]
    return snap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    snap = build_snapshot(args.objects)
    size = SnapshotIndex(snap).size
    timings, findings = [], 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        diagnosis = diagnose(snap)
        timings.append(time.perf_counter() - start)
        findings = len(diagnosis.findings)
    print(f"{size} objects, {len(rules_for('cluster'))} rules, {findings} findings: "
          f"median {statistics.median(timings) * 1000:.0f} ms, max {max(timings) * 1000:.0f} ms "
          f"(index + rules + correlation; target <= 1000 ms)")


if __name__ == "__main__":
    main()
