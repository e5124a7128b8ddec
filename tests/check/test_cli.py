"""`neuroscale check` end to end in-process: exit codes 0/1/2 and every output format parsed back."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from neuroscale.check import lints

from .helpers import GOVERNS_DEFAULT, deployment, isvc, write_repo

Run = Callable[..., tuple[int, str, str]]

BROKEN_POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: broken-replicas
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ["apps"]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["deployments"]
  validations:
    - expression: "object.spec.replicas >"
      message: replicas
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: broken-replicas
spec:
  policyName: broken-replicas
  validationActions: [Deny]
"""


@pytest.fixture
def clean_repo(tmp_path: Path, reference: Path) -> Path:
    repo = write_repo(tmp_path / "repo", {"apps/iris/inference-service.yaml": isvc(), "apps/web/deployment.yaml": deployment(),
                                          **GOVERNS_DEFAULT})
    (repo / "crds").mkdir()
    (repo / "crds/isvc.yaml").write_bytes((reference / "crds/kserve/serving.kserve.io_inferenceservices.yaml").read_bytes())
    return repo


def test_clean_repository_exits_0(run_cli: Run, clean_repo: Path) -> None:
    code, out, _ = run_cli(str(clean_repo))
    assert code == 0, out
    assert "passed: 0 error(s)" in out


def test_error_finding_exits_1_and_text_groups_by_file(run_cli: Run, clean_repo: Path) -> None:
    (clean_repo / "apps/web/deployment.yaml").write_text(deployment(image="nginx:latest"))
    code, out, _ = run_cli(str(clean_repo))
    assert code == 1
    assert out.startswith("apps/web/deployment.yaml\n")
    assert "NS-L003" in out and "\x1b[" not in out  # no colour when not a TTY


def test_text_names_objects_of_lowercase_kinds(run_cli: Run, clean_repo: Path) -> None:
    # Some operators' kinds are lower case (Zalando's `postgresql`); `[postgresql/db]` must not read as markup.
    (clean_repo / "apps/db.yaml").write_text("apiVersion: acid.zalan.do/v1\nkind: postgresql\nmetadata: {name: db}\n"
                                             "spec: {teamId: db}\n")
    _, out, _ = run_cli(str(clean_repo))
    assert "NS-S002 [postgresql/db] not validated" in out


def test_near_miss_label_is_caught_by_policy_and_lint(run_cli: Run, clean_repo: Path) -> None:
    path = clean_repo / "apps/iris/inference-service.yaml"
    path.write_text(path.read_text().replace("cost-center:", "costCenter:"))
    code, out, _ = run_cli(str(clean_repo), "--format", "json")
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert code == 1 and "NS-L011" in rules and any(r.startswith("neuroscale-require-labels") for r in rules)


@pytest.mark.parametrize("cpu", ['"1e9999999"', '"1e-1000000000"', '"١٠٠m"', "1e9999999"],
                         ids=["overflow", "below-1n", "arabic-digits", "yaml-infinity"])
def test_an_absurd_cpu_limit_is_an_error_finding_not_a_crash(run_cli: Run, clean_repo: Path, cpu: str) -> None:
    (clean_repo / "apps/iris/inference-service.yaml").write_text(isvc().replace('cpu: "1"', f"cpu: {cpu}"))
    code, out, err = run_cli(str(clean_repo), "--format", "json")
    report = json.loads(out)
    errors = [f for f in report["findings"] if f["severity"] == "error" and f["file"] == "apps/iris/inference-service.yaml"]
    assert code == 1 and errors and "Traceback" not in err


def test_unevaluable_policy_exits_2(run_cli: Run, clean_repo: Path) -> None:
    write_repo(clean_repo, {"policies/broken.yaml": BROKEN_POLICY})
    code, out, _ = run_cli(str(clean_repo), "--format", "json")
    report = json.loads(out)
    assert code == 2 and report["exitCode"] == 2
    assert any(f["rule"] == "policy/unevaluable" for f in report["findings"])


def test_unreadable_input_exits_2(run_cli: Run, tmp_path: Path) -> None:
    code, out, err = run_cli(str(tmp_path / "missing"))
    assert code == 2 and out == "" and "not a readable directory" in " ".join(err.split()) and "Traceback" not in err


def test_bad_option_values_exit_2(run_cli: Run, clean_repo: Path) -> None:
    assert run_cli(str(clean_repo), "--kubernetes-version", "1.2")[0] == 2
    assert run_cli(str(clean_repo), "--format", "xml")[0] == 2
    assert run_cli(str(clean_repo), "--no-schema-severity", "info")[0] == 2


def test_o_takes_the_cli_wide_formats_too(run_cli: Run, clean_repo: Path) -> None:
    """`-o table|json|yaml` as every data command; yaml is the json report's content."""
    code, out, *_ = run_cli(str(clean_repo), "-o", "yaml")
    assert code == 0 and "summary" in out
    assert run_cli(str(clean_repo), "-o", "table")[0] == 0


def test_internal_error_exits_2_without_traceback(run_cli: Run, clean_repo: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(lints, "run_lints", explode)  # fault injection: any crash must read as exit 2
    code, out, err = run_cli(str(clean_repo))
    assert code == 2 and "check crashed: KeyError" in " ".join(err.split()) and "Traceback" not in err + out


def test_no_schema_severity_error_fails_the_check(run_cli: Run, clean_repo: Path) -> None:
    (clean_repo / "crds/isvc.yaml").unlink()
    assert run_cli(str(clean_repo))[0] == 0
    code, out, _ = run_cli(str(clean_repo), "--no-schema-severity", "error")
    assert code == 1 and "not validated: no schema" in out


def _failing(clean_repo: Path) -> None:
    (clean_repo / "apps/web/deployment.yaml").write_text(deployment(image="nginx"))


def test_json_format(run_cli: Run, clean_repo: Path) -> None:
    _failing(clean_repo)
    code, out, _ = run_cli(str(clean_repo), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["summary"]["errors"] >= 1 and report["summary"]["objects"] == 3
    assert {"rule", "severity", "message", "file", "line"} <= set(report["findings"][0])


def test_sarif_format(run_cli: Run, clean_repo: Path) -> None:
    _failing(clean_repo)
    code, out, _ = run_cli(str(clean_repo), "--format", "sarif")
    sarif = json.loads(out)
    run = sarif["runs"][0]
    assert code == 1 and sarif["version"] == "2.1.0"
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "apps/web/deployment.yaml"
        assert location["region"]["startLine"] >= 1


def test_junit_format(run_cli: Run, clean_repo: Path, tmp_path: Path) -> None:
    _failing(clean_repo)
    target = tmp_path / "report.xml"
    code, out, _ = run_cli(str(clean_repo), "--format", "junit", "--output", str(target))
    suite = ET.parse(target).getroot().find("testsuite")
    assert code == 1 and out == "" and suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["apps/web/deployment.yaml"].find("failure") is not None
    assert cases["overall"].find("failure").get("type") == "exit-1"  # type: ignore[union-attr]
    assert int(suite.get("failures", "0")) == 2 and int(suite.get("tests", "0")) == len(cases)


def test_markdown_format(run_cli: Run, clean_repo: Path) -> None:
    _failing(clean_repo)
    code, out, _ = run_cli(str(clean_repo), "--format", "markdown")
    lines = out.splitlines()
    assert code == 1 and lines[0] == "<!-- neuroscale-check -->" and lines[1].startswith("### ❌ neuroscale check failed")
    table = [line for line in lines if line.startswith("| ❌ |")]
    assert table and all(line.count(" | ") >= 4 for line in table)


def test_upstream_kserve_install_inputs_are_flagged(run_cli: Run, tmp_path: Path, reference: Path) -> None:
    repo = tmp_path / "platform"
    shutil.copytree(reference / "upstream/kserve-v0.12.1/config", repo / "serving/kserve")
    code, out, _ = run_cli(str(repo), "--format", "json")
    rules = {(f["rule"], f["file"]) for f in json.loads(out)["findings"]}
    assert code == 1
    assert ("NS-L002", "serving/kserve/configmap/inferenceservice.yaml") in rules
    assert ("NS-L016", "serving/kserve/default/manager_auth_proxy_patch.yaml") in rules


def test_unwritable_output_exits_2(run_cli: Run, clean_repo: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(str(clean_repo), "--output", str(tmp_path / "missing-dir" / "report.md"))
    assert code == 2 and "could not read or write" in " ".join(err.split())
