"""Assemble the whole platform repository as {path: text}, without touching disk.

Pure: the same options always give the same bytes, so re-running `init` can
tell exactly what changed, and tests can render, validate and build the
result.
"""

from __future__ import annotations

from importlib import resources
from string import Template
from typing import Any

from neuroscale.check.repoconfig import CONFIG_FILE
from neuroscale.platform import argocd, backstage, ci, components, governance, previews, serving, template, versions
from neuroscale.platform.options import InitOptions
from neuroscale.yamlio import dump

README_PATH = "README.md"
ROOT_APP_PATH = "bootstrap/root-app.yaml"
ARGOCD_CONFIG_PATH = "bootstrap/argocd-config.yaml"


def _readme(options: InitOptions) -> str:
    text = resources.files("neuroscale.platform").joinpath("data/README.md").read_text(encoding="utf-8")
    apps, waves = components.plan(options)
    wave_lines = "\n".join(f"| {wave} | {', '.join(sorted(a.name for a in apps if a.wave == wave))} |"
                            for wave in sorted({a.wave for a in apps}))
    limits = governance.ENDPOINT_LIMITS
    return Template(text).substitute(
        domain=options.domain, ingress=options.ingress, policy_engine=options.policy_engine,
        namespace=options.namespace, fetch_crds_step=ci.FETCH_CRDS_STEP, argocd_version=versions.ARGOCD_VERSION,
        kubernetes=str(versions.supported_kubernetes(options.charts)), waves=wave_lines,
        appset_wave=waves[components.APPSET_NODE], max_cpu=limits.container_max.cpu,
        max_memory=limits.container_max.memory, prod_secret_keys=", ".join(f"`{k}`" for k in
                                                                           backstage.PROD_SECRET_KEYS),
        neuroscale_source=options.neuroscale_source, previews=previews.readme_section(options))


def _objects(options: InitOptions) -> dict[str, Any]:
    files: dict[str, Any] = {ROOT_APP_PATH: argocd.root_application(options)}
    apps, waves = components.plan(options)
    for app in apps:
        files[app.file_name] = argocd.application(app, options)
    files[f"{argocd.APPS_PATH}/project-endpoints.yaml"] = argocd.endpoints_project(
        options, wave=waves[components.ENDPOINTS_PROJECT_NODE])
    appset_file = f"{argocd.APPS_PATH}/model-endpoints.yaml"
    files[appset_file] = argocd.model_endpoints_appset(options, wave=waves[components.APPSET_NODE])
    if options.previews:
        files[f"{argocd.APPS_PATH}/endpoint-previews.yaml"] = argocd.previews_appset(
            options, wave=waves[components.APPSET_NODE])
        files[f"{argocd.APPS_PATH}/project-previews.yaml"] = argocd.previews_project(
            options, wave=waves[components.ENDPOINTS_PROJECT_NODE])
    files.update(governance.namespace_files(options))
    files.update(serving.serving_stack_files(options))
    files.update(serving.runtime_files())
    files.update(governance.policy_files(options))
    files.update(backstage.backstage_files(options))
    files.update(template.template_files(options))
    files[ci.WORKFLOW_PATH] = ci.workflow(options)
    files[ARGOCD_CONFIG_PATH] = argocd.argocd_config()
    # Read by `neuroscale check` (check/repoconfig.py): what the bundled policies govern, and the Argo CD
    # release `cluster bootstrap` installs (no manifest here pins it), so `neuroscale crds pull` finds its CRDs,
    # and the URL Argo CD fetches, so a clone whose remote is spelled otherwise (a mirror, a local path) still
    # knows which Applications sync its own directories.
    files[CONFIG_FILE] = {"governedNamespaces": list(options.governed_namespaces),
                          "releases": {"argocd": versions.ARGOCD_VERSION}, "repoURLs": [options.repo_url]}
    return files


def generate(options: InitOptions) -> dict[str, str]:
    """Every file `neuroscale init` owns, rendered."""
    out = {path: value if isinstance(value, str) else dump(value) for path, value in _objects(options).items()}
    out["apps/.gitkeep"] = ""
    out[README_PATH] = _readme(options)
    return dict(sorted(out.items()))
