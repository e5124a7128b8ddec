"""Hostile manifests pushed to the GitOps repository: the pull-request checks and the reconciler judge each
the same way (one model of the world), with a finding that names it, and neither crashes.

Real git: each case is a branch of a real bare repository; the checks run on it as on a pull request, and
the reconciler's admission reads the very same commit. Non-UTF-8 bytes used to be admitted by the
reconciler with the bytes replaced (a mangled owner label deployed) while the checks refused them, and a
replica count past the CRD's int32 was admitted by the reconciler while every pipeline check crashed on it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from neuroscale.engine.desired import Admitted, Rejected, admit_endpoints
from neuroscale.gitops.repo import MAIN, Author, GitRepo
from neuroscale.policy.bundled import model_root_policy
from neuroscale.services.pr_checks import run_checks
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.status.reasons import Reason
from neuroscale.yamlio import dump

ALICE = Author("Alice", "alice@example.com")
PATH = manifest_path("iris")


def _manifest(**predictor: Any) -> str:
    manifest = to_manifest(EndpointSpec(name="iris", owner="team-ml", cost_center="cc-1",
                                        storage_uri="/srv/models/iris.joblib"))
    manifest["spec"]["predictor"].update(predictor)
    return dump(manifest)


def _with_model(**model: Any) -> str:
    manifest = to_manifest(EndpointSpec(name="iris", owner="team-ml", cost_center="cc-1",
                                        storage_uri="/srv/models/iris.joblib"))
    manifest["spec"]["predictor"]["model"].update(model)
    return dump(manifest)


#: label -> (the file's bytes, words both verdicts must carry)
CASES: dict[str, tuple[bytes, str]] = {
    "not UTF-8": (_manifest().replace("team-ml", "t\xe9am").encode("latin-1"), "not UTF-8 text"),
    "maxReplicas past int32": (_manifest(maxReplicas=10**30).encode(), "outside the int32 range"),
    "minReplicas past int32": (_manifest(minReplicas=2**31, maxReplicas=0).encode(), "outside the int32 range"),
    "python object tag": (b"!!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
    "two documents": ((_manifest() + "---\n" + _manifest()).encode(), ""),
    "hf:// storage": (_with_model(storageUri="hf://org/model").encode(), "storageUri not allowed"),
    "oci:// storage": (_with_model(storageUri="oci://registry/model:1").encode(), "storageUri not allowed"),
    "file:// naming host ..": (_with_model(storageUri="file://../other-team/model").encode(), "names the host '..'"),
    "pvc:// climbing out": (_with_model(storageUri="pvc://x/../../").encode(), "climbs out of claim 'x'"),
    "encoded .. in file://": (_with_model(storageUri="file:///srv/models/%2e%2e/%2e%2e/etc/passwd").encode(),
                              "has a '..' segment"),
    ".. in storageUris": (_manifest(storageUris=[{"uri": "/srv/models/../../etc/passwd", "mountPath": "/m"}]).encode(),
                          "has a '..' segment"),
    "over the size limit": ((_manifest() + "#" + "x" * 70_000 + "\n").encode(), "over the limit"),
    "duplicate keys": ((_manifest() + "metadata:\n  name: other\n").encode(), "duplicate key"),
}


def test_a_model_file_outside_the_model_roots_is_refused_by_both(repo: GitRepo) -> None:
    """`file:///etc/passwd` is well-formed: the model roots (the bundled policy's knob) refuse it, in both."""
    roots = model_root_policy([Path("/srv/models")])
    repo.commit(branch="hostile", files={PATH: _with_model(storageUri="file:///etc/passwd").encode()},
                message="passwd", author=ALICE)
    checks = run_checks(repo, base=MAIN, head="hostile", bundled=roots)
    findings = [f for c in checks for f in c.findings if f.get("severity") == "error"]
    desired = admit_endpoints(repo.read_files("hostile", "apps/"), bundled=roots)["iris"]
    assert [f.get("field_path") for f in findings] == ["spec.predictor.model.storageUri"], findings
    assert isinstance(desired, Rejected) and desired.reason is Reason.AdmissionDenied
    assert "under /srv/models" in str(findings[0]["message"]) and "under /srv/models" in desired.message


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.init_bare(tmp_path / "gitops.git", files={"apps/.gitkeep": b""}, author=ALICE, message="init")


def _verdicts(repo: GitRepo, branch: str) -> tuple[str, list[str], Rejected | Admitted]:
    checks = run_checks(repo, base=MAIN, head=branch)
    assert not any(c.status == "error" for c in checks), [(c.name, c.findings) for c in checks if c.status == "error"]
    failed = "fail" if any(c.status == "fail" for c in checks) else "pass"
    errors = [str(f.get("message")) for c in checks for f in c.findings if f.get("severity") == "error"]
    return failed, errors, admit_endpoints(repo.read_files(branch, "apps/"))["iris"]


@pytest.mark.parametrize("label", list(CASES))
def test_checks_and_reconciler_reject_alike(repo: GitRepo, label: str) -> None:
    content, words = CASES[label]
    repo.commit(branch="hostile", files={PATH: content}, message=label, author=ALICE)
    failed, errors, desired = _verdicts(repo, "hostile")
    assert failed == "fail" and isinstance(desired, Rejected), (errors, desired)
    assert desired.reason in (Reason.InvalidManifest, Reason.AdmissionDenied)
    assert any(words in e for e in errors) and words in desired.message, (errors, desired.message)


def test_a_symlinked_manifest_is_its_link_text_for_both(repo: GitRepo, tmp_path: Path) -> None:
    work = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(work)], check=True, capture_output=True)
    (work / "apps" / "iris").mkdir(parents=True)
    (work / PATH).symlink_to("/etc/passwd")
    for args in (["add", "-A"], ["commit", "-qm", "symlink"], ["push", "-q", "origin", "HEAD:hostile"]):
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.com", *args], cwd=work, check=True,
                       capture_output=True)
    failed, errors, desired = _verdicts(repo, "hostile")
    assert failed == "fail" and isinstance(desired, Rejected) and "root:" not in desired.message
    assert any("not a Kubernetes object" in e for e in errors) and "not a Kubernetes object" in desired.message
