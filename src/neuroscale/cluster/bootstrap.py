"""`neuroscale cluster bootstrap`: prove the prerequisites, apply the root app, wait for Argo CD.

The root application is the only object a human applies; everything else is
synced from Git. Before it, the Argo CD settings the platform relies on are applied with
server-side apply, so only those keys are ours and the rest stays as
installed: `bootstrap/argocd-config.yaml` (the Application health check that
makes sync waves wait) and, derived from the Applications' chart sources, the
repository entries Argo CD needs for Helm charts in OCI registries. Before applying it we check what the reference learned the
hard way: the API answers (FM-14), Argo CD runs, and both the Application and
the ApplicationSet CRDs are installed and established (H-08) — otherwise the
model-endpoints ApplicationSet can never be created.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuroscale.cluster.kube import Kube
from neuroscale.cluster.preflight import repository_applications
from neuroscale.cluster.objects import ARGO, CRDS, DEPLOYMENTS, available, is_true, name_of
from neuroscale.errors import InvalidInput, NotFound, NotReady
from neuroscale.platform.argocd import ARGOCD_CM, oci_chart_repositories, oci_repository
from neuroscale.platform.generate import ARGOCD_CONFIG_PATH, ROOT_APP_PATH
from neuroscale.yamlio import load_one

REQUIRED_CRDS = ("applications.argoproj.io", "applicationsets.argoproj.io")
FIELD_MANAGER = "neuroscale"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass
class BootstrapReport:
    checks: list[str] = field(default_factory=list)
    applied: str = ""  # "created" | "updated"
    configured: list[str] = field(default_factory=list)
    sync: str = ""
    health: str = ""
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": self.checks, "configured": self.configured, "applied": self.applied, "sync": self.sync,
                "health": self.health, "nextSteps": self.next_steps}


def check_prerequisites(kube: Kube) -> list[str]:
    """Raise with the fix for the first missing prerequisite; return what was verified."""
    done = [f"API server reachable: {kube.server} (context {kube.context})"]
    if kube.get("/api/v1/namespaces/argocd") is None:
        raise NotFound("Argo CD is not installed (no argocd namespace)", where=f"context {kube.context}",
                       fix="install a pinned Argo CD release into the argocd namespace (README: Bootstrap)")
    for crd in REQUIRED_CRDS:
        obj = kube.get(f"{CRDS}/{crd}")
        if obj is None:
            raise NotFound(f"CRD {crd} is not installed", where=f"context {kube.context}",
                           fix="install Argo CD's full manifests, including the ApplicationSet controller and CRD "
                               "(H-08)")
        if not is_true(obj, "Established"):
            raise NotReady(f"CRD {crd} is not Established yet", where=f"context {kube.context}",
                           fix=f"kubectl wait crd/{crd} --for=condition=Established --timeout=60s")
        done.append(f"CRD {crd} established")
    servers = kube.items(DEPLOYMENTS.format(ns="argocd")) or []
    not_ready = [name_of(d) for d in servers if available(d)[0] < 1]
    if not servers or not_ready:
        raise NotReady(f"Argo CD is not ready: {', '.join(not_ready) or 'no Deployments in argocd'}",
                       where="namespace argocd",
                       fix="kubectl -n argocd rollout status deploy/argocd-server deploy/argocd-repo-server")
    done.append(f"Argo CD Deployments available: {len(servers)}")
    return done


def load_root_app(repo_dir: Path) -> dict[str, Any]:
    path = repo_dir / ROOT_APP_PATH
    if not path.is_file():
        raise NotFound(f"{ROOT_APP_PATH} not found in {repo_dir}", where=str(repo_dir),
                       fix="run from the platform repository, or generate it with `neuroscale init`")
    app = load_one(path.read_text(encoding="utf-8"), where=str(path))
    if not isinstance(app, dict) or app.get("kind") != "Application":
        raise InvalidInput("the root app file does not hold an Argo CD Application", where=str(path),
                           fix="re-run `neuroscale init` to regenerate it")
    return app


def _server_side_apply(kube: Kube, obj: dict[str, Any], *, where: str) -> str:
    kind, name = str(obj["kind"]), name_of(obj)
    namespace = str(obj["metadata"].get("namespace", "argocd"))
    target = f"/api/v1/namespaces/{namespace}/{kind.lower()}s/{name}"
    answer = kube.request("PATCH", target, query={"fieldManager": FIELD_MANAGER, "force": "true"}, body=obj,
                          content_type=APPLY_PATCH)
    if not answer.ok:
        raise NotReady(f"applying {kind} {namespace}/{name} failed: {answer.status} {answer.message}", where=where,
                       fix="check your permissions in namespace argocd")
    return f"{kind} {namespace}/{name}"


def apply_argocd_config(kube: Kube, repo_dir: Path) -> list[str]:
    """Server-side apply the argocd-cm keys of the repository and the OCI repositories its charts come from."""
    path = repo_dir / ARGOCD_CONFIG_PATH
    if not path.is_file():
        raise NotFound(f"{ARGOCD_CONFIG_PATH} not found in {repo_dir}", where=str(repo_dir),
                       fix="re-run `neuroscale init` to generate it")
    config = load_one(path.read_text(encoding="utf-8"), where=str(path))
    if not isinstance(config, dict) or config.get("kind") != "ConfigMap" or name_of(config) != ARGOCD_CM:
        raise InvalidInput(f"{ARGOCD_CONFIG_PATH} does not hold the {ARGOCD_CM} ConfigMap", where=str(path),
                           fix="re-run `neuroscale init` to regenerate it")
    done = [_server_side_apply(kube, config, where=str(path))]
    for repo in oci_chart_repositories(repository_applications(repo_dir)):
        done.append(_server_side_apply(kube, oci_repository(repo), where=f"chart repository {repo}"))
    return done


def apply_root_app(kube: Kube, app: dict[str, Any]) -> str:
    """Create the root Application, or replace its spec when it already exists."""
    name = name_of(app)
    created = kube.request("POST", f"{ARGO}/applications", body=app)
    if created.ok:
        return "created"
    if created.status != 409:
        raise NotReady(f"applying the root app failed: {created.status} {created.message}", where=f"Application/{name}",
                       fix="check your permissions in namespace argocd")
    live = kube.get(f"{ARGO}/applications/{name}") or {}
    update = {**app, "metadata": {**app["metadata"],
                                  "resourceVersion": (live.get("metadata") or {}).get("resourceVersion", "")}}
    replaced = kube.request("PUT", f"{ARGO}/applications/{name}", body=update)
    if not replaced.ok:
        raise NotReady(f"updating the root app failed: {replaced.status} {replaced.message}",
                       where=f"Application/{name}", fix="check your permissions in namespace argocd")
    return "updated"


def wait_for_argo(kube: Kube, name: str, *, timeout_s: float, poll_s: float = 2.0,
                  sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> tuple[str, str]:
    """Wait until Argo CD has compared the root app (it reports a sync status); return (sync, health)."""
    deadline = clock() + timeout_s
    while True:
        app = kube.get(f"{ARGO}/applications/{name}") or {}
        sync = ((app.get("status") or {}).get("sync") or {}).get("status")
        if sync:
            return str(sync), str(((app.get("status") or {}).get("health") or {}).get("status", "Unknown"))
        if clock() >= deadline:
            raise NotReady(f"Argo CD has not reported on {name} after {timeout_s:.0f}s", where=f"Application/{name}",
                           fix="check argocd-application-controller logs and that Argo CD can read the repository "
                               "(a repository Secret for private repos)")
        sleep(poll_s)


def bootstrap(kube: Kube, *, repo_dir: Path, timeout_s: float = 120.0) -> BootstrapReport:
    report = BootstrapReport(checks=check_prerequisites(kube))
    app = load_root_app(repo_dir)
    report.configured = apply_argocd_config(kube, repo_dir)
    report.applied = apply_root_app(kube, app)
    report.sync, report.health = wait_for_argo(kube, name_of(app), timeout_s=timeout_s)
    report.next_steps = [
        "create the Backstage token Secret (README: Bootstrap, step 4)",
        "neuroscale cluster tunnels   # Argo CD, Backstage, OpenCost and the ingress on 127.0.0.1",
        "neuroscale cluster status    # watch the waves become Synced/Healthy",
        "neuroscale smoke --cluster   # end-to-end checks once everything is Healthy",
    ]
    return report
