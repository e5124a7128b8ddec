"""CRDs without flags: pins read from the repository, `crds pull` from a directory, HTTP or a cluster,
and `check` reading the cache by itself (missing and corrupt entries reported with the fixing command)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from neuroscale.check.crds.cache import CRDS_FILE
from neuroscale.check.crds.pins import repository_pins
from neuroscale.check.model import CheckOptions
from neuroscale.check.repoconfig import read_config
from neuroscale.check.runner import run_check
from neuroscale.cli.main import main
from neuroscale.findings import Severity
from neuroscale.yamlio import dump

from .helpers import isvc, view_of, write_repo

Run = Callable[..., tuple[int, str, str]]


def app(name: str, **source: str) -> str:
    return dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                 "metadata": {"name": name, "namespace": "argocd"},
                 "spec": {"project": "default", "source": source,
                          "destination": {"server": "https://kubernetes.default.svc", "namespace": name}}})


KSERVE_APP = app("kserve-crd", repoURL="ghcr.io/kserve/charts", chart="kserve-crd", targetRevision="v0.13.0")
KNATIVE_APP = app("knative", repoURL="https://knative.github.io/operator", chart="knative-operator",
                  targetRevision="1.17.1")
ARGO_APP = app("argocd-crds", repoURL="https://github.com/argoproj/argo-cd.git", path="manifests/crds",
               targetRevision="v2.12.0")
FLOATING = app("floating", repoURL="https://kyverno.github.io/kyverno", chart="kyverno", targetRevision="3.x")


def test_pins_are_read_from_where_the_repository_pins_them(reference: Path) -> None:
    files: dict[str, Any] = {
        "apps/kserve.yaml": KSERVE_APP, "apps/knative.yaml": KNATIVE_APP, "apps/argo.yaml": ARGO_APP,
        "apps/floating.yaml": FLOATING,
        "infra/cert-manager/kustomization.yaml":
            "resources:\n  - https://github.com/cert-manager/cert-manager/releases/download/v1.14.5/cert-manager.yaml\n",
        "vendor/charts/kyverno-3.9.0.tgz": (reference / "charts/kyverno-3.9.0.tgz").read_bytes(),
        "neuroscale.yaml": "releases:\n  argocd: v2.13.1\n",
    }
    view = view_of(files)
    pins = {(p.project, p.key, p.where) for p in repository_pins(view, read_config(view)[0])}
    assert pins == {
        ("kserve", "v0.13.0", "apps/kserve.yaml"),
        ("knative", "v1.17.1", "apps/knative.yaml"),  # chart version is the operator release: tag gets its v
        ("argocd", "v2.13.1", "neuroscale.yaml"),  # neuroscale.yaml wins over the Application's v2.12.0
        ("cert-manager", "v1.14.5", "infra/cert-manager/kustomization.yaml"),
        ("kyverno", "v1.19.0", "vendor/charts/kyverno-3.9.0.tgz"),  # the vendored chart's appVersion
    }  # the floating "3.x" chart names no release


@pytest.fixture
def endpoint_repo(tmp_path: Path) -> Path:
    broken = isvc().replace("    minReplicas: 1\n", "    minReplicas: 1\n    minReplica: 2\n")
    return write_repo(tmp_path / "repo", {"apps/kserve.yaml": KSERVE_APP, "apps/iris.yaml": broken})


def test_check_reads_the_cache_of_the_pinned_release_by_itself(endpoint_repo: Path, reference: Path,
                                                               tmp_path: Path, schema_cache: Path) -> None:
    cache = tmp_path / "crds"
    assert main(["crds", "pull", str(endpoint_repo), "--from", str(reference / "crds"), "--cache-dir", str(cache)]) == 0
    assert (cache / "kserve/v0.13.0" / CRDS_FILE).is_file()
    report = run_check(endpoint_repo, options=CheckOptions(crd_cache=cache, cache_dir=schema_cache))
    [invalid] = [f for f in report.findings if f.rule == "NS-S001"]
    assert invalid.file == "apps/iris.yaml" and "minReplica" in invalid.message
    assert "crd-cache/kserve/v0.13.0" in invalid.message  # which schema judged it
    assert not [f for f in report.findings if f.rule == "NS-S002" and f.file == "apps/iris.yaml"]


def test_a_missing_cache_entry_names_the_command_that_fills_it(endpoint_repo: Path, tmp_path: Path,
                                                              schema_cache: Path) -> None:
    report = run_check(endpoint_repo, options=CheckOptions(crd_cache=tmp_path / "empty", cache_dir=schema_cache))
    [missing] = [f for f in report.findings if f.rule == "NS-S005"]
    assert missing.severity is Severity.INFO and missing.file == "apps/kserve.yaml"
    assert "kserve v0.13.0" in missing.message and "neuroscale crds pull" in missing.fix
    assert [f.rule for f in report.findings if f.file == "apps/iris.yaml"] == ["NS-S002"]  # loud, not passed


def test_a_corrupt_cache_entry_is_an_error_with_the_refresh_command(endpoint_repo: Path, reference: Path,
                                                                    tmp_path: Path, schema_cache: Path) -> None:
    cache = tmp_path / "crds"
    main(["crds", "pull", str(endpoint_repo), "--from", str(reference / "crds"), "--cache-dir", str(cache)])
    stored = cache / "kserve/v0.13.0" / CRDS_FILE
    stored.write_bytes(stored.read_bytes()[:1000])  # truncated, as a killed cache restore leaves it
    report = run_check(endpoint_repo, options=CheckOptions(crd_cache=cache, cache_dir=schema_cache))
    [corrupt] = [f for f in report.findings if f.rule == "NS-S005"]
    assert corrupt.severity is Severity.ERROR and "does not match the digest" in corrupt.message
    assert "--refresh" in corrupt.fix and report.exit_code == 1
    assert main(["crds", "pull", str(endpoint_repo), "--from", str(reference / "crds"), "--cache-dir", str(cache),
                 "--refresh"]) == 0
    assert not [f for f in run_check(endpoint_repo, options=CheckOptions(crd_cache=cache, cache_dir=schema_cache)).findings
                if f.rule == "NS-S005"]


class Artifacts:
    """Release artifacts and a chart index on loopback, as a mirror serves them (`/<host>/<path>`)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.seen: list[str] = []
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.seen.append(self.path)
                body = served.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def artifacts() -> Iterator[Artifacts]:
    server = Artifacts({})
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_pull_fetches_release_artifacts_through_a_mirror(artifacts: Artifacts, reference: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    kyverno = b"\n---\n".join(p.read_bytes() for p in sorted((reference / "crds/kyverno").glob("*.yaml")))
    controller = b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kyverno}\n"
    index = (b"apiVersion: v1\nentries:\n  kyverno:\n    - {version: 3.2.6, appVersion: v1.12.5}\n"
             b"    - {version: 3.2.5, appVersion: v1.12.4}\n")
    artifacts.files.update({
        "/mirror/kyverno.github.io/kyverno/index.yaml": index,
        "/mirror/github.com/kyverno/kyverno/releases/download/v1.12.5/install.yaml": kyverno + b"\n---\n" + controller,
    })
    kyverno_app = app("kyverno", repoURL="https://kyverno.github.io/kyverno", chart="kyverno", targetRevision="3.2.6")
    root = write_repo(tmp_path / "repo", {"apps/kyverno.yaml": kyverno_app, "apps/kserve.yaml": KSERVE_APP})
    cache = tmp_path / "crds"
    code = main(["crds", "pull", str(root), "--mirror", f"{artifacts.url}/mirror", "--cache-dir", str(cache),
                 "-o", "json"])
    rows = {r["project"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 1  # the KServe artifact is not on this mirror
    assert rows["kyverno"]["status"] == "pulled" and rows["kyverno"]["crds"] == 5  # the Deployment is dropped
    assert rows["kserve"]["status"] == "failed" and "404" in rows["kserve"]["detail"]
    manifest = json.loads((cache / "kyverno/chart-3.2.6/manifest.json").read_text())
    assert "policyexceptions.kyverno.io" in manifest["crds"]
    assert "/mirror/kyverno.github.io/kyverno/index.yaml" in artifacts.seen  # chart 3.2.6 -> release v1.12.5


def test_pull_takes_the_crds_a_cluster_serves(reference: Path, tmp_path: Path) -> None:
    from neuroscale.check.crds.fetch import parse
    from tests.cluster.fake_api import FakeApi

    crds = [doc for path in sorted((reference / "crds/kserve").glob("*.yaml")) for doc in parse(path.name, path.read_bytes())]
    served = [{**crd, "status": {"acceptedNames": crd["spec"]["names"]},
               "metadata": {**crd["metadata"], "uid": "u-1", "resourceVersion": "1"}} for crd in crds]
    root = write_repo(tmp_path / "repo", {"apps/kserve.yaml": KSERVE_APP})
    cache = tmp_path / "crds"
    with FakeApi({"objects": served}) as api:
        code = main(["crds", "pull", str(root), "--cluster", "--kubeconfig", str(api.kubeconfig(tmp_path / "kc")),
                     "--cache-dir", str(cache)])
    assert code == 0
    stored = json.loads((cache / "kserve/v0.13.0" / CRDS_FILE).read_text())
    assert len(stored) == 3 and all("status" not in crd and "uid" not in crd["metadata"] for crd in stored)


def test_crds_list_shows_what_is_cached(endpoint_repo: Path, reference: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    cache = tmp_path / "crds"
    assert main(["crds", "list", str(endpoint_repo), "--cache-dir", str(cache), "-o", "json"]) == 1
    assert json.loads(capsys.readouterr().out)[0]["problem"] == "missing"
    shutil.copytree(reference / "crds/kserve", tmp_path / "src/kserve/v0.13.0")
    main(["crds", "pull", str(endpoint_repo), "--from", str(tmp_path / "src"), "--cache-dir", str(cache)])
    capsys.readouterr()
    assert main(["crds", "list", str(endpoint_repo), "--cache-dir", str(cache), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["cached"] is True
