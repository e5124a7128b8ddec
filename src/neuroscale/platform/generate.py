"""Assemble the whole platform repository as {path: text}, without touching disk.

Pure: the same options always give the same bytes, so re-running `init` can
tell exactly what changed, and tests can render, validate and build the
result.
"""

from __future__ import annotations

from importlib import resources
from string import Template
from typing import Any

from neuroscale.platform import argocd, backstage, ci, components, governance, serving, template, versions
from neuroscale.platform.options import InitOptions
from neuroscale.yamlio import dump

README_PATH = "README.md"
ROOT_APP_PATH = "bootstrap/root-app.yaml"


def _readme(options: InitOptions) -> str:
    text = resources.files("neuroscale.platform").joinpath("data/README.md").read_text(encoding="utf-8")
    return Template(text).substitute(domain=options.domain, ingress=options.ingress,
                                     policy_engine=options.policy_engine, namespace=options.namespace,
                                     fetch_crds_step=ci.FETCH_CRDS_STEP)


def _objects(options: InitOptions) -> dict[str, Any]:
    files: dict[str, Any] = {ROOT_APP_PATH: argocd.root_application(options)}
    for app in components.applications(options):
        files[app.file_name] = argocd.application(app, options)
    appset_file = f"{argocd.APPS_PATH}/model-endpoints.yaml"
    files[appset_file] = argocd.model_endpoints_appset(options, wave=components.APPSET_WAVE)
    files.update(governance.namespace_files(options))
    files.update(serving.serving_stack_files(options))
    files.update(serving.runtime_files())
    files.update(governance.policy_files(options))
    files.update(backstage.backstage_files(options))
    files.update(template.template_files(options))
    files[ci.WORKFLOW_PATH] = ci.workflow(options)
    # Read by `neuroscale check` (check/repoconfig.py): what the bundled policies govern, and the Argo CD
    # release `cluster bootstrap` installs (no manifest here pins it), so `neuroscale crds pull` finds its CRDs.
    files["neuroscale.yaml"] = {"governedNamespaces": [options.namespace],
                                "releases": {"argocd": versions.ARGOCD_VERSION}}
    return files


def generate(options: InitOptions) -> dict[str, str]:
    """Every file `neuroscale init` owns, rendered."""
    out = {path: value if isinstance(value, str) else dump(value) for path, value in _objects(options).items()}
    out["apps/.gitkeep"] = ""
    out[README_PATH] = _readme(options)
    return dict(sorted(out.items()))
