"""Argo CD objects of the platform repository: the root app, the per-component
Applications with sync waves, the model-endpoints ApplicationSet and its
AppProject, and the Argo CD configuration the platform depends on.

Ordering is the whole point (FM-22); `components` derives each wave from what
the component needs. Argo CD waits for a wave of Applications only when it can
tell their health, which needs the `argoproj.io_Application` health check in
`argocd-cm` - so that check is shipped here, not described. Large CRDs use
server-side apply (FM-04); fields controllers rewrite (webhook `caBundle`,
istiod's `failurePolicy`) are ignored with RespectIgnoreDifferences (FM-05).
Model endpoints sync through their own AppProject, which lets them into the
governed namespaces only, with InferenceServices as the only kind; previews through
another, which lets them into the previews namespace only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neuroscale.gitops.provider import PREVIEW_LABEL
from neuroscale.platform import previews
from neuroscale.platform.options import PREVIEW_NAMESPACE, InitOptions
from neuroscale.platform.versions import Chart

ARGOCD_NAMESPACE = "argocd"
IN_CLUSTER = "https://kubernetes.default.svc"
ROOT_APP = "neuroscale-root"
APPSET_NAME = "neuroscale-model-endpoints"
ENDPOINTS_PROJECT = "neuroscale-endpoints"
APPS_PATH = "infrastructure/apps"
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
ARGOCD_CM = "argocd-cm"
APPLICATION_HEALTH_KEY = "resource.customizations.health.argoproj.io_Application"
#: An Application is as healthy as Argo CD last assessed it; until then it is Progressing, so a wave waits.
APPLICATION_HEALTH_LUA = """local verdict = {status = "Progressing", message = "waiting for the first health assessment"}
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  verdict.status = obj.status.health.status
  verdict.message = obj.status.health.message or ""
end
return verdict
"""

#: Where controllers inject TLS bundles after apply; Git never holds them.
CRD_CABUNDLE = {
    "group": "apiextensions.k8s.io",
    "kind": "CustomResourceDefinition",
    "jqPathExpressions": [".spec.conversion.webhook.clientConfig.caBundle"],
}
WEBHOOK_CABUNDLE = [
    {"group": "admissionregistration.k8s.io", "kind": kind,
     "jqPathExpressions": [".webhooks[]?.clientConfig.caBundle"]}
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
]


@dataclass(frozen=True)
class AppSpec:
    """One Argo CD Application of the platform, before it becomes YAML."""

    name: str
    namespace: str
    path: str = ""  # a directory of this repository ...
    chart: Chart | None = None  # ... or a pinned Helm chart
    values: dict[str, Any] | None = None
    value_files: tuple[str, ...] = ()
    server_side: bool = False
    ignore_cabundle: bool = False
    prune: bool = True
    create_namespace: bool = True
    description: str = ""
    extra_ignore: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    #: Capabilities this component installs (`kind:<group>/<Kind>`, `webhook:<name>`, ...) and needs first.
    provides: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    #: Set by `components.applications` from the dependency graph.
    wave: int = 0

    @property
    def file_name(self) -> str:
        return f"{APPS_PATH}/{self.name}.yaml"


def _source(app: AppSpec, options: InitOptions) -> dict[str, Any]:
    if app.chart is not None:
        source: dict[str, Any] = {"repoURL": app.chart.repo, "chart": app.chart.name,
                                  "targetRevision": app.chart.version}
        helm: dict[str, Any] = {"releaseName": app.name}
        if app.values:
            helm["valuesObject"] = app.values
        source["helm"] = helm
        return source
    source = {"repoURL": options.repo_url, "targetRevision": "main", "path": app.path}
    if app.value_files:
        source["helm"] = {"releaseName": app.name, "valueFiles": list(app.value_files)}
    return source


def _sync_policy(app: AppSpec) -> dict[str, Any]:
    options = []
    if app.create_namespace:
        options.append("CreateNamespace=true")
    if app.server_side:
        options.append("ServerSideApply=true")
    if app.ignore_cabundle or app.extra_ignore:
        options.append("RespectIgnoreDifferences=true")
    return {
        "automated": {"prune": app.prune, "selfHeal": True},
        "syncOptions": options,
        "retry": {"limit": 5, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "3m"}},
    }


def application(app: AppSpec, options: InitOptions) -> dict[str, Any]:
    annotations = {WAVE_ANNOTATION: str(app.wave)}
    if app.description:
        annotations["neuroscale.io/description"] = app.description
    spec: dict[str, Any] = {
        "project": "default",
        "source": _source(app, options),
        "destination": {"server": IN_CLUSTER, "namespace": app.namespace},
        "syncPolicy": _sync_policy(app),
    }
    ignore: list[dict[str, Any]] = []
    if app.ignore_cabundle:
        ignore = [dict(CRD_CABUNDLE), *(dict(item) for item in WEBHOOK_CABUNDLE)]
    ignore.extend(app.extra_ignore)
    if ignore:
        spec["ignoreDifferences"] = ignore
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": app.name,
            "namespace": ARGOCD_NAMESPACE,
            "annotations": annotations,
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": spec,
    }


def root_application(options: InitOptions) -> dict[str, Any]:
    """The app of apps: the only object a human applies by hand."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": ROOT_APP, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": options.repo_url, "targetRevision": "main", "path": APPS_PATH,
                       "directory": {"recurse": False}},
            "destination": {"server": IN_CLUSTER, "namespace": ARGOCD_NAMESPACE},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def model_endpoints_appset(options: InitOptions, *, wave: int) -> dict[str, Any]:
    """One Application per `apps/<name>/` directory; no per-endpoint files anywhere else (FM-07)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {
            "name": APPSET_NAME,
            "namespace": ARGOCD_NAMESPACE,
            "annotations": {WAVE_ANNOTATION: str(wave)},
        },
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {"repoURL": options.repo_url, "revision": "main",
                                    "directories": [{"path": "apps/*"}]}}],
            "template": {
                "metadata": {"name": "{{.path.basename}}",
                             "labels": {"app.kubernetes.io/part-of": APPSET_NAME}},
                "spec": {
                    "project": ENDPOINTS_PROJECT,
                    "source": {"repoURL": options.repo_url, "targetRevision": "main", "path": "{{.path.path}}"},
                    "destination": {"server": IN_CLUSTER, "namespace": options.namespace},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": True},
                                   "retry": {"limit": 3, "backoff": {"duration": "15s", "factor": 2,
                                                                     "maxDuration": "2m"}}},
                },
            },
        },
    }


#: The Secret holding the GitHub token the pull-request generator reads (created at bootstrap, never in git).
PREVIEW_TOKEN_SECRET = "neuroscale-github"
PREVIEWS_APPSET_NAME = "endpoint-previews"
#: `endpoint/<name>` where `<name>` could be an endpoint (a DNS label, as `spec.fields` requires): any other
#: branch, which a fork names as it likes (`endpoint/feature/ÜBER-…`), would make a preview Application that
#: can only fail (no such directory, an invalid label value). Argo CD matches anywhere, hence the anchors.
PREVIEW_BRANCH_MATCH = r"^endpoint/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


def previews_appset(options: InitOptions, *, wave: int) -> dict[str, Any]:
    """One Application per open pull request: its endpoint directory at the head commit, as a preview.

    Branches are `endpoint/<name>` (what `neuroscale endpoint …` pushes), so the directory is named by the
    branch; `platform.previews` renames and moves what it renders. Only pull requests labelled
    `PREVIEW_LABEL` are listed: anyone may open one from a fork, and its model file runs in the cluster.
    The Application goes when the pull request closes or merges, or loses the label (Argo CD prunes it);
    it does not self-heal, so a preview the TTL deleted stays deleted until the next push.
    """
    endpoint = '{{ trimPrefix "endpoint/" .branch }}'

    owner, _, repo = (options.github_slug or "/").partition("/")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": PREVIEWS_APPSET_NAME, "namespace": ARGOCD_NAMESPACE,
                     "annotations": {WAVE_ANNOTATION: str(wave)}},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"pullRequest": {
                "github": {"owner": owner, "repo": repo,
                           "tokenRef": {"secretName": PREVIEW_TOKEN_SECRET, "key": "token"},
                           "labels": [PREVIEW_LABEL]},
                "filters": [{"branchMatch": PREVIEW_BRANCH_MATCH}],
                "requeueAfterSeconds": 60}}],
            "template": {
                "metadata": {"name": previews.name(endpoint, "{{.number}}"),
                             "labels": {"app.kubernetes.io/part-of": PREVIEWS_APPSET_NAME}},
                "spec": {
                    "project": previews.PROJECT,
                    "source": {"repoURL": options.repo_url, "targetRevision": "{{.head_sha}}",
                               "path": f"apps/{endpoint}",
                               "kustomize": previews.kustomize_options(endpoint, "{{.number}}")},
                    "destination": {"server": IN_CLUSTER, "namespace": PREVIEW_NAMESPACE},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": False}},
                },
            },
        },
    }


def endpoints_project(options: InitOptions, *, wave: int) -> dict[str, Any]:
    """What an endpoint's Application may deploy: InferenceServices into the endpoints' namespace, nothing else
    (previews have a project of their own: `previews_project`)."""
    return _project(ENDPOINTS_PROJECT, "model endpoints: InferenceServices in the namespace quotas and "
                    "guardrails govern", (options.namespace,), options, wave=wave)


def previews_project(options: InitOptions, *, wave: int) -> dict[str, Any]:
    """What a preview's Application may deploy: InferenceServices into the previews namespace only.

    The pull request writes the kustomization its preview is built from, and its own `transformers:` run
    after the namespace Argo CD sets; Argo CD checks every object against the project, so this is where a
    preview is kept off the endpoints' namespace (their quota, their names).
    """
    return _project(previews.PROJECT, "pull-request previews: InferenceServices in the previews namespace only",
                    (PREVIEW_NAMESPACE,), options, wave=wave)


def _project(name: str, description: str, namespaces: tuple[str, ...], options: InitOptions, *,
             wave: int) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE, "annotations": {WAVE_ANNOTATION: str(wave)}},
        "spec": {
            "description": description,
            "sourceRepos": [options.repo_url],
            "destinations": [{"server": IN_CLUSTER, "namespace": ns} for ns in namespaces],
            "clusterResourceWhitelist": [],
            "namespaceResourceWhitelist": [{"group": "serving.kserve.io", "kind": "InferenceService"}],
        },
    }


def argocd_config() -> dict[str, Any]:
    """The `argocd-cm` keys the platform needs; `cluster bootstrap` applies them server-side (other keys stay).

    The Application health check makes sync waves wait for the Applications of the previous wave.
    """
    return {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": ARGOCD_CM, "namespace": ARGOCD_NAMESPACE,
                     "labels": {"app.kubernetes.io/name": ARGOCD_CM, "app.kubernetes.io/part-of": "argocd"}},
        "data": {APPLICATION_HEALTH_KEY: APPLICATION_HEALTH_LUA},
    }


def oci_repository(repo: str) -> dict[str, Any]:
    """The repository entry Argo CD needs to pull Helm charts from an OCI registry (public: no credentials).

    Created by `cluster bootstrap` from the Applications' chart sources rather than committed: it is a Secret.
    """
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "neuroscale-oci-" + repo.replace("/", "-").replace(".", "-"),
                     "namespace": ARGOCD_NAMESPACE, "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "type": "Opaque",
        "stringData": {"type": "helm", "name": repo, "url": repo, "enableOCI": "true"},
    }


def oci_chart_repositories(applications: list[dict[str, Any]]) -> list[str]:
    """Chart repositories of Applications that are OCI registries (no URL scheme)."""
    repos = {str((a.get("spec") or {}).get("source", {}).get("repoURL", "")) for a in applications
             if (a.get("spec") or {}).get("source", {}).get("chart")}
    return sorted(r for r in repos if r and "://" not in r)
