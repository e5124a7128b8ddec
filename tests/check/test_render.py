"""Judge what is applied: kustomizations built by the real kustomize (kubectl), findings at the source file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.findings import Finding, Severity

from .helpers import deployment, write_repo

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None and shutil.which("kustomize") is None,
                                reason="kustomize rendering needs kubectl or kustomize on PATH")

BASE = {
    "base/deployment.yaml": deployment("web").replace("  namespace: default\n", ""),
    "base/kustomization.yaml": """
        resources: [deployment.yaml]
        configMapGenerator:
          - name: web-config
            envs: [web.env]
        """,
    "base/web.env": "MODE=fast\n",
}
OVERLAY = {
    "overlays/prod/kustomization.yaml": """
        namespace: prod
        namePrefix: prod-
        resources: [../../base]
        patches:
          - path: image-patch.yaml
        """,
    "overlays/prod/image-patch.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          template:
            spec:
              containers:
                - name: app
                  image: nginx:latest
        """,
    "neuroscale.yaml": "governedNamespaces: [prod]\n",
}


def rules(findings: tuple[Finding, ...] | list[Finding], prefix: str = "") -> set[tuple[str, str]]:
    return {(f.rule, f.file) for f in findings if f.rule.startswith(prefix)}


def test_a_patched_object_is_judged_as_rendered_at_the_file_it_came_from(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {**BASE, **OVERLAY})
    report = run_check(root, options=CheckOptions())
    image = [f for f in report.findings if f.rule.startswith("neuroscale-disallow-latest-tag-deployment")]
    # The base reads nginx-free and namespace-free; as deployed it is prod/prod-web running nginx:latest,
    # in a governed namespace, so the bundled policy judges it — at base/deployment.yaml.
    assert [(f.file, f.obj.namespace if f.obj else "", f.obj.name if f.obj else "") for f in image] == [
        ("base/deployment.yaml", "prod", "prod-web")]
    assert "as rendered by overlays/prod/kustomization.yaml" in image[0].message
    # The patch is never judged as a whole object (no "selector is required" on a fragment).
    assert not [f for f in report.findings if f.file == "overlays/prod/image-patch.yaml"]
    # The generated ConfigMap (from a non-YAML input read on demand) is validated too.
    assert report.checked_objects == 2 and report.exit_code == 1


def test_the_rendered_diff_compares_rendered_objects(tmp_path: Path, run_cli: object) -> None:
    from .helpers import git

    root = write_repo(tmp_path, {**BASE, **OVERLAY})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    (root / "overlays/prod/image-patch.yaml").write_text((root / "overlays/prod/image-patch.yaml").read_text()
                                                         .replace("nginx:latest", "nginx:1.27.1"))
    report = run_check(root, base="main", options=CheckOptions())
    [change] = [c for c in report.diff if c.kind == "Deployment"]
    assert (change.change, change.namespace, change.name) == ("changed", "prod", "prod-web")
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("spec.template.spec.containers[0].image", "'nginx:latest'", "'nginx:1.27.1'")]


def test_without_kustomize_on_path_the_directory_is_reported_not_rendered(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_repo(tmp_path, {**BASE, **OVERLAY})
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    report = run_check(root, options=CheckOptions())
    [note] = [f for f in report.findings if f.rule == "NS-K001"]
    assert note.file == "overlays/prod/kustomization.yaml" and note.severity is Severity.WARNING
    assert "neither kustomize nor kubectl is on PATH" in note.message


def test_a_kustomization_that_only_lists_files_is_judged_as_written_without_a_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An endpoint directory's Kustomization renders its files unchanged: no kustomize process is needed
    # (none is on PATH here), and findings read as the file does. One transform and it must be built.
    lists_only = {"apps/web/deployment.yaml": deployment("web", image="nginx:latest"),
                  "neuroscale.yaml": "governedNamespaces: [default]\n",
                  "apps/web/Kustomization": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                            "resources: [deployment.yaml]\n"}
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    report = run_check(write_repo(tmp_path / "plain", lists_only), options=CheckOptions())
    assert not [f for f in report.findings if f.rule.startswith("NS-K")]
    [image] = [f for f in report.findings if f.rule.startswith("neuroscale-disallow-latest-tag-deployment")]
    assert image.file == "apps/web/deployment.yaml" and "as rendered" not in image.message

    renamed = {**lists_only, "apps/web/Kustomization": lists_only["apps/web/Kustomization"] + "nameSuffix: -pr-1\n"}
    report = run_check(write_repo(tmp_path / "renamed", renamed), options=CheckOptions())
    assert [f.file for f in report.findings if f.rule == "NS-K001"] == ["apps/web/Kustomization"]


def test_a_remote_resource_is_not_fetched_offline(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"infra/kserve/kustomization.yaml": """
        resources:
          - https://github.com/kserve/kserve/releases/download/v0.13.0/kserve.yaml
        """})
    report = run_check(root, options=CheckOptions())
    [note] = [f for f in report.findings if f.rule == "NS-K001"]
    assert "remote resources" in note.message and "--online" in note.fix and report.exit_code == 0


def test_a_kustomization_that_fails_to_build_is_an_error_with_kustomizes_message(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"app/kustomization.yaml": "resources: [deployment.yaml]\npatches:\n  - path: p.yaml\n",
                                 "app/deployment.yaml": deployment("web", image="nginx:latest"),
                                 "app/p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nope}\n"})
    report = run_check(root, options=CheckOptions())
    [failed] = [f for f in report.findings if f.rule == "NS-K002"]
    assert failed.severity is Severity.ERROR and failed.file == "app/kustomization.yaml"
    assert "nope" in failed.message and str(tmp_path) not in failed.message  # kustomize's words, our paths
    # Its files are then judged as written: the Deployment is still linted, the patch is not validated alone.
    assert ("NS-L003", "app/deployment.yaml") in rules(report.findings)
    assert not [f for f in report.findings if f.file == "app/p.yaml"]


def test_a_missing_resource_is_reported_before_kustomize_could_go_to_the_network(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"app/kustomization.yaml": "resources: [../shared, deployment.yaml]\n",
                                 "app/deployment.yaml": deployment("web")})
    [missing] = [f for f in run_check(root, options=CheckOptions()).findings if f.rule == "NS-K001"]
    assert "shared, which does not exist" in missing.message and missing.severity is Severity.ERROR


def test_helm_charts_in_a_kustomization_need_helm_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("helm"):
        pytest.skip("helm is installed here: the chart would be inflated")
    root = write_repo(tmp_path, {"cost/kustomization.yaml": """
        helmCharts:
          - name: opencost
            repo: https://opencost.github.io/opencost-helm-chart
            version: 2.5.17
        """})
    [note] = [f for f in run_check(root, options=CheckOptions()).findings if f.rule == "NS-K001"]
    assert note.severity is Severity.INFO and "helm is not on PATH" in note.message


def test_builds_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neuroscale.check import render

    root = write_repo(tmp_path / "repo", {**BASE, **OVERLAY})
    options = CheckOptions(cache_dir=tmp_path / "cache")
    first = run_check(root, options=options)
    real = render.find_tool()
    assert real is not None
    # Same tool identity, but a binary that cannot run: only the cache can render now.
    monkeypatch.setattr(render, "find_tool", lambda: render.Tool(("/nonexistent/kubectl", "kustomize"), real.version))
    again = run_check(root, options=options)
    assert rules(first.findings) == rules(again.findings) and rules(again.findings, "neuroscale-")
    (root / "base/web.env").write_text("MODE=slow\n")  # an input changed: the build must run (and fail here)
    changed = run_check(root, options=options)
    assert any(f.rule == "NS-K002" and "nonexistent" in f.message for f in changed.findings)


WEB_APP = """
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://git.example.org/platform.git
    path: charts/web
    helm:
      releaseName: web-prod
      valueFiles: [values-prod.yaml]
  destination: {server: https://kubernetes.default.svc, namespace: prod}
"""
WEB_CHART = {"charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
             "charts/web/values.yaml": "image: nginx:1.27\n", "charts/web/values-prod.yaml": "image: nginx:latest\n",
             "charts/web/templates/deployment.yaml": "# {{ .Values.image }}\n", "apps/web.yaml": WEB_APP}

#: A stand-in for the helm binary (not installable here): records its arguments, prints what
#: `helm template` prints for the chart above with values-prod.yaml.
FAKE_HELM = """#!/bin/sh
echo "$@" > "$HELM_ARGS"
cat <<'OUT'
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata: {name: web-prod, namespace: prod}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:latest"}]
OUT
"""


def test_without_helm_a_vendored_chart_is_reported_not_rendered(tmp_path: Path) -> None:
    if shutil.which("helm"):
        pytest.skip("helm is installed here")
    root = write_repo(tmp_path, WEB_CHART)
    [note] = [f for f in run_check(root, options=CheckOptions()).findings if f.rule == "NS-K003"]
    assert note.severity is Severity.INFO and note.file == "charts/web/Chart.yaml"
    assert "helm is not on PATH" in note.message and "Application web" in note.message


def test_a_vendored_chart_is_judged_as_helm_template_renders_it(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "helm").write_text(FAKE_HELM)
    (tools / "helm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setenv("HELM_ARGS", str(tmp_path / "args"))
    root = write_repo(tmp_path / "repo", WEB_CHART)
    report = run_check(root, options=CheckOptions())
    [latest] = [f for f in report.findings if f.rule == "NS-L003"]
    assert latest.file == "charts/web/Chart.yaml" and "as rendered by apps/web.yaml" in latest.message
    args = (tmp_path / "args").read_text().split()
    assert args[:2] == ["template", "web-prod"] and args[args.index("--namespace") + 1] == "prod"
    assert args[args.index("--values") + 1].endswith("charts/web/values-prod.yaml")


def test_builds_started_ahead_fill_the_cache_render_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neuroscale.check import render
    from neuroscale.check.loader import read_tree

    root = write_repo(tmp_path / "repo", {**BASE, **OVERLAY})
    options = CheckOptions(cache_dir=tmp_path / "cache")
    files, _ = read_tree(root, limits=options.limits)
    ahead = render.build_ahead(root, files, options)
    assert ahead is not None
    ahead.join()
    assert len(list((tmp_path / "cache/kustomize").glob("*.yaml"))) == 1  # the overlay (it includes the base)
    real = render.find_tool()
    assert real is not None
    monkeypatch.setattr(render, "find_tool", lambda: render.Tool(("/nonexistent/kubectl", "kustomize"), real.version))
    from_ahead = run_check(root, options=options)  # nothing can build now: only what was built ahead renders
    monkeypatch.undo()
    assert from_ahead.findings == run_check(root, options=CheckOptions()).findings
    assert rules(from_ahead.findings, "neuroscale-")
    assert render.build_ahead(root, files, CheckOptions()) is None  # no cache to fill: nothing is started


def _app(name: str, path: str, server: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: {name}, namespace: argocd}}\n"
            f"spec:\n  project: default\n  source: {{repoURL: 'https://git.example.org/platform.git', path: {path}}}\n"
            f"  destination: {{server: '{server}', namespace: web}}\n")


@pytest.mark.parametrize(("staging_server", "expected"), [("https://staging.example.org", []),
                                                          ("https://kubernetes.default.svc", ["Deployment.apps web is managed by 2 Appl"])])
def test_overlays_of_one_base_are_one_object_only_when_they_reach_the_same_cluster(
        tmp_path: Path, staging_server: str, expected: list[str]) -> None:
    # The usual layout: one base, an overlay per environment, an Application per overlay. The two builds
    # render the same Deployment web/web; it is one object twice only when both land in one cluster.
    overlay = "resources: [../../base]\n"
    root = write_repo(tmp_path, {**BASE, "overlays/prod/kustomization.yaml": overlay,
                                 "overlays/staging/kustomization.yaml": overlay,
                                 "argocd/prod.yaml": _app("web-prod", "overlays/prod", "https://kubernetes.default.svc"),
                                 "argocd/staging.yaml": _app("web-staging", "overlays/staging", staging_server)})
    report = run_check(root, options=CheckOptions())
    assert [f.message[:40] for f in report.findings if f.rule == "NS-L013" and "Deployment" in f.message] == expected


def test_a_failed_build_is_cached_offline_and_built_again_online(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from neuroscale.check import render

    root = write_repo(tmp_path / "repo", {"app/kustomization.yaml": "resources: [deployment.yaml]\npatches:\n"
                                                                     "  - path: p.yaml\n",
                                          "app/deployment.yaml": deployment("web"),
                                          "app/p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nope}\n"})
    options = CheckOptions(cache_dir=tmp_path / "cache")
    [first] = [f.message for f in run_check(root, options=options).findings if f.rule == "NS-K002"]
    real = render.find_tool()
    assert real is not None and "nope" in first and "run.go" not in first  # kubectl's log header is dropped
    # Same tool identity, but a binary that cannot run: only the cache can give kustomize's words now.
    monkeypatch.setattr(render, "find_tool", lambda: render.Tool(("/nonexistent/kubectl", "kustomize"), real.version))
    assert [f.message for f in run_check(root, options=options).findings if f.rule == "NS-K002"] == [first]
    online = CheckOptions(cache_dir=tmp_path / "cache", online=True)  # the network may answer: never from the cache
    [again] = [f.message for f in run_check(root, options=online).findings if f.rule == "NS-K002"]
    assert "nonexistent" in again


def test_a_cache_that_cannot_be_written_costs_time_not_the_result(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", {**BASE, **OVERLAY})
    (tmp_path / "cache").write_text("a file where the cache directory should be")
    cached = run_check(root, options=CheckOptions(cache_dir=tmp_path / "cache"))
    assert rules(cached.findings) == rules(run_check(root, options=CheckOptions()).findings)
