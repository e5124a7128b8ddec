"""The generated repository: schema-valid objects, offline kustomize builds, and the FM lessons applied."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from neuroscale.platform.options import InitOptions
from neuroscale.yamlio import load_one

from tests.platform.conftest import CrdSchemas, objects, validate_builtin
from tests.platform.installed import installed

NOT_KUBERNETES = {"Kustomization", "Template"}  # kustomize config; Backstage catalog entity
#: Kinds whose CRD ships inside a pinned chart rather than in ../shared/reference/crds.
CHART_CRDS = {"KnativeServing"}


def test_every_object_is_schema_valid(platform_repo: tuple[Path, InitOptions], reference: Path) -> None:
    root, _ = platform_repo
    crd_schemas = CrdSchemas(reference / "crds")
    # Some CRDs (Kyverno's CleanupPolicy) are only in the pinned charts the reference holds.
    crd_schemas.add(obj for app in installed(root, reference) for obj in app.objects)
    seen = set()
    for path, obj in objects(root):
        seen.add(obj["kind"])
        if obj["kind"] in NOT_KUBERNETES | CHART_CRDS:
            continue
        errors = crd_schemas.validate(obj)
        if errors is None:
            validate_builtin(obj)  # raises with the field path on any error
        else:
            assert errors == [], f"{path}: {errors}"
    assert {"Application", "ApplicationSet", "ClusterServingRuntime", "ResourceQuota", "LimitRange"} <= seen


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not installed")
def test_every_kustomization_builds_offline(platform_repo: tuple[Path, InitOptions]) -> None:
    root, _ = platform_repo
    dirs = sorted(p.parent for p in root.rglob("kustomization.yaml"))
    assert len(dirs) == 4
    for directory in dirs:
        result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True,
                                timeout=60, env={"PATH": "/usr/bin:/bin", "HTTPS_PROXY": "http://127.0.0.1:9"})
        assert result.returncode == 0, f"{directory}: {result.stderr}"
        assert "kind:" in result.stdout


def test_large_crds_use_server_side_apply_and_ignore_cabundle(platform_repo: tuple[Path, InitOptions]) -> None:
    root, _ = platform_repo
    apps = {obj["metadata"]["name"]: obj for path, obj in objects(root) if obj["kind"] == "Application"}
    for name in ("kserve-crd", "knative-operator", "serving-stack", "kserve"):
        sync = apps[name]["spec"]["syncPolicy"]["syncOptions"]
        assert "ServerSideApply=true" in sync and "RespectIgnoreDifferences=true" in sync
        paths = [p for entry in apps[name]["spec"]["ignoreDifferences"] for p in entry["jqPathExpressions"]]
        assert any("caBundle" in p for p in paths)
    assert apps["kserve-crd"]["spec"]["syncPolicy"]["automated"]["prune"] is False  # FM-06


def test_ingress_config_matches_the_chosen_ingress(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    kserve = load_one((root / "infrastructure/apps/kserve.yaml").read_text())
    gateway = kserve["spec"]["source"]["helm"]["valuesObject"]["kserve"]["controller"]["gateway"]
    assert gateway["domain"] == options.domain
    assert gateway["disableIstioVirtualHost"] is (options.ingress == "kourier")
    knative = load_one((root / "infrastructure/serving-stack/knative-serving.yaml").read_text())
    assert knative["spec"]["config"]["network"]["ingress-class"].startswith(options.ingress + ".")
    assert knative["spec"]["config"]["domain"] == {options.domain: ""}
    assert knative["spec"]["ingress"] == {options.ingress: knative["spec"]["ingress"][options.ingress]}


def test_no_placeholder_domain_or_dead_image_anywhere(platform_repo: tuple[Path, InitOptions]) -> None:
    root, _ = platform_repo
    text = "\n".join(p.read_text() for p in root.rglob("*") if p.is_file())
    assert "example.com" not in text
    assert "gcr.io/kubebuilder" not in text  # FM-16
    images = re.findall(r"(?:image|Image): (\S+)", text)
    assert images and all(re.search(r":[\w.-]+$", i) and not i.endswith(":latest") for i in images), images


def test_runtimes_have_explicit_args_and_resources(platform_repo: tuple[Path, InitOptions]) -> None:
    root, _ = platform_repo
    runtimes = [obj for _, obj in objects(root) if obj["kind"] == "ClusterServingRuntime"]
    assert sorted(r["spec"]["supportedModelFormats"][0]["name"] for r in runtimes) == ["lightgbm", "sklearn", "xgboost"]
    for runtime in runtimes:
        container = runtime["spec"]["containers"][0]
        assert {a.split("=")[0] for a in container["args"]} == {"--model_name", "--model_dir", "--http_port"}
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_limit_range_admits_the_queue_proxy(platform_repo: tuple[Path, InitOptions]) -> None:
    from neuroscale.spec.quantity import parse_quantity

    root, options = platform_repo
    limits = load_one((root / "infrastructure/namespaces/limit-range.yaml").read_text())
    assert limits["metadata"]["namespace"] == options.namespace
    assert parse_quantity(limits["spec"]["limits"][0]["min"]["cpu"]) <= parse_quantity("25m")  # FM-19


def test_policies_are_in_the_chosen_engine(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    kinds = {obj["kind"] for path, obj in objects(root) if path.startswith("infrastructure/policies/")}
    expected = {"ClusterPolicy"} if options.policy_engine == "kyverno" else {
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    if options.preview_ttl_hours:
        expected.add("CleanupPolicy")  # Kyverno's cleanup controller retires expired previews
    assert kinds - {"Kustomization"} == expected


def test_only_the_applicationset_generates_endpoint_apps(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    appsets = [obj for _, obj in objects(root) if obj["kind"] == "ApplicationSet"]
    previews = [a for a in appsets if "pullRequest" in a["spec"]["generators"][0]]
    assert len(previews) == int(options.previews) and len(appsets) == 1 + len(previews), "pull-request previews aside"
    git = next(a for a in appsets if a not in previews)["spec"]["generators"][0]["git"]
    assert git["directories"] == [{"path": "apps/*"}] and git["repoURL"] == options.repo_url
    sources = [obj["spec"].get("source", {}).get("path", "") for _, obj in objects(root) if obj["kind"] == "Application"]
    assert not any(p.startswith("apps") for p in sources)


def test_ci_workflow_runs_the_check_without_swallowing_its_status(platform_repo: tuple[Path, InitOptions]) -> None:
    root, _ = platform_repo
    workflow = load_one((root / ".github/workflows/neuroscale-check.yaml").read_text())
    steps = workflow["jobs"]["check"]["steps"]
    run = next(s["run"] for s in steps if s.get("id") == "check")
    assert "neuroscale check" in run and "--format markdown" in run and "| tee" not in run
    assert all("@" in s["uses"] and len(s["uses"].split("@")[1]) == 40 for s in steps if "uses" in s)
    assert any("gh pr comment" in s.get("run", "") for s in steps)


def test_readme_covers_bootstrap_daily_start_and_cloud_promotion(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    readme = (root / "README.md").read_text()
    for heading in ("## Bootstrap", "## Daily start", "## Checking a change", "## Promoting to a cloud cluster"):
        assert heading in readme
    for topic in ("EKS", "GKE", "Wildcard DNS", "TLS", "Production Backstage", "OpenCost billing"):
        assert topic in readme
    assert options.domain in readme and "$" + "domain" not in readme


def test_istiod_failure_policy_drift_is_ignored(platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    apps = {obj["metadata"]["name"]: obj for path, obj in objects(root) if obj["kind"] == "Application"}
    if options.ingress != "istio":
        assert not any(name.startswith("istio") for name in apps)
        return
    ignored = [p for entry in apps["istiod"]["spec"]["ignoreDifferences"]
               if entry["kind"] == "ValidatingWebhookConfiguration" for p in entry["jqPathExpressions"]]
    assert ".webhooks[]?.failurePolicy" in ignored and "RespectIgnoreDifferences=true" in \
        apps["istiod"]["spec"]["syncPolicy"]["syncOptions"]
