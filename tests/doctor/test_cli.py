"""`neuroscale doctor` output formats and exit codes, over saved snapshots and a repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale.cli.main import main
from neuroscale.cluster.snapshot import save_snapshot
from tests.doctor.snapshots import CASES, apply_case, healthy, load_case


def _saved(tmp_path: Path, case_id: str | None) -> Path:
    snap = healthy()
    if case_id:
        snap = apply_case(snap, load_case(next(p for p in CASES if p.stem == case_id)))
    path = tmp_path / "snapshot.json"
    save_snapshot(snap, path)
    return path


def test_healthy_snapshot_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--snapshot", str(_saved(tmp_path, None))]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out


def test_text_groups_by_category_with_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--snapshot", str(_saved(tmp_path, "FM-08"))]) == 1
    out = capsys.readouterr().out
    assert out.index("stale webhooks") < out.index("application sync")
    assert "→ explains 1 other finding: Application/argocd/test-app" in out
    assert "kubectl delete validatingwebhookconfiguration ingress-nginx-admission" in out
    assert out.rstrip().splitlines()[-1].startswith("2 errors, 0 warnings")


def test_json_and_markdown_carry_the_same_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(_saved(tmp_path, "FM-01"))
    assert main(["doctor", "--snapshot", path, "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"] == {"errors": 3, "warnings": 0, "findings": 3, "rules": report["summary"]["rules"],
                                 "couldNotRun": False}
    first = report["findings"][0]
    assert first["rule"] == "argocd-repo-server" and first["category"] == "control plane"
    assert 'level=fatal msg="Failed to initialize settings manager"' in first["evidence"]
    assert len(first["explains"]) == 2
    assert main(["doctor", "--snapshot", path, "-o", "markdown"]) == 1
    markdown = capsys.readouterr().out
    assert markdown.startswith("## neuroscale doctor: 3 errors, 0 warnings")
    assert "### control plane" in markdown and "→ explains 2 other findings" in markdown


def test_a_file_that_is_not_a_snapshot_means_could_not_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"kind": "PodList"}')
    assert main(["doctor", "--snapshot", str(bogus)]) == 2
    assert "not a doctor snapshot" in capsys.readouterr().err


def test_coverage_lists_every_failure_mode(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["doctor", "--coverage", "-o", "json"]) == 0
    rows = {row["failureMode"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["FM-16"]["rules"] == ["image-pull", "webhook-no-endpoints"]
    assert rows["FM-37"]["rules"] == ["branch-protection"] and "GitHub" in rows["FM-37"]["note"]
    assert rows["FM-20"]["doc"] == "docs/failure-modes/FM-20.md"
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["doctor", "--coverage"]) == 0
    table = capsys.readouterr().out
    assert all(f"FM-{n:02d} docs/failure-modes/FM-{n:02d}.md" in table for n in range(1, 41))


def test_repo_target_runs_the_check_lints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patch = tmp_path / "infrastructure" / "serving-stack" / "patches" / "remove-inferenceservice-crd.yaml"
    patch.parent.mkdir(parents=True)
    patch.write_text("$patch: delete\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
                     "metadata:\n  name: inferenceservices.serving.kserve.io\n")
    assert main(["doctor", "--repo", str(tmp_path), "-o", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    [finding] = report["findings"]
    assert finding["rule"] == "NS-L001" and finding["covers"] == ["FM-06"]
    assert finding["category"] == "control plane"
    patch.unlink()
    assert main(["doctor", "--repo", str(tmp_path)]) == 0
