"""`--base` against a real git repository: changed files only, cost delta, rendered diff."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import GOVERNS_DEFAULT, deployment, git, isvc, write_repo

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def repo(tmp_path: Path, reference: Path) -> Path:
    root = write_repo(tmp_path / "gitops", {
        "apps/iris/inference-service.yaml": isvc(),
        "apps/web/deployment.yaml": deployment("web"),
        "apps/old/deployment.yaml": deployment("old", replicas=1),
        "legacy/floating.yaml": deployment("legacy", image="nginx:latest"),
        **GOVERNS_DEFAULT,
    })
    (root / "crds").mkdir()
    (root / "crds/isvc.yaml").write_bytes((reference / "crds/kserve/serving.kserve.io_inferenceservices.yaml").read_bytes())
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "-A")
    git(root, "commit", "--quiet", "-m", "base")
    # the pull request: scale the endpoint up, add a workload, remove one (left uncommitted on purpose)
    write_repo(root, {"apps/iris/inference-service.yaml": isvc(replicas=3, max_replicas=6, cpu="2"),
                      "apps/api/deployment.yaml": deployment("api", cost_center="cc-2")})
    (root / "apps/old/deployment.yaml").unlink()
    return root


def test_only_changed_files_are_reported_unless_all_files(run_cli: Run, repo: Path) -> None:
    code, out, _ = run_cli(str(repo), "--base", "main", "--format", "json")
    report = json.loads(out)
    assert report["changedFiles"] == ["apps/api/deployment.yaml", "apps/iris/inference-service.yaml",
                                      "apps/old/deployment.yaml"]
    assert report["baseSha"] == git(repo, "rev-parse", "HEAD")
    assert code == 0 and not any(f.get("file") == "legacy/floating.yaml" for f in report["findings"])
    code, out, _ = run_cli(str(repo), "--base", "main", "--all-files", "--format", "json")
    assert code == 1 and any(f.get("file") == "legacy/floating.yaml" for f in json.loads(out)["findings"])


def test_cost_delta_counts_inference_services(run_cli: Run, repo: Path) -> None:
    _, out, _ = run_cli(str(repo), "--base", "main", "--format", "json")
    cost = json.loads(out)["cost"]
    rows = {(w["kind"], w["name"]): w for w in cost["workloads"]}
    assert set(rows) == {("InferenceService", "iris"), ("Deployment", "api"), ("Deployment", "old")}
    iris = rows[("InferenceService", "iris")]
    assert iris["change"] == "changed" and iris["replicas"] == {"before": "1-2", "after": "3-6"}
    assert iris["cpuRequest"] == "2.025"  # 2 cores + the 25m queue-proxy sidecar
    # 3 x (2.025 vCPU x 0.0316 + 0.25 GiB x 0.0042) x 730 h, minus the base (1 x 0.125 vCPU ...)
    assert iris["monthlyAfter"] == "142.44" and iris["monthlyBefore"] == "3.65"
    assert any("above 100" in flag for flag in iris["flags"])
    assert rows[("Deployment", "old")]["change"] == "removed" and rows[("Deployment", "api")]["change"] == "added"
    assert set(cost["costCenters"]) == {"cc-1", "cc-2"}
    assert cost["costCenters"]["cc-2"]["monthlyBefore"] == "0"


def test_rendered_diff_and_markdown(run_cli: Run, repo: Path) -> None:
    _, out, _ = run_cli(str(repo), "--base", "main", "--format", "json")
    diff = {(d["change"], d["kind"], d["name"]): d for d in json.loads(out)["diff"]}
    assert set(diff) == {("added", "Deployment", "api"), ("removed", "Deployment", "old"),
                         ("changed", "InferenceService", "iris")}
    fields = {f["path"]: (f["before"], f["after"]) for f in diff[("changed", "InferenceService", "iris")]["fields"]}
    assert fields == {"spec.predictor.minReplicas": ("1", "3"), "spec.predictor.maxReplicas": ("2", "6"),
                      "spec.predictor.model.resources.requests.cpu": ("'100m'", "2")}
    code, markdown, _ = run_cli(str(repo), "--base", "main", "--format", "markdown")
    assert code == 0 and "#### Cost delta" in markdown and "| InferenceService/iris | changed | cc-1 |" in markdown
    assert "- **removed** `Deployment default/old`" in markdown
    assert "`spec.predictor.minReplicas`: `1` → `3`" in markdown


def test_unknown_base_exits_2(run_cli: Run, repo: Path) -> None:
    code, _, err = run_cli(str(repo), "--base", "no-such-branch")
    assert code == 2 and "no-such-branch" in err


def test_base_outside_git_exits_2(run_cli: Run, tmp_path: Path) -> None:
    write_repo(tmp_path / "plain", {"a.yaml": "a: 1\n"})
    code, _, err = run_cli(str(tmp_path / "plain"), "--base", "main")
    assert code == 2 and "not inside a git repository" in " ".join(err.split())


def test_remote_tracking_base_as_in_ci(run_cli: Run, repo: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "--quiet", str(repo), str(clone))
    write_repo(clone, {"apps/iris/inference-service.yaml": isvc(replicas=2)})
    code, out, _ = run_cli(str(clone / "apps"), "--base", "origin/main", "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["changedFiles"] == ["iris/inference-service.yaml"]
    assert [(d["change"], d["name"]) for d in report["diff"]] == [("changed", "iris")]
