"""The generated repository passes the real `neuroscale check`, and its CI step gates on it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from neuroscale.check.model import CheckOptions, CheckReport
from neuroscale.cli.main import main
from neuroscale.check.runner import run_check
from neuroscale.platform.options import InitOptions
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, render
from neuroscale.yamlio import dump_all, load_one

from tests.platform.conftest import make_options, objects, write_repo
from tests.platform.installed import REFERENCE_CHARTS, installed, render_chart

def test_generated_repository_has_no_findings(platform_repo: tuple[Path, InitOptions], reference: Path,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No flags: the CRDs of the releases the repository pins come from the cache `crds pull` fills."""
    root, _ = platform_repo
    vendor_backstage_chart(root, reference)
    cache = tmp_path / "crd-cache"
    code = main(["crds", "pull", str(root), "--from", str(reference / "crds"), "--cache-dir", str(cache), "-o", "json"])
    pulled = {row["project"]: row["status"] for row in json.loads(capsys.readouterr().out)}
    assert {p for p in ("kserve", "knative", "argocd") if pulled.get(p) == "pulled"} == {"kserve", "knative", "argocd"}
    # The reference set holds no cert-manager CRDs (offline there is nowhere else to pull them from); the
    # repository creates no cert-manager objects, so check needs none — but pull says so with exit 1.
    assert {p for p, status in pulled.items() if status != "pulled"} <= {"cert-manager"} and code == (
        1 if "cert-manager" in pulled and pulled["cert-manager"] != "pulled" else 0)
    # Kyverno's CleanupPolicy CRD (the preview TTL) is only in the pinned chart the reference holds.
    chart_crds = tmp_path / "chart-crds"
    chart_crds.mkdir()
    (chart_crds / "crds.yaml").write_text(dump_all([obj for app in installed(root, reference) for obj in app.objects
                                                    if obj["kind"] == "CustomResourceDefinition"]))
    report = run_check(root, options=CheckOptions(crd_cache=cache, crd_dirs=(chart_crds,)))
    not_pulled = frozenset({("info", "NS-S005", "infrastructure/apps/cert-manager.yaml")}) if pulled.get(
        "cert-manager", "pulled") != "pulled" else frozenset()
    assert_only_notes(report, said=not_pulled)


def assert_only_notes(report: CheckReport, *, said: frozenset[tuple[str, str, str]] = frozenset()) -> None:
    """Zero findings, every object validated — but for what check cannot do here and says (never silently):
    without helm the vendored Backstage chart's objects are not rendered (one info finding), and `said`."""
    without_helm = set() if shutil.which("helm") else {("info", "NS-K003", "infrastructure/backstage/Chart.yaml")}
    expected = without_helm | set(said)
    assert [f"{f.severity.value} {f.rule} {f.location}: {f.message}" for f in report.findings
            if (f.severity.value, f.rule, f.file) not in expected] == []
    assert {(f.severity.value, f.rule, f.file) for f in report.findings} == expected
    assert report.exit_code == 0 and report.checked_objects > 20


def pinned_crds(reference: Path, target: Path) -> Path:
    """The CRDs of the pinned releases: from the pinned charts themselves where the reference holds them."""
    target.mkdir()
    for chart in ("kserve-crd", "kyverno"):
        crds = [o for o in render_chart(reference / "charts" / REFERENCE_CHARTS[chart], {}, release=chart,
                                        namespace=chart) if o["kind"] == "CustomResourceDefinition"]
        (target / f"{chart}.yaml").write_text(dump_all(crds))
    for project in ("argocd", "knative"):  # no chart of these in the reference: their pinned-commit CRDs
        shutil.copytree(reference / "crds" / project, target / project)
    return target


def test_no_findings_against_the_crds_of_the_pinned_versions(platform_repo: tuple[Path, InitOptions],
                                                             reference: Path, tmp_path: Path) -> None:
    root, options = platform_repo
    vendor_backstage_chart(root, reference)
    crds = pinned_crds(reference, tmp_path / "crds")
    report = run_check(root, options=CheckOptions(crd_dirs=(crds,)))
    assert_only_notes(report)
    custom = [obj for _, obj in objects(root) if obj["apiVersion"].split("/")[0] in (
        "serving.kserve.io", "kyverno.io", "argoproj.io", "operator.knative.dev")]
    assert report.exit_code == 0 and report.checked_objects > 20 and len(custom) >= 10


def vendor_backstage_chart(root: Path, reference: Path) -> None:
    """What `helm dependency update` leaves behind, so the values-nesting lint judges the real chart."""
    charts = root / "infrastructure/backstage/charts"
    charts.mkdir()
    shutil.copy(reference / "charts/backstage-2.6.3.tgz", charts)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=ci", "-c", "user.email=ci@acme.dev", *args],
                   check=True, capture_output=True)


def committed_repo(root: Path, *, broken: bool) -> None:
    """A platform repository whose `main` holds the platform and whose branch adds one endpoint."""
    write_repo(root, make_options())
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "platform")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(root, "checkout", "-qb", "endpoint/fraud")
    text = render(EndpointSpec.from_input({"name": "fraud", "owner": "team-risk", "costCenter": "cc-1",
                                           "storageUri": "s3://models/fraud"}))
    if broken:
        text = text.replace('    cost-center: "cc-1"\n', "")
    target = root / manifest_path("fraud")
    target.parent.mkdir(parents=True)
    target.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "endpoint")


def run_step(root: Path, reference: Path, tmp_path: Path, env: dict[str, str]) -> tuple[str, str]:
    """Run the workflow's check step as the runner would; (its status output, the report)."""
    runner = tmp_path / "runner"
    shutil.copytree(reference / "crds", runner / "crds")
    outputs, summary = tmp_path / "out", tmp_path / "summary"
    workflow = load_one((root / ".github/workflows/neuroscale-check.yaml").read_text())
    script = next(step["run"] for step in workflow["jobs"]["check"]["steps"] if step.get("id") == "check")
    env = {**os.environ, "RUNNER_TEMP": str(runner), "GITHUB_OUTPUT": str(outputs),
           "GITHUB_STEP_SUMMARY": str(summary), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = (root / "neuroscale-check.md").read_text()
    assert report == summary.read_text()
    return outputs.read_text().strip(), report


@pytest.mark.parametrize("broken", [False, True], ids=["good-endpoint", "unlabelled-endpoint"])
def test_ci_step_gates_pull_requests_on_the_check(reference: Path, tmp_path: Path, broken: bool) -> None:
    root = tmp_path / "repo"
    committed_repo(root, broken=broken)
    status, report = run_step(root, reference, tmp_path, {"GITHUB_EVENT_NAME": "pull_request",
                                                         "GITHUB_BASE_REF": "main"})
    assert status == ("status=1" if broken else "status=0")
    assert ("cost-center" in report) == broken


def test_ci_step_runs_the_prediction_diff_and_never_passes_what_it_cannot_compare(reference: Path,
                                                                                tmp_path: Path) -> None:
    """A pull request moving the model to storage the runner cannot read: the diff says so, and the step fails."""
    root = tmp_path / "repo"
    committed_repo(root, broken=False)
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--ff-only", "endpoint/fraud")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(root, "checkout", "-qb", "endpoint/fraud-v2")
    target = root / manifest_path("fraud")
    target.write_text(target.read_text().replace("s3://models/fraud", "gs://models/fraud/v2"))
    (target.parent / "sample-requests.jsonl").write_text('{"instances": [[1, 2, 3, 4]]}\n')
    git(root, "add", "-A")
    git(root, "commit", "-qm", "fraud v2")
    status, report = run_step(root, reference, tmp_path, {"GITHUB_EVENT_NAME": "pull_request",
                                                         "GITHUB_BASE_REF": "main", "PR_NUMBER": "2"})
    assert status == "status=2"
    assert "### Prediction diff" in report and "gs://models/fraud/v2 cannot be read here" in report


def test_ci_step_on_main_checks_every_file(reference: Path, tmp_path: Path) -> None:
    """A push to main fails on an error already there, even in a file the push did not change."""
    root = tmp_path / "repo"
    committed_repo(root, broken=True)
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--ff-only", "endpoint/fraud")
    (root / "README.md").write_text((root / "README.md").read_text() + "\nA later change.\n")
    git(root, "commit", "-qam", "docs")
    before = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD~1"], capture_output=True, text=True,
                            check=True).stdout.strip()
    status, report = run_step(root, reference, tmp_path, {"GITHUB_EVENT_NAME": "push", "BEFORE": before})
    assert status == "status=1" and "cost-center" in report


def test_ci_installs_neuroscale_from_a_commit_and_comments_only_where_it_may(
        platform_repo: tuple[Path, InitOptions]) -> None:
    root, options = platform_repo
    workflow = load_one((root / ".github/workflows/neuroscale-check.yaml").read_text())
    assert set(workflow["on"]) == {"pull_request", "push"}
    steps = workflow["jobs"]["check"]["steps"]
    [install] = [s["run"] for s in steps if s.get("name") == "Install neuroscale"]
    assert install == f"pip install 'neuroscale[all] @ {options.neuroscale_source}'"
    [comment] = [s for s in steps if "gh pr comment" in s.get("run", "")]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in comment["if"]
    assert not any("neuroscale==" in s.get("run", "") for s in steps)
