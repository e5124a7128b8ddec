"""The version table, the generated files and the pinned charts agree with each other.

Read against the packaged charts in ../shared/reference/charts/: their versions are the table's, every
values key the generated Applications set exists in the chart's default values, every field of the
generated Kyverno policies exists in the CRD the pinned Kyverno chart installs (and nothing the API server
would default is left out), every image the platform runs is pinned and comes from a registry that still
serves it, and the CI downloads the CRDs of exactly the pinned releases.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from neuroscale.platform import versions
from neuroscale.platform.ci import FETCH_CRDS_STEP
from neuroscale.platform.options import InitOptions

from tests.platform.conftest import objects
from tests.platform.installed import REFERENCE_CHARTS, installed, render_chart
from tests.policy.test_policy_export import undeclared_defaults, unknown_fields

#: Registries that stopped serving or moved (the dated list of NS-L016 adds to it when present).
MOVED_REGISTRIES = ("gcr.io/kubebuilder/", "k8s.gcr.io/", "gcr.io/google_containers/", "docker.io/bitnami/",
                    "docker.io/bitnamicharts/", "quay.io/coreos/")


def moved_registries() -> tuple[str, ...]:
    data = resources.files("neuroscale.check").joinpath("data/moved-images.yaml")
    extra = [str(e["prefix"]) for e in yaml.safe_load(data.read_text())] if data.is_file() else []
    return (*MOVED_REGISTRIES, *extra)


def chart_file(reference: Path, chart: str, name: str) -> dict[str, Any]:
    """One YAML file of a reference chart (Chart.yaml, values.yaml)."""
    with tarfile.open(reference / "charts" / REFERENCE_CHARTS[chart]) as tar:
        member = tar.extractfile(f"{REFERENCE_CHARTS[chart].rsplit('-', 1)[0]}/{name}")
        assert member is not None
        loaded: dict[str, Any] = yaml.safe_load(member.read())
        return loaded


@pytest.mark.parametrize("pinned", [versions.KSERVE_CRD, versions.KSERVE, versions.KYVERNO, versions.OPENCOST,
                                    versions.BACKSTAGE], ids=lambda c: c.name)
def test_the_table_pins_the_reference_charts(reference: Path, pinned: versions.Chart) -> None:
    chart = chart_file(reference, pinned.name, "Chart.yaml")
    assert (chart["name"], str(chart["version"])) == (pinned.name, pinned.version)
    if pinned.app_version:
        assert str(chart["appVersion"]) == pinned.app_version


def unknown_keys(values: Any, defaults: Any, path: str = "") -> Iterator[str]:
    """Paths in `values` the chart's defaults do not define (an empty mapping default takes any keys)."""
    if not isinstance(values, dict) or not values:
        return
    if not isinstance(defaults, dict):
        yield path
        return
    if not defaults:
        return
    for key, value in values.items():
        if key not in defaults:
            yield f"{path}.{key}"
        else:
            yield from unknown_keys(value, defaults[key], f"{path}.{key}")


def test_every_values_key_exists_in_the_pinned_chart(platform_repo: tuple[Path, InitOptions],
                                                     reference: Path) -> None:
    root, _ = platform_repo
    seen = set()
    for _, app in objects(root):
        source = app.get("spec", {}).get("source", {}) if app["kind"] == "Application" else {}
        if source.get("chart") in REFERENCE_CHARTS:
            values = source.get("helm", {}).get("valuesObject") or {}
            assert list(unknown_keys(values, chart_file(reference, source["chart"], "values.yaml"))) == [], source["chart"]
            seen.add(source["chart"])
    # Backstage's chart has a values.schema.json that forbids unknown keys: test_platform_backstage.py.
    assert {"kserve-resources", "opencost"} <= seen


def test_the_generated_kyverno_policies_fit_the_pinned_kyverno_crd(reference: Path, tmp_path: Path) -> None:
    from tests.platform.conftest import make_options, write_repo

    root = tmp_path / "repo"
    write_repo(root, make_options(ingress="istio", engine="kyverno", namespace="ml-prod"))
    crds = render_chart(reference / "charts" / REFERENCE_CHARTS["kyverno"], {}, release="kyverno",
                        namespace="kyverno")
    [crd] = [c for c in crds if c["kind"] == "CustomResourceDefinition" and
             c["metadata"]["name"] == "clusterpolicies.kyverno.io"]
    [schema] = [v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"] if v["name"] == "v1"]
    policies = [obj for path, obj in objects(root) if obj["kind"] == "ClusterPolicy"]
    assert len(policies) >= 10
    for policy in policies:
        assert unknown_fields(policy, schema) == [], policy["metadata"]["name"]
        assert undeclared_defaults(policy, schema) == [], policy["metadata"]["name"]
        exempt = [r for r in policy["spec"]["rules"] if any("subjects" in e for e in r.get("exclude", {})
                                                            .get("any", []))]
        # Kyverno refuses user filters in background mode.
        assert not exempt or policy["spec"]["background"] is False


def _images(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "image" and isinstance(item, str):
                yield item
            elif key == "image" and isinstance(item, dict) and "repository" in item:
                yield f"{item.get('registry', 'docker.io')}/{item['repository']}:{item.get('tag', '')}"
            else:
                yield from _images(item)
    elif isinstance(value, list):
        for item in value:
            yield from _images(item)


def _normalised(image: str) -> str:
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    return image if "." in first or ":" in first else f"docker.io/{image}"


def test_every_image_is_pinned_and_still_served(platform_repo: tuple[Path, InitOptions], reference: Path) -> None:
    root, _ = platform_repo
    found = {image for _, obj in objects(root) for image in _images(obj)}
    for app in installed(root, reference):
        found |= {image for obj in app.objects for image in _images(obj)}
    moved = moved_registries()
    assert len(found) >= 8, found
    for image in sorted(found):
        assert re.search(r"(:[\w][\w.-]*(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$", image), \
            f"{image} is not pinned"
        assert not image.endswith(":latest") and not re.search(r":latest@", image), image
        assert not _normalised(image).startswith(moved), f"{image} comes from a registry that moved or stopped"


def test_kserve_comes_without_modelmesh_and_with_its_certificate(platform_repo: tuple[Path, InitOptions],
                                                                 reference: Path) -> None:
    root, _ = platform_repo
    [kserve] = [a for a in installed(root, reference) if a.name == "kserve"]
    text = yaml.safe_dump_all(kserve.objects)
    assert "modelmesh" not in text.lower() and "etcd" not in text.lower()
    certificates = {f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in kserve.objects
                    if o["kind"] == "Certificate"}
    injected = {o["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] for o in kserve.objects
                if "Webhook" in o["kind"]}
    assert injected and injected <= certificates
    deploy = next(o for o in kserve.objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] ==
                  "inferenceservice-config")["data"]["deploy"]
    assert '"defaultDeploymentMode": "Knative"' in deploy


def test_ci_downloads_the_crds_of_the_pinned_releases(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    workflow = yaml.safe_load((root / ".github/workflows/neuroscale-check.yaml").read_text())
    script = next(s["run"] for s in workflow["jobs"]["check"]["steps"] if s.get("name") == FETCH_CRDS_STEP)
    urls = re.findall(r"https://\S+", script)
    expected = {"kserve/kserve/releases/download/": versions.KSERVE.release,
                "argoproj/argo-cd/": versions.ARGOCD_VERSION,
                "knative/operator/releases/download/knative-": versions.KNATIVE_OPERATOR.release,
                "cert-manager/cert-manager/releases/download/": versions.CERT_MANAGER.release}
    if options.policy_engine == "kyverno":
        expected["kyverno/kyverno/releases/download/"] = versions.KYVERNO.release
    for marker, version in expected.items():
        [url] = [u for u in urls if marker in u]
        assert url.split(marker, 1)[1].split("/", 1)[0] == version, url
    assert len(urls) == len(expected)


def _pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Pod":
        yield spec
    elif isinstance(spec.get("template"), dict) and isinstance(spec["template"].get("spec"), dict):
        yield spec["template"]["spec"]
    elif obj["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]


def test_rendered_containers_apply_server_side(platform_repo: tuple[Path, InitOptions], reference: Path) -> None:
    """Server-side apply refuses a list with two entries of one merge key (an env var set twice, say)."""
    root, _ = platform_repo
    containers = [c for app in installed(root, reference) for obj in app.objects for pod in _pod_specs(obj)
                  for c in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]]
    assert len(containers) >= 5
    for container in containers:
        for key, merge in (("env", "name"), ("ports", "containerPort"), ("volumeMounts", "mountPath")):
            values = [item[merge] for item in container.get(key) or []]
            assert len(values) == len(set(values)), f"{container['name']}: {key} repeats a {merge}: {values}"


def test_opencost_has_a_data_source(platform_repo: tuple[Path, InitOptions], reference: Path) -> None:
    root, _ = platform_repo
    [app] = [a for a in installed(root, reference) if a.name == "neuroscale-opencost"]
    [exporter] = [c for o in app.objects if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]
                  ["containers"] if c["name"] == "neuroscale-opencost"]
    env = {e["name"]: e.get("value") for e in exporter["env"]}
    assert env["COLLECTOR_DATA_SOURCE_ENABLED"] == "true"  # usage collected without a Prometheus
    assert any(o["kind"] == "PersistentVolumeClaim" for o in app.objects)
