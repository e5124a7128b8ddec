"""`neuroscale smoke --cluster` against recorded cluster states served by a fake API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale.cluster.kube import connect
from neuroscale.cluster.results import exit_code
from neuroscale.cluster.smoke import SmokeSettings, run_cluster_smoke
from neuroscale.errors import NotFound, NotReady

from tests.cluster.conftest import FakeIngress
from tests.cluster.fake_api import FakeApi


def smoke(state: str, tmp_path: Path, ingress: FakeIngress, **settings: object) -> tuple[dict[str, str], FakeApi, list]:
    with FakeApi.from_fixture(state) as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kubeconfig"))
        try:
            results = run_cluster_smoke(kube, SmokeSettings(gateway_url=ingress.url, **settings))  # type: ignore[arg-type]
        finally:
            kube.close()
    return {r.name: r.outcome for r in results}, api, results


def test_healthy_cluster_passes_every_check(tmp_path: Path, ingress: FakeIngress) -> None:
    outcomes, api, results = smoke("healthy", tmp_path, ingress)
    assert exit_code(results) == 0
    assert [n for n, o in outcomes.items() if o == "FAIL"] == []
    assert outcomes["Inference through the ingress"] == "PASS"
    assert ingress.seen == [("demo-iris.default.ml.acme.dev", "/v2/models/demo-iris"),
                            ("demo-iris.default.ml.acme.dev", "/v2/models/demo-iris/infer")]
    assert outcomes["Unlabelled InferenceService denied"] == outcomes["Root-container Deployment denied"] == "PASS"
    assert outcomes["Drift self-heal"] == "SKIP"  # destructive: never by default
    creates = [r for r in api.requests if r["method"] == "POST"]
    assert len(creates) == 2 and all(r["query"].get("dryRun") == "All" for r in creates)  # nothing left behind


def test_degraded_cluster_fails_with_recovery_hints(tmp_path: Path, ingress: FakeIngress) -> None:
    outcomes, _, results = smoke("degraded", tmp_path, ingress)
    assert exit_code(results) == 1
    by_name = {r.name: r for r in results}
    assert "CrashLoopBackOff" in by_name["Argo CD pods Ready"].detail  # 0/1 Running is not Ready
    assert "serving-stack (Unknown)" in by_name["Argo CD Applications synced"].detail
    assert "IngressReady=ReconcileError" in by_name["InferenceServices Ready"].detail
    assert outcomes["Inference through the ingress"] == "SKIP"
    # a KServe webhook outage is not a policy denial (the reference counted it as one)
    assert outcomes["Unlabelled InferenceService denied"] == "FAIL"
    assert "webhook" in by_name["Unlabelled InferenceService denied"].hint
    assert outcomes["Root-container Deployment denied"] == "FAIL"
    assert outcomes["ResourceQuota neuroscale-quota"] == "FAIL"
    assert "25m" in by_name["LimitRange neuroscale-limits"].detail
    assert outcomes["Every endpoint has its ApplicationSet Application"] == "FAIL"
    assert all(r.hint for r in results if r.outcome == "FAIL")


def test_missing_applicationset_crd_names_the_fix(tmp_path: Path, ingress: FakeIngress) -> None:
    outcomes, _, results = smoke("no-applicationset-crd", tmp_path, ingress)
    result = next(r for r in results if r.name.startswith("ApplicationSet"))
    assert result.outcome == "FAIL" and "CRD is not installed" in result.detail
    assert "applicationsets.argoproj.io" in result.hint


def test_wrong_gateway_fails_inference_with_tunnel_hint(tmp_path: Path, ingress: FakeIngress) -> None:
    outcomes, _, results = smoke("healthy", tmp_path, ingress, endpoint="demo-iris")
    assert outcomes["Inference through the ingress"] == "PASS"
    bad = FakeIngress({})
    try:
        outcomes, _, results = smoke("healthy", tmp_path, bad)
    finally:
        bad.close()
    result = next(r for r in results if r.name == "Inference through the ingress")
    assert result.outcome == "FAIL" and "404" in result.detail


def test_kubeconfig_problems_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as missing:
        connect(kubeconfig=tmp_path / "nope")
    assert missing.value.where == "--kubeconfig"
    with FakeApi.from_fixture("healthy") as api:
        config = api.kubeconfig(tmp_path / "kubeconfig")
        with pytest.raises(NotFound) as wrong:
            connect(kubeconfig=config, context="prod-cluster")
        assert "k3d-neuroscale" in wrong.value.message
    with pytest.raises(NotReady) as down:  # the server above is gone now: a stopped cluster
        connect(kubeconfig=config)
    assert "k3d cluster start" in down.value.fix


@pytest.mark.parametrize("heals", [True, False])
def test_drift_check_deletes_and_waits_for_self_heal(tmp_path: Path, ingress: FakeIngress, heals: bool) -> None:
    state = json.loads((Path(__file__).parent / "fixtures/state-healthy.json").read_text())
    state["selfHeal"] = heals
    with FakeApi(state) as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        results = run_cluster_smoke(kube, SmokeSettings(gateway_url=ingress.url, drift="backstage/neuroscale-backstage",
                                                        drift_timeout_s=1.0, poll_s=0.05))
        kube.close()
    result = next(r for r in results if r.name == "Drift self-heal")
    assert result.outcome == ("PASS" if heals else "FAIL")
    assert [r["path"] for r in api.requests if r["method"] == "DELETE"] == [
        "/apis/apps/v1/namespaces/backstage/deployments/neuroscale-backstage"]


def test_placeholder_endpoint_url_fails_before_any_request(tmp_path: Path, ingress: FakeIngress) -> None:
    state = json.loads((Path(__file__).parent / "fixtures/state-healthy.json").read_text())
    for obj in state["objects"]:
        if obj["kind"] == "InferenceService":
            obj["status"]["url"] = "http://demo-iris.default.example.com"
    with FakeApi(state) as api:
        kube = connect(kubeconfig=api.kubeconfig(tmp_path / "kc"))
        results = run_cluster_smoke(kube, SmokeSettings(gateway_url=ingress.url))
        kube.close()
    result = next(r for r in results if r.name == "Inference through the ingress")
    assert result.outcome == "FAIL" and "placeholder" in result.detail and ingress.seen == []
