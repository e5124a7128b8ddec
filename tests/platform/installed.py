"""What the generated platform installs, object by object: its own files plus the pinned charts, rendered.

Each Argo CD Application of a generated repository is turned into the objects Argo CD would apply: the
YAML files of a local path (Backstage: its wrapper chart's dependency rendered with the profile's values),
or the pinned chart rendered with the Application's values. Charts come from `../shared/reference/charts/`
and are rendered by `helm template` when helm is on PATH, else by Helm's own Go SDK (helm-python-sdk,
a test dependency). A chart the reference does not hold (cert-manager, Istio, the Knative operator) is
listed in `unreadable`, so tests say what they could not see instead of passing over it. Helm test
hooks are dropped: Argo CD does not run them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from neuroscale.mappings import deep_merged
from neuroscale.platform import versions
from neuroscale.platform.argocd import APPS_PATH
from neuroscale.platform.backstage import BACKSTAGE_PATH

#: Pinned charts the reference holds, by chart name.
REFERENCE_CHARTS = {
    versions.KSERVE_CRD.name: f"kserve-crd-{versions.KSERVE_CRD.version}.tgz",
    versions.KSERVE.name: f"kserve-resources-{versions.KSERVE.version}.tgz",
    versions.KYVERNO.name: f"kyverno-{versions.KYVERNO.version}.tgz",
    versions.OPENCOST.name: f"opencost-{versions.OPENCOST.version}.tgz",
    versions.BACKSTAGE.name: f"backstage-{versions.BACKSTAGE.version}.tgz",
}


@dataclass
class InstalledApp:
    """One Application and the objects it applies."""

    name: str
    wave: int
    namespace: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    readable: bool = True


def _documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if isinstance(d, dict) and d.get("kind")]


def render_chart(chart: Path, values: dict[str, Any], *, release: str, namespace: str) -> list[dict[str, Any]]:
    """The chart's manifests as `helm template` prints them (helm binary if present, else Helm's Go SDK)."""
    helm = shutil.which("helm")
    if helm:
        done = subprocess.run([helm, "template", release, str(chart), "--namespace", namespace, "--values", "-"],
                              input=json.dumps(values), capture_output=True, text=True, timeout=120, check=True)
        return _documents(done.stdout)
    import helm_python

    with helm_python.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values, name=release, namespace=namespace)
    return [doc for path, text in sorted(rendered.items()) if path.endswith((".yaml", ".yml"))
            for doc in _documents(text)]


#: Cluster-scoped kinds the generated files and the readable charts hold.
CLUSTER_KINDS = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ClusterServingRuntime", "ClusterStorageContainer", "ClusterPolicy", "ClusterCleanupPolicy", "APIService",
    "PriorityClass", "StorageClass", "ClusterPolicyReport", "ClusterEphemeralReport"})


def _with_namespace(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """Argo CD puts namespaced objects without a namespace into the destination namespace."""
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        if obj["kind"] not in CLUSTER_KINDS and not metadata.get("namespace"):
            metadata["namespace"] = namespace
    return objects


def _not_a_test_hook(obj: dict[str, Any]) -> bool:
    hook = str(((obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", ""))
    return "test" not in hook


def installed(root: Path, reference: Path) -> list[InstalledApp]:
    """Every Application of the repository at `root`, with the objects it would apply."""
    apps = []
    for path in sorted((root / APPS_PATH).glob("*.yaml")):
        for app in _documents(path.read_text()):
            if app["kind"] != "Application":
                continue
            spec = app["spec"]
            source, namespace = spec["source"], spec["destination"]["namespace"]
            name = app["metadata"]["name"]
            entry = InstalledApp(name, int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]), namespace)
            if source.get("chart"):
                tgz = REFERENCE_CHARTS.get(source["chart"])
                if tgz is None or source["targetRevision"] != tgz.rsplit("-", 1)[1].removesuffix(".tgz"):
                    entry.readable = False
                else:
                    values = source.get("helm", {}).get("valuesObject") or {}
                    entry.objects = render_chart(reference / "charts" / tgz, values, release=name,
                                                 namespace=namespace)
            elif source["path"] == BACKSTAGE_PATH:
                merged: dict[str, Any] = yaml.safe_load((root / BACKSTAGE_PATH / "values.yaml").read_text())
                for value_file in source["helm"]["valueFiles"]:
                    merged = deep_merged(merged, yaml.safe_load((root / BACKSTAGE_PATH / value_file).read_text()))
                entry.objects = render_chart(reference / "charts" / REFERENCE_CHARTS["backstage"],
                                             merged["backstage"], release=name, namespace=namespace)
            else:
                entry.objects = [doc for file in sorted((root / source["path"]).glob("*.yaml"))
                                 if file.name != "kustomization.yaml" for doc in _documents(file.read_text())]
            entry.objects = _with_namespace([o for o in entry.objects if _not_a_test_hook(o)], namespace)
            apps.append(entry)
    return apps
