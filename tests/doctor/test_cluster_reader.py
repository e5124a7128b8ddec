"""The cluster reader runs the real kubernetes client against a loopback API serving recorded objects."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neuroscale.cli.main import main
from neuroscale.cluster.snapshot import load_snapshot, read_cluster_snapshot, save_snapshot
from neuroscale.doctor.runner import diagnose
from tests.conftest import free_port
from tests.doctor.fakeapi import LIST_PATHS, fake_api, routes_from, write_kubeconfig
from tests.doctor.snapshots import healthy

TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"  # 40 characters, GitHub's classic token shape
PLACEHOLDER = "<YOUR_TOKEN_HERE>"


def _real_secrets() -> list[dict[str, Any]]:
    """Secrets as the API returns them: base64 values (the reader must reduce them to facts)."""
    def secret(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                             "creationTimestamp": "2026-05-20T08:00:00Z",
                             "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                                                "time": "2026-05-20T08:00:00Z", "fieldsType": "FieldsV1",
                                                "fieldsV1": {"f:data": {"f:GITHUB_TOKEN": {}}}}]},
                "type": "Opaque", "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
    return [secret("neuroscale-backstage-secrets", "backstage", {"GITHUB_TOKEN": TOKEN}),
            secret("argocd-secret", "argocd", {"admin.password": "s3cr3t-Adm1n-pa55", "server.secretkey": PLACEHOLDER})]


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    recorded = healthy()
    objects = dict(recorded["objects"])
    objects["Secret"] = _real_secrets()
    with fake_api(routes_from(objects, recorded["logs"])) as (url, seen):
        yield write_kubeconfig(tmp_path / "kubeconfig", url), seen


def test_reader_builds_the_recorded_snapshot_through_the_real_client(cluster: tuple[Path, list[str]]) -> None:
    kubeconfig, seen = cluster
    snap = read_cluster_snapshot(kubeconfig=kubeconfig)
    recorded = healthy()
    assert "error" not in snap["meta"]
    assert snap["meta"]["context"] == "k3d-neuroscale"
    for kind in LIST_PATHS:
        if kind in recorded["objects"] and kind != "Secret":  # the served Secrets are the real ones below
            names = sorted(o["metadata"]["name"] for o in snap["objects"][kind])
            assert names == sorted(o["metadata"]["name"] for o in recorded["objects"][kind]), kind
    pod = snap["objects"]["Pod"][0]
    assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"  # list items get their kind back
    assert "ClusterServingRuntime" in snap["meta"]["missing"]  # a CRD that is not installed is recorded
    assert any("/log" in path and "tailLines=40" in path for path in seen)
    assert any(k.startswith("kserve/kserve-controller-manager") for k in snap["logs"])
    assert diagnose(snap).findings == []  # the healthy cluster, read live, stays healthy


def test_saved_snapshot_never_contains_a_secret_value(cluster: tuple[Path, list[str]], tmp_path: Path) -> None:
    kubeconfig, _ = cluster
    bundle = tmp_path / "bundle.json"
    assert main(["doctor", "--kubeconfig", str(kubeconfig), "--save-snapshot", str(bundle), "-o", "json"]) == 0
    text = bundle.read_text()
    for value in (TOKEN, PLACEHOLDER, "s3cr3t-Adm1n-pa55"):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    secrets = {s["metadata"]["name"]: s for s in load_snapshot(bundle)["objects"]["Secret"]}
    assert secrets["neuroscale-backstage-secrets"]["data"]["GITHUB_TOKEN"] == {"length": 40, "shape": "github-token"}
    assert secrets["argocd-secret"]["data"]["server.secretkey"] == {"length": len(PLACEHOLDER), "shape": "placeholder"}
    assert "fieldsV1" not in text


def test_saved_snapshot_replays_without_a_cluster(cluster: tuple[Path, list[str]], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig, _ = cluster
    snap = read_cluster_snapshot(kubeconfig=kubeconfig)
    snap["objects"]["Secret"][0]["data"]["GITHUB_TOKEN"] = {"length": 16, "shape": "placeholder"}
    bundle = tmp_path / "bundle.json"
    save_snapshot(snap, bundle)
    assert main(["doctor", "--snapshot", str(bundle), "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in report["findings"]] == ["github-token"]
    assert "length=16" in report["findings"][0]["evidence"]


def test_unreachable_cluster_prints_the_finding_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{free_port()}")
    assert main(["doctor", "--kubeconfig", str(kubeconfig)]) == 2
    out = capsys.readouterr().out
    assert "cannot read the cluster (Unreachable)" in out
    assert "k3d cluster start neuroscale" in out
    assert "Traceback" not in out


def test_forbidden_kind_is_reported_not_skipped(tmp_path: Path) -> None:
    recorded = healthy()
    routes = routes_from(recorded["objects"], {})
    routes[LIST_PATHS["Secret"]] = 403
    with fake_api(routes) as (url, _):
        snap = read_cluster_snapshot(kubeconfig=write_kubeconfig(tmp_path / "kubeconfig", url))
    assert "Secret" not in snap["objects"]
    [finding] = diagnose(snap).findings
    assert finding.rule == "cluster-access" and finding.severity.value == "warning"
    assert "could not list Secret" in finding.message and "403" in finding.evidence


@pytest.mark.parametrize(("setup", "reason"), [("missing", "KubeconfigMissing"), ("context", "ContextNotFound")])
def test_bad_kubeconfig_is_a_finding(tmp_path: Path, setup: str, reason: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    if setup == "context":
        write_kubeconfig(kubeconfig, f"http://127.0.0.1:{free_port()}")
    snap = read_cluster_snapshot(kubeconfig=kubeconfig, context="k3d-elsewhere")
    assert snap["meta"]["error"]["reason"] == reason
    [finding] = diagnose(snap).findings
    assert finding.rule == "cluster-access" and reason in finding.message
