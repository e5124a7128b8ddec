"""`neuroscale cluster preflight` against recorded API answers: a cluster ready for the platform, and one that is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from neuroscale.cli import cluster as cluster_cli
from neuroscale.cluster.kube import connect
from neuroscale.cluster.preflight import preflight
from neuroscale.errors import NotFound

from tests.cluster.fake_api import FakeApi
from tests.platform.conftest import make_options, write_repo


@pytest.fixture(scope="module")
def platform_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("platform")
    write_repo(root, make_options())
    return root


def cli(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    cluster_cli.register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_ready_cluster_passes(tmp_path: Path, platform_repo: Path) -> None:
    with FakeApi.from_fixture("preflight-ready") as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        results = preflight(kube, repo_dir=platform_repo)
        kube.close()
    assert [(r.name, r.outcome) for r in results] == [
        ("Kubernetes version", "PASS"), ("no conflicting CRDs or webhooks", "PASS"), ("default StorageClass", "PASS"),
        ("LoadBalancer support", "PASS"), ("cluster-admin rights", "PASS")]
    assert "v1.31.4+k3s1" in results[0].detail and "1.30-1.31" in results[0].detail
    assert "k3s://" in results[3].detail
    # Read-only but for one SelfSubjectAccessReview: preflight changes nothing.
    writes = [r for r in api.requests if r["method"] != "GET"]
    assert [(r["method"], r["body"]["kind"]) for r in writes] == [("POST", "SelfSubjectAccessReview")]
    assert writes[0]["body"]["spec"]["resourceAttributes"] == {"verb": "*", "group": "*", "resource": "*"}


def test_a_cluster_that_would_half_install_fails_with_fixes(tmp_path: Path, platform_repo: Path) -> None:
    with FakeApi.from_fixture("preflight-blocked") as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        results = {r.name: r for r in preflight(kube, repo_dir=platform_repo)}
        kube.close()
    assert {name: r.outcome for name, r in results.items()} == {
        "Kubernetes version": "FAIL", "no conflicting CRDs or webhooks": "FAIL", "default StorageClass": "FAIL",
        "LoadBalancer support": "SKIP", "cluster-admin rights": "FAIL"}
    conflicts = results["no conflicting CRDs or webhooks"].detail
    for culprit in ("inferenceservices.serving.kserve.io", "certificates.cert-manager.io",
                    "webhook inferenceservice.serving.kserve.io"):
        assert culprit in conflicts
    assert "v1.29.9" in results["Kubernetes version"].detail and "1.30-1.31" in results["Kubernetes version"].hint
    assert "is-default-class" in results["default StorageClass"].hint
    assert all(r.hint for r in results.values() if r.outcome != "PASS")


def test_cli_exit_code_and_json(tmp_path: Path, platform_repo: Path) -> None:
    with FakeApi.from_fixture("preflight-ready") as api:
        code, out = cli("cluster", "preflight", "--repo", str(platform_repo), "--kubeconfig",
                        str(api.kubeconfig(tmp_path / "kc")), "-o", "json")
    assert code == 0 and json.loads(out)["summary"] == {"PASS": 5, "FAIL": 0, "SKIP": 0}
    with FakeApi.from_fixture("preflight-blocked") as api:
        code, out = cli("cluster", "preflight", "--repo", str(platform_repo), "--kubeconfig", str(api.kubeconfig(tmp_path / "kc")))
    assert code == 1 and "FAIL" in out and "↳" in out


def test_preflight_needs_the_platform_repository(tmp_path: Path) -> None:
    with FakeApi.from_fixture("preflight-ready") as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        with pytest.raises(NotFound) as caught:
            preflight(kube, repo_dir=tmp_path)
        kube.close()
    assert caught.value.where == "--repo" and "neuroscale init" in caught.value.fix
