"""NS-L013 takes a custom kind's scope from its CRD, not from a list of kind names.

A cluster-scoped object synced by two Applications into two namespaces of one cluster is one object with two
owners. Inputs: a CRD written in the checked repository, and real upstream CRDs read from
/work/shared/reference (KServe's ClusterStorageContainer from the kserve-crd v0.20.0 chart, KServe's
InferenceService and ClusterServingRuntime CRDs) passed as the check's `--crd-dir` catalogue.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from neuroscale.check.lints import l013_duplicate_objects as l013
from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.findings import Finding, Severity
from tests.conftest import REFERENCE as BESIDE_CHECKOUT

from .helpers import write_repo

#: Beside the checkout; a git worktree elsewhere reads the workplace's one.
REFERENCE = BESIDE_CHECKOUT if BESIDE_CHECKOUT.is_dir() else Path("/work/shared/reference")
IN_CLUSTER = "https://kubernetes.default.svc"


def application(name: str, path: str, namespace: str) -> str:
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n"
            f"spec:\n  project: default\n  source:\n    repoURL: https://github.com/acme/platform.git\n"
            f"    path: {path}\n  destination:\n    server: {IN_CLUSTER}\n    namespace: {namespace}\n")


def two_teams(path: str) -> dict[str, str]:
    """Two Applications syncing one directory into two namespaces of one cluster."""
    return {"neuroscale.yaml": "repoURLs: [https://github.com/acme/platform.git]\n",
            "argocd/team-a.yaml": application("team-a", path, "team-a"),
            "argocd/team-b.yaml": application("team-b", path, "team-b")}


def crd(group: str, kind: str, scope: str) -> str:
    plural = kind.lower() + "s"
    return (f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
            f"  name: {plural}.{group}\nspec:\n  group: {group}\n  names:\n    kind: {kind}\n    plural: {plural}\n"
            f"  scope: {scope}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n"
            f"      openAPIV3Schema:\n        type: object\n        x-kubernetes-preserve-unknown-fields: true\n")


def managed_twice(root: Path, **options: object) -> list[Finding]:
    report = run_check(root, options=CheckOptions(**options))  # type: ignore[arg-type]
    return [f for f in report.findings if f.rule == l013.ID and "managed by" in f.message]


@pytest.mark.parametrize(("scope", "owners"), [("Cluster", 1), ("Namespaced", 0)])
def test_a_crd_written_in_the_repository_decides_its_kind_s_scope(tmp_path: Path, scope: str, owners: int) -> None:
    write_repo(tmp_path, {**two_teams("tenants"), "crds/tenantquota.yaml": crd("acme.io", "TenantQuota", scope),
                          "tenants/quota.yaml": "apiVersion: acme.io/v1\nkind: TenantQuota\nmetadata:\n  name: gold\n"
                                                "spec:\n  cpu: 4\n"})
    found = managed_twice(tmp_path)
    assert [(f.severity, f.message) for f in found] == [
        (Severity.ERROR, "TenantQuota.acme.io gold is managed by 2 Applications (team-a, team-b)")][:owners]


def _upstream_crd(directory: Path, chart: str, member: str) -> Path:
    """One CRD file of an upstream chart in /work/shared/reference, extracted into `directory`."""
    with tarfile.open(REFERENCE / "charts" / chart) as archive:
        data = archive.extractfile(member)
        assert data is not None
        target = directory / Path(member).name
        target.write_bytes(data.read())
    return target


#: KServe v0.20.0's ClusterStorageContainer CRD (scope: Cluster; not on the built-in list of kind names).
CSC_CRD = ("kserve-crd-v0.20.0.tgz", "kserve-crd/files/serving.kserve.io_clusterstoragecontainers.yaml")
CSC = ("apiVersion: serving.kserve.io/v1alpha1\nkind: ClusterStorageContainer\nmetadata:\n  name: default\n"
       "spec:\n  container:\n    name: storage-initializer\n    image: kserve/storage-initializer:v0.20.0\n"
       "  supportedUriFormats:\n  - prefix: s3://\n")


def test_an_upstream_cluster_scoped_crd_from_the_catalogue_makes_two_namespaces_one_object(tmp_path: Path) -> None:
    catalogue = tmp_path / "crds"
    catalogue.mkdir()
    _upstream_crd(catalogue, *CSC_CRD)
    repo = write_repo(tmp_path / "repo", {**two_teams("storage"), "storage/default.yaml": CSC})
    [found] = managed_twice(repo, crd_dirs=(catalogue,))
    assert (found.severity, found.file, found.message) == (
        Severity.ERROR, "storage/default.yaml",
        "ClusterStorageContainer.serving.kserve.io default is managed by 2 Applications (team-a, team-b)")
    assert managed_twice(repo) == [], "a kind no CRD defines is taken as namespaced, as before"


def test_the_repository_s_crd_wins_over_the_catalogue(tmp_path: Path) -> None:
    catalogue = tmp_path / "crds"
    catalogue.mkdir()
    _upstream_crd(catalogue, *CSC_CRD)
    repo = write_repo(tmp_path / "repo", {**two_teams("storage"), "storage/default.yaml": CSC,
                                          "crds/csc.yaml": crd("serving.kserve.io", "ClusterStorageContainer",
                                                               "Namespaced")})
    assert managed_twice(repo, crd_dirs=(catalogue,)) == []


@pytest.mark.parametrize(("manifest", "owners"), [
    ("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: iris\nspec:\n"
     "  predictor:\n    model:\n      modelFormat: {name: sklearn}\n      storageUri: s3://models/iris\n", 0),
    ("apiVersion: serving.kserve.io/v1alpha1\nkind: ClusterServingRuntime\nmetadata:\n  name: sklearn\nspec:\n"
     "  supportedModelFormats: [{name: sklearn}]\n  containers: [{name: kserve-container, image: kserve/sklearn:v1}]\n",
     1),
])
def test_upstream_kserve_crds_give_their_own_scope(tmp_path: Path, manifest: str, owners: int) -> None:
    repo = write_repo(tmp_path / "repo", {**two_teams("serving"), "serving/object.yaml": manifest})
    found = managed_twice(repo, crd_dirs=(REFERENCE / "crds" / "kserve",))
    assert len(found) == owners, found
