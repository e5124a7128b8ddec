"""NS-L021: a component whose metrics endpoint a kustomize patch removed (FM-46).

Controllers often serve `/metrics` through a sidecar (KServe's manager
listens on 127.0.0.1:8080 behind kube-rbac-proxy's `https` port 8443). A
patch that deletes the sidecar — the usual fix when its image stops pulling —
or drops a container port leaves the metrics Service pointing at nothing:
Prometheus scrapes fail, alerts on the controller go quiet, and nothing says
why. The ports the object had — as written, or as any patch of the same
object adds them (kserve's proxy comes in by patch) — are compared with the
ports it renders with; a Service still targeting a removed one is an error, a
removed port named for metrics a warning.
"""

from __future__ import annotations

from typing import Any

from neuroscale.check.applied import patch_files
from neuroscale.check.lints.base import Lint, dig
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity
from neuroscale.policy.workloads import POD_SPEC_PATHS

ID = "NS-L021"
METRICS_HINTS = ("metrics", "prometheus", "https")


def _ports(data: Any, kind: str) -> dict[str, tuple[str, int]]:
    """port name or number (as text) -> (container, containerPort) of every container of a pod template."""
    path = POD_SPEC_PATHS.get(kind)
    spec = dig(data, *path) if path else None
    found: dict[str, tuple[str, int]] = {}
    for key in ("containers", "initContainers"):
        items = spec.get(key) if isinstance(spec, dict) else None
        for container in items if isinstance(items, list) else []:
            for port in container.get("ports") or [] if isinstance(container, dict) else []:
                if isinstance(port, dict) and isinstance(port.get("containerPort"), int):
                    entry = (str(container.get("name", "")), port["containerPort"])
                    found[str(port["containerPort"])] = entry
                    if port.get("name"):
                        found[str(port["name"])] = entry
    return found


def _labels(data: Any, kind: str) -> dict[str, Any]:
    path = POD_SPEC_PATHS.get(kind)
    labels = dig(data, *path[:-1], "metadata", "labels") if path else None
    return labels if isinstance(labels, dict) else {}


def _selects(service: Document, workload: Document) -> bool:
    selector = dig(service.data, "spec", "selector")
    labels = _labels(workload.data, workload.kind)
    return (isinstance(selector, dict) and bool(selector) and (service.namespace or "default") ==
            (workload.namespace or "default") and all(labels.get(k) == v for k, v in selector.items()))


def _patches_of(view: RepoView, written: Any, kind: str, patches: set[str]) -> list[Any]:
    name = dig(written, "metadata", "name")
    return [doc.data for doc in view.documents if doc.path in patches and doc.kind == kind and doc.name == name]


def check(view: RepoView) -> list[Finding]:
    services = view.of_kind("Service")
    patches = patch_files(view)
    findings = []
    for doc in view.objects():
        if doc.written is None or doc.kind not in POD_SPEC_PATHS:
            continue
        before = _ports(doc.written, doc.kind)
        for patch in _patches_of(view, doc.written, doc.kind, patches):
            before.update({k: v for k, v in _ports(patch, doc.kind).items() if k not in before})
        after = _ports(doc.data, doc.kind)
        removed = {key: entry for key, entry in before.items() if key not in after}
        if not removed:
            continue
        targeted = set()
        for service in (s for s in services if _selects(s, doc)):
            for port in dig(service.data, "spec", "ports") or []:
                target = str(port.get("targetPort", port.get("port", ""))) if isinstance(port, dict) else ""
                if target in removed:
                    container, number = removed[target]
                    targeted.add(removed[target])
                    findings.append(view.finding(
                        doc, rule=ID, severity=Severity.ERROR, needle="ports:",
                        message=f"a patch removed port {target} ({container}:{number}) that Service {service.name} "
                                "still targets: that endpoint (metrics, webhook) answers nothing",
                        fix="keep the container and port (pin a maintained image instead of deleting the sidecar), "
                            "or patch the Service and its scrapers to the port that serves now"))
        for key, (container, number) in sorted(removed.items()):
            if (container, number) not in targeted and not key.isdigit() and any(h in key for h in METRICS_HINTS):
                targeted.add((container, number))
                findings.append(view.finding(
                    doc, rule=ID, severity=Severity.WARNING, needle="ports:",
                    message=f"a patch removed the {key} port ({container}:{number}): its metrics are no longer served",
                    fix="keep a metrics port reachable, or remove the scrape configuration with it"))
    return findings


LINT = Lint(id=ID, title="Metrics endpoint removed by a patch", failure_modes=("FM-46",),
            severity=Severity.ERROR, check=check)
