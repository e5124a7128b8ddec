"""`cluster bootstrap` and `cluster status` against the fake API; the CLI's exit codes and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from neuroscale.cli import cluster as cluster_cli
from neuroscale.cluster.bootstrap import bootstrap, wait_for_argo
from neuroscale.cluster.kube import connect
from neuroscale.cluster.status import NOT_INSTALLED, cluster_status
from neuroscale.errors import NotFound, NotReady
from neuroscale.platform.generate import generate
from neuroscale.platform.writer import apply, plan

from tests.cluster.conftest import FakeIngress
from tests.cluster.fake_api import FakeApi
from tests.platform.conftest import make_options


@pytest.fixture(scope="module")
def platform_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("platform")
    files = generate(make_options())
    apply(root, files, plan(root, files))
    return root


def cli(*args: str) -> tuple[int, str, BaseException | None]:
    app = typer.Typer()
    cluster_cli.register(app)
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output, result.exception


def fresh_cluster() -> dict[str, object]:
    """The healthy state before bootstrap: Argo CD installed, no root application yet."""
    state = json.loads((Path(__file__).parent / "fixtures/state-healthy.json").read_text())
    state["objects"] = [o for o in state["objects"] if o["metadata"]["name"] != "neuroscale-root"]
    return state


def test_bootstrap_applies_root_app_and_waits_for_argo(tmp_path: Path, platform_repo: Path) -> None:
    with FakeApi(fresh_cluster()) as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        report = bootstrap(kube, repo_dir=platform_repo, timeout_s=5)
        again = bootstrap(kube, repo_dir=platform_repo, timeout_s=5)
        kube.close()
    assert report.applied == "created" and again.applied == "updated"
    assert report.sync == "OutOfSync" and any("applicationsets.argoproj.io" in c for c in report.checks)
    posted = [r for r in api.requests if r["method"] == "POST"]
    assert posted[0]["path"].endswith("/namespaces/argocd/applications")
    assert posted[0]["body"]["spec"]["source"]["path"] == "infrastructure/apps"
    assert any(r["method"] == "PUT" for r in api.requests)
    assert report.next_steps
    # Before the root app: Argo CD's settings, applied server-side so only these keys become ours.
    applied = [r for r in api.requests if r["method"] == "PATCH"]
    assert {r["query"]["fieldManager"] for r in applied} == {"neuroscale"}
    assert applied[0]["path"] == "/api/v1/namespaces/argocd/configmaps/argocd-cm"
    assert "resource.customizations.health.argoproj.io_Application" in applied[0]["body"]["data"]
    oci = next(r["body"] for r in applied if r["path"].startswith("/api/v1/namespaces/argocd/secrets/"))
    assert oci["stringData"] == {"type": "helm", "name": "ghcr.io/kserve/charts", "url": "ghcr.io/kserve/charts",
                                 "enableOCI": "true"}
    assert api.requests.index(applied[0]) < api.requests.index(posted[0])
    assert report.configured == ["ConfigMap argocd/argocd-cm",
                                 "Secret argocd/neuroscale-oci-ghcr-io-kserve-charts"]


def test_bootstrap_refuses_without_applicationset_crd(tmp_path: Path, platform_repo: Path) -> None:
    with FakeApi.from_fixture("no-applicationset-crd") as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        with pytest.raises(NotFound) as caught:
            bootstrap(kube, repo_dir=platform_repo, timeout_s=5)
        kube.close()
    assert "applicationsets.argoproj.io" in caught.value.message and "H-08" in caught.value.fix
    assert not any(r["method"] == "POST" for r in api.requests)  # nothing applied


def test_wait_gives_up_with_a_hint_when_argo_never_reports(tmp_path: Path) -> None:
    ticks = iter(range(100))
    with FakeApi(fresh_cluster(), argo_reports=False) as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        kube.request("POST", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications",
                     body={"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                           "metadata": {"name": "neuroscale-root", "namespace": "argocd"}})
        with pytest.raises(NotReady) as caught:
            wait_for_argo(kube, "neuroscale-root", timeout_s=3, sleep=lambda _: None, clock=lambda: float(next(ticks)))
        kube.close()
    assert "repository" in caught.value.fix


def test_status_reads_every_section_from_api_fields(tmp_path: Path) -> None:
    with FakeApi.from_fixture("degraded") as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        data = cluster_status(kube)
        kube.close()
    apps = {a["name"]: (a["sync"], a["health"]) for a in data["applications"]}
    assert apps["serving-stack"] == ("Unknown", "Unknown") and apps["kserve"] == ("Synced", "Healthy")
    endpoint = data["endpoints"][0]
    assert endpoint["name"] == "demo-iris" and endpoint["ready"] is False and "ReconcileError" in endpoint["reason"]
    assert {p["name"] for p in data["policies"]} == {"neuroscale-require-labels", "neuroscale-run-as-non-root"}
    assert data["quotas"] == []


def test_status_says_when_a_crd_is_missing(tmp_path: Path) -> None:
    state = json.loads((Path(__file__).parent / "fixtures/state-healthy.json").read_text())
    state["missing"] = ["/apis/serving.kserve.io"]
    with FakeApi(state) as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        data = cluster_status(kube)
        kube.close()
    assert data["endpoints"] == NOT_INSTALLED


def test_smoke_cli_exit_codes_and_json(tmp_path: Path, ingress: FakeIngress) -> None:
    with FakeApi.from_fixture("healthy") as api:
        code, out, _ = cli("smoke", "--cluster", "--kubeconfig", str(api.kubeconfig(tmp_path / "kc")),
                           "--gateway", ingress.url, "-o", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["summary"]["FAIL"] == 0 and data["summary"]["PASS"] >= 15
    with FakeApi.from_fixture("degraded") as api:
        code, out, _ = cli("smoke", "--cluster", "--kubeconfig", str(api.kubeconfig(tmp_path / "kc")),
                           "--gateway", ingress.url)
    assert code == 1 and "✗ FAIL" in out and "↳" in out


def test_cli_wrong_context_is_a_clear_error(tmp_path: Path) -> None:
    with FakeApi.from_fixture("healthy") as api:
        code, _, exc = cli("cluster", "status", "--kubeconfig", str(api.kubeconfig(tmp_path / "kc")),
                           "--context", "nope")
    assert isinstance(exc, NotFound) and exc.where == "--context"


def test_status_table_shows_every_section(tmp_path: Path) -> None:
    with FakeApi.from_fixture("healthy") as api:
        code, out, exc = cli("cluster", "status", "--kubeconfig", str(api.kubeconfig(tmp_path / "kc")))
    assert code == 0, (out, exc)
    for text in ("Applications", "Endpoints", "Policies", "Quotas", "demo-iris", "neuroscale-quota", "k3d-neuroscale"):
        assert text in out
