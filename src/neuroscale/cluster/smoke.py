"""`neuroscale smoke --cluster`: the reference smoke test's checks, done right.

Every check of the reference inventory (failure-modes §2) is here, in its
dependency order (GitOps → serving → portal → policy → hardening → cost),
with the reference's blind spots closed: pods must be READY, not just
Running; counts come from API fields; all InferenceServices must be Ready,
not "at least one"; the admission checks create their objects with
server-side dry run (nothing is ever left behind) and only count a denial
that names one of our policies; inference goes through the real ingress
path with the endpoint's Host header; the destructive drift check runs only
when asked for.
"""

from __future__ import annotations

import copy
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from neuroscale.cluster.kube import Kube
from neuroscale.cluster.objects import (ARGO, CLUSTER_POLICIES, DEPLOYMENTS, ISVC_PATH, PODS, VAP_PATH, app_health,
                                        available, generated_by, is_true, name_of, pod_problem, pod_ready)
from neuroscale.cluster.results import SmokeResult, failed, passed, skipped
from neuroscale.cluster.sample_request import SampleRequest
from neuroscale.cluster.smoke_inference import Target, smoke_inference
from neuroscale.platform.argocd import APPSET_NAME
from neuroscale.platform.backstage import BACKSTAGE_NAMESPACE, RELEASE
from neuroscale.platform.components import OPENCOST_NAMESPACE, OPENCOST_RELEASE
from neuroscale.platform.options import check_domain
from neuroscale.errors import InvalidInput
from neuroscale.platform.governance import LIMITS_NAME, QUEUE_PROXY_CPU, QUOTA_NAME
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_OWNER
from neuroscale.spec.quantity import parse_quantity

DEFAULT_GATEWAY = "http://127.0.0.1:8082"


@dataclass(frozen=True)
class SmokeSettings:
    namespace: str = "default"
    gateway_url: str = DEFAULT_GATEWAY  # the local side of the ingress tunnel
    endpoint: str | None = None  # which InferenceService to call; default: every Ready one
    sample: SampleRequest | None = None  # the request to send; default: built from each model's V2 metadata
    skip_policy_block: bool = False
    drift: str | None = None  # "namespace/deployment" to delete and watch Argo CD recreate (destructive)
    drift_timeout_s: float = 120.0
    poll_s: float = 5.0


Check = Callable[[Kube, SmokeSettings], list[SmokeResult]]


def _argocd_pods(kube: Kube, _: SmokeSettings) -> list[SmokeResult]:
    name = "Argo CD pods Ready"
    pods = kube.items(PODS.format(ns="argocd")) or []
    if not pods:
        return [failed("A GitOps", name, "no pods in namespace argocd", "install Argo CD (see README: Bootstrap)")]
    bad = [pod_problem(p) for p in pods if not pod_ready(p)]
    if bad:
        return [failed("A GitOps", name, "; ".join(bad),
                       "kubectl -n argocd rollout restart deploy/argocd-repo-server, then re-run (FM-01)")]
    return [passed("A GitOps", name, f"{len(pods)}/{len(pods)} Ready")]


def _applications(kube: Kube, _: SmokeSettings) -> list[SmokeResult]:
    apps = kube.items(f"{ARGO}/applications")
    if apps is None:
        return [failed("A GitOps", "Argo CD Applications", "the Application CRD is not installed",
                       "install Argo CD with its CRDs")]
    if not apps:
        return [failed("A GitOps", "Argo CD Applications", "no Applications found",
                       "apply the root app: neuroscale cluster bootstrap")]
    states = {name_of(a): app_health(a) for a in apps}
    unhealthy = sorted(f"{n} ({h})" for n, (_, h) in states.items() if h not in ("Healthy", "Progressing"))
    healthy = sum(1 for _, h in states.values() if h == "Healthy")
    results = [failed("A GitOps", "Argo CD Applications healthy", ", ".join(unhealthy),
                      "kubectl -n argocd describe application <name>; read .status.conditions")
               if unhealthy else passed("A GitOps", "Argo CD Applications healthy", f"{healthy}/{len(apps)} Healthy")]
    syncing = {name_of(a) for a in apps if ((a.get("status") or {}).get("operationState") or {}).get("phase") == "Running"}
    drift = sorted(f"{n} ({s})" for n, (s, _) in states.items() if s != "Synced" and n not in syncing)
    results.append(failed("A GitOps", "Argo CD Applications synced", ", ".join(drift),
                          "Unknown: restart argocd-repo-server (FM-01); OutOfSync: check ignoreDifferences "
                          "for controller-mutated fields (FM-05), then hard refresh")
                   if drift else passed("A GitOps", "Argo CD Applications synced", f"{len(apps)} Synced or syncing"))
    return results


def _drift(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    """Delete one Argo-managed Deployment and wait for self-heal to bring it back Ready (opt-in)."""
    name = "Drift self-heal"
    if not settings.drift:
        return [skipped("A GitOps", name, "destructive check not run",
                        "pass --drift NAMESPACE/DEPLOYMENT to delete it and time Argo CD's self-heal")]
    namespace, _, deployment = settings.drift.partition("/")
    path = f"{DEPLOYMENTS.format(ns=namespace)}/{deployment}"
    live = kube.get(path)
    if live is None:
        return [failed("A GitOps", name, f"Deployment {settings.drift} not found", "pick a Deployment Argo CD manages")]
    md = live.get("metadata") or {}
    if "argocd.argoproj.io/tracking-id" not in (md.get("annotations") or {}) and \
            "app.kubernetes.io/instance" not in (md.get("labels") or {}):
        return [failed("A GitOps", name, f"{settings.drift} is not managed by Argo CD; deleting it would lose it",
                       "pick a Deployment synced from Git")]
    deleted = kube.request("DELETE", path)
    if not deleted.ok:
        return [failed("A GitOps", name, f"delete failed: {deleted.status} {deleted.message}", "check RBAC")]
    started = time.monotonic()
    while time.monotonic() - started < settings.drift_timeout_s:
        time.sleep(settings.poll_s)
        back = kube.get(path)
        if back and (back.get("metadata") or {}).get("uid") != md.get("uid") and available(back)[0] >= 1:
            return [passed("A GitOps", name, f"{settings.drift} recreated and Ready in {time.monotonic() - started:.0f}s")]
    return [failed("A GitOps", name, f"{settings.drift} not back after {settings.drift_timeout_s:.0f}s",
                   "check the Application's syncPolicy.automated.selfHeal and its sync errors (FM-02)")]


def _deployment_check(kube: Kube, *, section: str, name: str, namespace: str, selector: str, hint: str,
                      absent: Callable[[str], SmokeResult]) -> list[SmokeResult]:
    deployments = kube.items(DEPLOYMENTS.format(ns=namespace), labelSelector=selector) or []
    if not deployments:
        return [absent(f"no Deployment matching {selector} in {namespace}")]
    counts = [available(d) for d in deployments]
    ok, want = sum(c[0] for c in counts), sum(c[1] for c in counts)
    if ok < max(want, 1):
        return [failed(section, name, f"{ok}/{want} replicas available", hint)]
    return [passed(section, name, f"{ok}/{want} replicas available")]


def _kserve_controller(kube: Kube, _: SmokeSettings) -> list[SmokeResult]:
    return _deployment_check(
        kube, section="B Serving", name="KServe controller available", namespace="kserve",
        selector="control-plane=kserve-controller-manager",
        hint="kubectl -n kserve describe deploy kserve-controller-manager (image pulls: FM-16)",
        absent=lambda why: failed("B Serving", "KServe controller available", why, "sync the 'kserve' Application"))


def _isvcs(kube: Kube, settings: SmokeSettings) -> list[dict[str, Any]]:
    return kube.items(ISVC_PATH.format(ns=settings.namespace)) or []


def _isvc_ready(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    name = "InferenceServices Ready"
    isvcs = _isvcs(kube, settings)
    if not isvcs:
        return [skipped("B Serving", name, f"no InferenceServices in {settings.namespace}",
                        "create one: neuroscale endpoint create ... (or the Backstage form)")]
    bad = []
    for isvc in isvcs:
        if not is_true(isvc, "Ready"):
            reasons = [f"{c.get('type')}={c.get('reason') or c.get('status')}"
                       for c in (isvc.get("status") or {}).get("conditions") or [] if c.get("status") != "True"]
            bad.append(f"{name_of(isvc)} ({', '.join(reasons) or 'no status yet'})")
    if bad:
        return [failed("B Serving", name, "; ".join(bad),
                       "IngressReady=False: KServe ingress config (FM-15); PredictorReady=False: runtime/storage "
                       "(FM-20); read `neuroscale doctor`")]
    return [passed("B Serving", name, f"{len(isvcs)}/{len(isvcs)} Ready")]


def _inference(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    name = "Inference through the ingress"
    ready = [i for i in _isvcs(kube, settings) if is_true(i, "Ready") and (i.get("status") or {}).get("url")]
    if settings.endpoint:
        ready = [i for i in ready if name_of(i) == settings.endpoint]
    if not ready:
        return [skipped("B Serving", name, "no Ready InferenceService with a URL to call",
                        "wait for an endpoint to become Ready")]
    results = []
    for isvc in ready:
        model = name_of(isvc)
        host = urlparse(str(isvc["status"]["url"])).hostname or ""
        try:
            check_domain(host)
        except InvalidInput:
            results.append(failed("B Serving", name, f"{model} has the placeholder URL host {host} (FM-18)",
                                  "re-run `neuroscale init --domain <a domain you control>` and merge the change"))
            continue
        results.append(smoke_inference(
            Target(settings.gateway_url, host, model), stored=settings.sample, section="B Serving", name=name,
            unreachable_hint="open the ingress tunnel: neuroscale cluster tunnels (FM-13)",
            failed_hint="HTML or 405 means the request left the cluster's ingress (placeholder domain, FM-18); 404 "
            "means the Host header matched no route; 400 names the input the model expected"))
    return results


def _backstage(kube: Kube, _: SmokeSettings) -> list[SmokeResult]:
    return _deployment_check(
        kube, section="C Portal", name="Backstage available", namespace=BACKSTAGE_NAMESPACE,
        selector=f"app.kubernetes.io/instance={RELEASE}",
        hint="Backstage needs 2-4 minutes to pass its startup probe; if pods restart, check probes (FM-30/31)",
        absent=lambda why: failed("C Portal", "Backstage available", why, "sync the neuroscale-backstage Application"))


def _appset(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    if kube.get(f"{ARGO}/applicationsets") is None:
        return [failed("F Hardening", f"ApplicationSet {APPSET_NAME}", "the ApplicationSet CRD is not installed (H-08)",
                       "install Argo CD with the ApplicationSet controller and CRD (applicationsets.argoproj.io)")]
    if kube.get(f"{ARGO}/applicationsets/{APPSET_NAME}") is None:
        return [failed("F Hardening", f"ApplicationSet {APPSET_NAME}", "not found in argocd",
                       "sync the root application: neuroscale cluster bootstrap")]
    results = [passed("F Hardening", f"ApplicationSet {APPSET_NAME}", "exists")]
    apps = {name_of(a): a for a in kube.items(f"{ARGO}/applications") or []}
    missing = [name_of(i) for i in _isvcs(kube, settings)
               if name_of(i) not in apps or not generated_by(apps[name_of(i)], APPSET_NAME)]
    generated = sum(1 for a in apps.values() if generated_by(a, APPSET_NAME))
    results.append(failed("C Portal", "Every endpoint has its ApplicationSet Application", ", ".join(missing),
                          "an endpoint without a generated Application was applied by hand or by a stray "
                          "Application (FM-07); move it under apps/<name>/")
                   if missing else passed("C Portal", "Every endpoint has its ApplicationSet Application",
                                          f"{generated} generated Application(s)"))
    return results


def _policies_installed(kube: Kube, _: SmokeSettings) -> list[SmokeResult]:
    name = "Guardrail policies installed"
    ours = [name_of(p) for p in kube.items(VAP_PATH) or [] if name_of(p).startswith("neuroscale-")]
    kyverno = [p for p in kube.items(CLUSTER_POLICIES) or [] if name_of(p).startswith("neuroscale-")]
    if kyverno:
        pods = kube.items(PODS.format(ns="kyverno")) or []
        not_ready = [pod_problem(p) for p in pods if not pod_ready(p)]
        if not pods or not_ready:
            return [failed("D Policy", "Kyverno pods Ready", "; ".join(not_ready) or "no pods in kyverno",
                           "wait for Kyverno; stale webhooks block the API meanwhile (FM-22)")]
        unready = [name_of(p) for p in kyverno if not is_true(p, "Ready")]
        if unready:
            return [failed("D Policy", name, f"not Ready: {', '.join(unready)}", "kubectl describe clusterpolicy <name>")]
        return [passed("D Policy", name, f"{len(kyverno)} Kyverno ClusterPolicies Ready")]
    if ours:
        return [passed("D Policy", name, f"{len(ours)} ValidatingAdmissionPolicies (enforced by the API server)")]
    return [failed("D Policy", name, "no neuroscale-* ValidatingAdmissionPolicy or ClusterPolicy",
                   "sync the 'policies' Application")]


def _dry_run(kube: Kube, *, section: str, name: str, path: str, obj: dict[str, Any],
             settings: SmokeSettings) -> list[SmokeResult]:
    if settings.skip_policy_block:
        return [skipped(section, name, "skipped (--skip-policy-block)")]
    resp = kube.request("POST", path, query={"dryRun": "All"}, body=obj)
    if resp.ok:
        return [failed(section, name, "accepted (dry run: nothing was created)",
                       "the policies are not enforcing; check the 'policies' Application and binding actions")]
    message = resp.message
    if resp.status in (400, 403, 422) and "neuroscale-" in message:
        return [passed(section, name, f"denied: {message[:140]}")]
    return [failed(section, name, f"rejected for another reason: HTTP {resp.status} {message[:160]}",
                   "a webhook failure is not a policy denial: check the webhook's Service endpoints (FM-16, FM-08)")]


def _bad_isvc(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    obj = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
           "metadata": {"name": "neuroscale-smoke-unlabelled", "namespace": settings.namespace},
           "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://smoke/model"}}}}
    return _dry_run(kube, section="D Policy", name="Unlabelled InferenceService denied",
                    path=ISVC_PATH.format(ns=settings.namespace), obj=obj, settings=settings)


def _root_deployment(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    labels = {"app": "neuroscale-smoke-root", LABEL_OWNER: "smoke", LABEL_COST_CENTER: "smoke"}
    container = {"name": "app", "image": "nginx:1.27.3",
                 "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "50m", "memory": "64Mi"}}}
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "neuroscale-smoke-root", "namespace": settings.namespace, "labels": labels},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "neuroscale-smoke-root"}},
                    "template": {"metadata": {"labels": copy.deepcopy(labels)}, "spec": {"containers": [container]}}}}
    return _dry_run(kube, section="F Hardening", name="Root-container Deployment denied",
                    path=DEPLOYMENTS.format(ns=settings.namespace), obj=obj, settings=settings)


def _quota(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    ns = settings.namespace
    results = []
    quota = kube.get(f"/api/v1/namespaces/{ns}/resourcequotas/{QUOTA_NAME}")
    results.append(passed("F Hardening", f"ResourceQuota {QUOTA_NAME}", "exists") if quota else
                   failed("F Hardening", f"ResourceQuota {QUOTA_NAME}", f"missing in {ns}",
                          "sync the neuroscale-namespaces Application"))
    limits = kube.get(f"/api/v1/namespaces/{ns}/limitranges/{LIMITS_NAME}")
    if not limits:
        results.append(failed("F Hardening", f"LimitRange {LIMITS_NAME}", f"missing in {ns}",
                              "sync the neuroscale-namespaces Application"))
        return results
    mins = [parse_quantity(str((item.get("min") or {}).get("cpu", "0"))) for item in limits["spec"]["limits"]
            if item.get("type") == "Container"]
    if any(m > parse_quantity(QUEUE_PROXY_CPU) for m in mins):
        results.append(failed("F Hardening", f"LimitRange {LIMITS_NAME}", "min cpu above Knative's 25m queue-proxy",
                              "lower min.cpu to 10m (FM-19)"))
    else:
        results.append(passed("F Hardening", f"LimitRange {LIMITS_NAME}", "exists; admits the queue-proxy sidecar"))
    return results


def _opencost(kube: Kube, _: SmokeSettings) -> list[SmokeResult]:
    app_exists = kube.get(f"{ARGO}/applications/{OPENCOST_RELEASE}") is not None
    return _deployment_check(
        kube, section="G Cost", name="OpenCost available", namespace=OPENCOST_NAMESPACE,
        selector=f"app.kubernetes.io/instance={OPENCOST_RELEASE}", hint="kubectl -n opencost describe deploy",
        absent=lambda why: (failed if app_exists else skipped)("G Cost", "OpenCost available", why,
                                                               "sync the neuroscale-opencost Application"))


CHECKS: tuple[Check, ...] = (_argocd_pods, _applications, _drift, _kserve_controller, _isvc_ready, _inference,
                             _backstage, _policies_installed, _bad_isvc, _appset, _quota, _root_deployment, _opencost)


def run_cluster_smoke(kube: Kube, settings: SmokeSettings) -> list[SmokeResult]:
    """Run every check in order; reachability was proven by `connect()` before this."""
    results = [passed("0 Prerequisites", "Kubernetes API reachable", f"{kube.context} at {kube.server}")]
    results.append(passed("0 Prerequisites", "kubectl available (for tunnels)", shutil.which("kubectl") or "")
                   if shutil.which("kubectl") else
                   skipped("0 Prerequisites", "kubectl available (for tunnels)", "not on PATH",
                           "install kubectl to use `neuroscale cluster tunnels`"))
    for check in CHECKS:
        results.extend(check(kube, settings))
    return results
