"""`neuroscale policy test`: Kyverno test suites run unchanged; exit 0 / 1 / 2 mean what they say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neuroscale.cli.main import main
from neuroscale.policy.bundled import bundled_policy_names
from neuroscale.policy.testrunner import SuiteReport, run_tests
from neuroscale.yamlio import dump, dump_all, load_one

BUNDLED = Path(__file__).parent / "fixtures" / "bundled"

POLICY = {
    "apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "disallow-latest-tag"},
    "spec": {"validationFailureAction": "Enforce", "background": True, "rules": [
        {"name": "require-image-tag", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
         "validate": {"message": "An image tag is required.", "pattern": {"spec": {"containers": [{"image": "*:*"}]}}}},
        {"name": "validate-image-tag", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
         "validate": {"message": "Using a mutable image tag e.g. 'latest' is not allowed.",
                      "pattern": {"spec": {"containers": [{"image": "!*:latest"}]}}}},
        {"name": "init-tags", "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
         "validate": {"message": "init containers need a tag", "foreach": [
             {"list": "request.object.spec.initContainers", "pattern": {"image": "*:*"}}]}},
        {"name": "gold-only", "match": {"any": [{"resources": {
            "kinds": ["Pod"], "namespaceSelector": {"matchLabels": {"tier": "gold"}}}}]},
         "validate": {"message": "gold pods need an owner", "pattern": {"metadata": {"labels": {"owner": "?*"}}}}},
    ]},
}


def pod(name: str, image: str, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "c", "image": image}]}}


def deployment(name: str, init_image: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}],
                                           "initContainers": [{"name": "i", "image": init_image}]}}}}


RESOURCES = [pod("myapp-pod", "nginx:1.12"), pod("mongo", "mongo:latest"), pod("untagged", "nginx"),
             pod("gold-pod", "nginx:1.12", namespace="vip"), deployment("good-init", "busybox:1.36"),
             deployment("bad-init", "busybox")]
RESULTS = [
    {"policy": "disallow-latest-tag", "rule": "require-image-tag", "resources": ["myapp-pod", "mongo"],
     "kind": "Pod", "result": "pass"},
    {"policy": "disallow-latest-tag", "rule": "require-image-tag", "resource": "untagged", "kind": "Pod",
     "result": "fail"},
    {"policy": "disallow-latest-tag", "rule": "validate-image-tag", "resources": ["mongo"], "kind": "Pod",
     "result": "fail"},
    {"policy": "disallow-latest-tag", "rule": "validate-image-tag", "resources": ["default/myapp-pod"],
     "kind": "Pod", "result": "pass"},
    {"policy": "disallow-latest-tag", "rule": "gold-only", "resources": ["vip/gold-pod"], "kind": "Pod",
     "result": "fail"},
    {"policy": "disallow-latest-tag", "rule": "gold-only", "resources": ["myapp-pod"], "kind": "Pod",
     "result": "skip"},
    # foreach with no elements skips; pod controllers answer for the base rule name (autogen)
    {"policy": "disallow-latest-tag", "rule": "init-tags", "resources": ["myapp-pod"], "kind": "Pod",
     "result": "skip"},
    {"policy": "disallow-latest-tag", "rule": "init-tags", "resources": ["good-init"], "kind": "Deployment",
     "result": "pass"},
    {"policy": "disallow-latest-tag", "rule": "init-tags", "resources": ["bad-init"], "kind": "Deployment",
     "result": "fail"},
    {"policy": "disallow-latest-tag", "rule": "autogen-validate-image-tag", "resources": ["good-init"],
     "kind": "Deployment", "result": "pass"},
]
VALUES = {"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Values",
          "namespaceSelector": [{"name": "vip", "labels": {"tier": "gold"}}]}


def write_suite(directory: Path, *, results: list[dict[str, Any]] | None = None, policy: dict[str, Any] | None = None,
                **manifest_extra: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.yaml").write_text(dump(policy or POLICY))
    (directory / "resources.yaml").write_text(dump_all(RESOURCES))
    (directory / "values.yaml").write_text(dump(VALUES))
    manifest = {"apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Test", "metadata": {"name": "latest"},
                "policies": ["policy.yaml"], "resources": ["resources.yaml"], "variables": "values.yaml",
                "results": RESULTS if results is None else results, **manifest_extra}
    (directory / "kyverno-test.yaml").write_text(dump(manifest))
    return directory


def run(directory: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["policy", "test", str(directory), "-o", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_bundled_policies_pass_their_fixtures(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run(BUNDLED, capsys)
    assert code == 0, [r for r in report["results"] if not r["ok"]] + report["errors"]
    assert report["failed"] == 0 and report["passed"] > 0


@pytest.fixture(scope="module")
def bundled_report() -> SuiteReport:
    return run_tests(BUNDLED)


@pytest.mark.parametrize("policy", [*bundled_policy_names(), "neuroscale-resource-quota", "neuroscale-limit-range"])
def test_every_bundled_policy_has_a_passing_and_a_failing_fixture(policy: str, bundled_report: SuiteReport) -> None:
    expected = {case.expected for case in bundled_report.cases if case.policy == policy and case.ok}
    assert {"pass", "fail"} <= expected


def test_kyverno_suite_runs_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run(write_suite(tmp_path / "suite"), capsys)
    assert code == 0, report
    assert report["passed"] == 11


def test_legacy_unversioned_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path / "legacy")
    manifest = load_one((suite / "kyverno-test.yaml").read_text())
    for key in ("apiVersion", "kind", "metadata"):
        del manifest[key]
    manifest["name"] = "legacy"
    (suite / "kyverno-test.yaml").write_text(dump(manifest))
    assert run(suite, capsys)[0] == 0


@pytest.mark.parametrize(("change", "index"), [("pass", 1), ("skip", 2), ("fail", 5)])
def test_wrong_expectation_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str,
                                   index: int) -> None:
    results = [dict(r) for r in RESULTS]
    results[index]["result"] = change
    code, report = run(write_suite(tmp_path / "wrong", results=results), capsys)
    assert code == 1
    assert [r["expected"] for r in report["results"] if not r["ok"]] == [change]


def test_unknown_resource_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = [{**RESULTS[0], "resources": ["ghost"]}]
    code, report = run(write_suite(tmp_path / "ghost", results=results), capsys)
    assert code == 1 and report["results"][0]["actual"] == "resource not found"


def test_unscored_policy_reports_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = json.loads(json.dumps(POLICY))
    policy["metadata"]["annotations"] = {"policies.kyverno.io/scored": "false"}
    results = [{**RESULTS[2], "result": "warn"}]
    assert run(write_suite(tmp_path / "warn", results=results, policy=policy), capsys)[0] == 0


@pytest.mark.parametrize(("setup", "fragment"), [
    (lambda d: (d / "policy.yaml").unlink(), "not found"),
    (lambda d: (d / "kyverno-test.yaml").write_text("results: [\n"), "YAML does not parse"),
    (lambda d: (d / "kyverno-test.yaml").write_text(dump({"policies": ["policy.yaml"], "resources": [
        "resources.yaml"], "results": [{"policy": "x", "resources": ["a"], "result": "maybe"}]})), "result"),
    (lambda d: (d / "kyverno-test.yaml").write_text(dump({"policies": ["policy.yaml"], "resources": [
        "resources.yaml"], "checks": [{"match": {}}]})), "checks"),
    (lambda d: (d / "kyverno-test.yaml").write_text(dump({"policies": ["policy.yaml"], "jsonPayload": "p.json",
                                                          "results": []})), "jsonPayload"),
    (lambda d: (d / "kyverno-test.yaml").write_text(dump({"policies": ["policy.yaml"], "resources": [
        "resources.yaml"], "oldResources": ["old.yaml"], "results": []})), "oldResources"),
    (lambda d: (d / "policy.yaml").write_text(dump_all([POLICY, {
        "apiVersion": "policies.kyverno.io/v1alpha1", "kind": "ImageValidatingPolicy", "metadata": {"name": "sig"},
        "spec": {"validations": []}}])), "ImageValidatingPolicy is not supported"),
    (lambda d: (d / "kyverno-test.yaml").unlink(), "no kyverno-test.yaml"),
    (lambda d: (d / "values.yaml").write_text(dump({**VALUES, "subresources": [{"subresource": {}}]})),
     "subresources"),
])
def test_unrunnable_suites_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: Any,
                                  fragment: str) -> None:
    suite = write_suite(tmp_path / "broken")
    setup(suite)
    code, report = run(suite, capsys)
    assert code == 2
    assert any(fragment in error for error in report["errors"]), report["errors"]


def test_mutate_expectations_are_skipped_never_passed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(tmp_path / "mutate")
    (suite / "kyverno-test.yaml").write_text(dump({
        "policies": ["policy.yaml"], "resources": ["resources.yaml"],
        "results": [RESULTS[0], {"policy": "disallow-latest-tag", "rule": "r", "resources": ["mongo"],
                                 "patchedResources": "patched.yaml", "result": "pass"}]}))
    code, report = run(suite, capsys)
    assert code == 2
    skipped = [r for r in report["results"] if r["actual"] == "not evaluated"]
    assert len(skipped) == 1 and not skipped[0]["ok"] and "mutate" in skipped[0]["skipped"]
    assert report["skipped"] == 1


def test_unevaluable_policy_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = json.loads(json.dumps(POLICY))
    policy["spec"]["rules"][0]["validate"] = {"deny": {"conditions": {"any": [{"key": "{{ x }}", "operator": "Equals",
                                                                               "value": "y"}]}}}
    code, report = run(write_suite(tmp_path / "deny", policy=policy), capsys)
    assert code == 2
    assert {r["actual"] for r in report["results"] if r["rule"] == "require-image-tag"} == {"error"}


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", str(write_suite(tmp_path / "table"))]) == 0
    assert "11 passed, 0 failed" in capsys.readouterr().out


NO_DELETING_PROD = {
    "apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "no-deleting-prod"},
    "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                     "operations": ["DELETE"], "resources": ["pods"]}]},
             "validations": [{"expression": "object == null && oldObject.metadata.namespace != 'vip'"}]}}


def test_cel_policies_see_the_operation_a_result_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On DELETE a CEL policy matches DELETE rules, `object` is null and `oldObject` is the resource."""
    base = {"isValidatingPolicy": True, "policy": "no-deleting-prod", "kind": "Pod"}
    results = [{**base, "resources": ["myapp-pod"], "result": "skip"},
               {**base, "resources": ["myapp-pod"], "resourceOperation": "DELETE", "result": "pass"},
               {**base, "resources": ["gold-pod"], "operation": "DELETE", "result": "fail"}]
    code, report = run(write_suite(tmp_path / "delete", policy=NO_DELETING_PROD, results=results), capsys)
    assert code == 0, report["results"]


def test_validating_policy_autogen_governs_the_pod_controllers_it_names(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Kyverno's ValidatingPolicy autogen: a pod policy listing `deployments` under
    spec.autogen.podControllers also judges each Deployment's pod template (object.spec -> its template's)."""
    expression = "!has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image.contains(':'))"
    policy = {"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": {"name": "tagged"},
              "spec": {"autogen": {"podControllers": {"controllers": ["deployments"]}},
                       "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                               "operations": ["CREATE"], "resources": ["pods"]}]},
                       "validations": [{"expression": expression}]}}
    base = {"isValidatingPolicy": True, "policy": "tagged"}
    results = [{**base, "kind": "Pod", "resources": ["untagged"], "result": "pass"},
               {**base, "kind": "Deployment", "resources": ["good-init"], "result": "pass"},
               {**base, "kind": "Deployment", "resources": ["bad-init"], "result": "fail"}]
    code, report = run(write_suite(tmp_path / "autogen", policy=policy, results=results), capsys)
    assert code == 0, report["results"]
    without = json.loads(json.dumps(policy))
    del without["spec"]["autogen"]
    code, report = run(write_suite(tmp_path / "plain", policy=without, results=results), capsys)
    assert code == 1
    assert [r["actual"] for r in report["results"]] == ["pass", "skip", "skip"]
