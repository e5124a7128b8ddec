"""`admit()` with the bundled set: the golden path's manifests pass, each guardrail names field and fix."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from neuroscale.findings import Severity
from neuroscale.policy.admission import admit
from neuroscale.policy.bundled import BundledOptions, bundled_policy_documents, bundled_policy_names
from neuroscale.policy.repository import load_repository_policies
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import ALLOWED_STORAGE_SCHEMES, REQUIRED_LABELS
from neuroscale.spec.manifest import to_manifest
from neuroscale.yamlio import dump_all, load_all, load_one

SPEC_INPUT = {"name": "fraud-scorer", "owner": "team-risk", "costCenter": "cc-1234", "modelFormat": "sklearn",
              "storageUri": "s3://models/fraud/v3"}


def rendered(**changes: Any) -> dict[str, Any]:
    """A manifest exactly as the golden path renders it, as plain data."""
    manifest = load_one(json.dumps(to_manifest(EndpointSpec.from_input({**SPEC_INPUT, **changes}))))
    assert isinstance(manifest, dict)
    return manifest


def errors(objects: list[Any], **kwargs: Any) -> list[Any]:
    return [f for f in admit(objects, **kwargs) if f.severity is Severity.ERROR]


def test_rendered_endpoint_passes_every_bundled_policy() -> None:
    assert admit([rendered()]) == []
    assert admit([to_manifest(EndpointSpec.from_input(SPEC_INPUT))]) == []


def test_local_storage_path_is_allowed_by_default_and_refusable() -> None:
    local = rendered(storageUri="/srv/models/iris")
    assert admit([local]) == []
    strict = [d for d in bundled_policy_documents(BundledOptions(allow_local_paths=False))]
    findings = admit([local], policy_documents=strict, include_bundled=False)
    assert [f.rule for f in findings] == ["neuroscale-storage-uri-scheme/storage-uri-scheme"]


@pytest.mark.parametrize("label", REQUIRED_LABELS)
def test_missing_label_names_policy_field_and_fix(label: str) -> None:
    manifest = rendered()
    del manifest["metadata"]["labels"][label]
    [finding] = errors([manifest])
    assert finding.rule == f"neuroscale-require-labels-inferenceservice/{label}-label"
    assert finding.field_path == f"metadata.labels.{label}"
    assert label in finding.fix
    assert finding.obj is not None and (finding.obj.kind, finding.obj.name) == ("InferenceService", "fraud-scorer")
    assert finding.extra["index"] == 0


def test_near_miss_label_key_is_called_out() -> None:
    manifest = rendered()
    manifest["metadata"]["labels"]["costCenter"] = manifest["metadata"]["labels"].pop("cost-center")
    [finding] = errors([manifest])
    assert "near-miss" in finding.message


@pytest.mark.parametrize(("mutate", "rule", "field_path"), [
    (lambda m: m["spec"]["predictor"]["model"]["resources"].pop("limits"),
     "neuroscale-require-resources-inferenceservice/limits", "spec.predictor.model.resources.limits"),
    (lambda m: m["spec"]["predictor"]["model"]["resources"]["requests"].pop("memory"),
     "neuroscale-require-resources-inferenceservice/requests", "spec.predictor.model.resources.requests"),
    (lambda m: m["spec"]["predictor"]["model"]["resources"]["limits"].update(cpu="6"),
     "neuroscale-resource-ceilings-inferenceservice/cpu-limit-ceiling", "spec.predictor.model.resources.limits.cpu"),
    (lambda m: m["spec"]["predictor"]["model"].update(storageUri="ftp://x/model.joblib"),
     "neuroscale-storage-uri-scheme/storage-uri-scheme", "spec.predictor.model.storageUri"),
])
def test_each_guardrail_on_inference_services(mutate: Any, rule: str, field_path: str) -> None:
    manifest = rendered()
    mutate(manifest)
    [finding] = errors([manifest])
    assert (finding.rule, finding.field_path) == (rule, field_path)
    assert finding.fix


def test_every_allowed_scheme_passes() -> None:
    manifests = [rendered(name=f"m-{scheme}", storageUri="file:///models/model" if scheme == "file" else
                          f"{scheme}://bucket/model") for scheme in ALLOWED_STORAGE_SCHEMES]  # file:// names no host
    assert admit(manifests) == []


def test_ceilings_are_options() -> None:
    manifest = rendered()
    manifest["spec"]["predictor"]["model"]["resources"]["limits"]["memory"] = "20Gi"
    assert errors([manifest])
    roomy = bundled_policy_documents(BundledOptions(memory_limit_ceiling="32Gi"))
    assert not errors([manifest], policy_documents=roomy, include_bundled=False)


def test_generated_from_the_field_definitions() -> None:
    text = dump_all(bundled_policy_documents())
    for label in REQUIRED_LABELS:
        assert f"'{label}' in object.metadata.labels" in text
    assert "costCenter" not in text
    assert len(bundled_policy_names()) == len({d["metadata"]["name"] for d in bundled_policy_documents()}) / 2


def test_repository_policies_override_by_name(tmp_path: Path) -> None:
    manifest = rendered()
    manifest["spec"]["predictor"]["model"]["resources"]["limits"]["cpu"] = "6"
    assert errors([manifest])
    relaxed = bundled_policy_documents(BundledOptions(cpu_limit_ceiling="8"))
    override = [d for d in relaxed if d["metadata"]["name"] == "neuroscale-resource-ceilings-inferenceservice"]
    (tmp_path / "policies" / "ceilings").mkdir(parents=True)
    (tmp_path / "policies" / "ceilings" / "ceiling.yaml").write_text(dump_all(override))
    (tmp_path / "policies" / "README.yaml").write_text("kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n")
    loaded = load_repository_policies(tmp_path)
    assert [d["kind"] for d in loaded] == ["ValidatingAdmissionPolicy"]
    assert not errors([manifest], policy_documents=loaded)


def test_repository_without_policies_dir(tmp_path: Path) -> None:
    assert load_repository_policies(tmp_path) == []


def test_deployments_are_checked_and_a_knative_label_exempts_nothing() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}
    expected = {"neuroscale-require-labels", "neuroscale-require-resources-deployment",
                "neuroscale-disallow-latest-tag-deployment", "neuroscale-run-as-non-root"}
    assert {f.rule.split("/")[0] for f in errors([deployment])} == expected
    # Offline, objects come from a repository, not from the controllers' service accounts: a label that
    # claims "Knative made me" is judged like any other Deployment.
    revision = copy.deepcopy(deployment)
    revision["metadata"]["labels"] = {"serving.knative.dev/revision": "fraud-scorer-predictor-00001",
                                      "serving.kserve.io/inferenceservice": "fraud-scorer"}
    assert {f.rule.split("/")[0] for f in errors([revision])} == expected


def test_quota_counts_inference_services_across_the_namespace() -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
             "spec": {"hard": {"count/inferenceservices.serving.kserve.io": "1", "requests.memory": "1Gi"}}}
    first, second = rendered(name="first"), rendered(name="second")
    findings = errors([quota, first, second])
    assert [(f.rule, f.extra["index"]) for f in findings] == [("neuroscale-resource-quota/q", 2)]
    assert "count/inferenceservices.serving.kserve.io" in findings[0].message


def test_quota_scale_out_warning_and_untracked_requests() -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
             "spec": {"hard": {"requests.cpu": "300m"}}}
    findings = admit([quota, rendered(maxReplicas=5)])
    assert [(f.severity, f.field_path) for f in findings] == [(Severity.WARNING, "spec.predictor.maxReplicas")]


@pytest.mark.parametrize(("hard", "fragment"), [
    ({"requests.storage": "1Gi", "services.loadbalancers": "1", "pods": "10"}, None),
    ({"nvidia.com/gpu": "1"}, "quota key"),
    ({"requests.cpu": "lots"}, "not a quantity"),
])
def test_quota_keys_we_cannot_model_are_unevaluable(hard: dict[str, str], fragment: str | None) -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
             "spec": {"hard": hard}}
    findings = errors([quota, rendered()])
    if fragment is None:
        assert findings == []
    else:
        assert findings and findings[0].rule == "policy/unevaluable" and fragment in findings[0].message


def test_limit_range_defaults_and_bounds() -> None:
    limits = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr", "namespace": "default"},
              "spec": {"limits": [{"type": "Container", "max": {"memory": "512Mi"},
                                   "maxLimitRequestRatio": {"cpu": "4"}}]}}
    findings = errors([limits, rendered()])
    assert sorted(f.field_path for f in findings) == ["spec.predictor.model.resources.limits.cpu",
                                                      "spec.predictor.model.resources.limits.memory"]
    assert all(f.rule == "neuroscale-limit-range/lr" for f in findings)


def test_non_mapping_objects_are_reported() -> None:
    [finding] = errors(["not an object", rendered()])
    assert finding.rule == "policy/unevaluable" and finding.extra["index"] == 0


def test_repository_policy_files_fail_loudly(tmp_path: Path) -> None:
    from neuroscale.errors import InvalidInput

    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "broken.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(InvalidInput, match="does not parse") as bad_yaml:
        load_repository_policies(tmp_path)
    assert "broken.yaml:2" in bad_yaml.value.where
    (policies / "broken.yaml").unlink()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("kind: ConfigMap\n")
    (policies / "link.yaml").symlink_to(outside)
    with pytest.raises(InvalidInput, match="outside the repository"):
        load_repository_policies(tmp_path)


def test_cli_policy_list_marks_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from neuroscale.cli.main import main

    override = [d for d in bundled_policy_documents() if d["metadata"]["name"] == "neuroscale-require-labels"][:1]
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "labels.yaml").write_text(dump_all(override))
    assert main(["policy", "list", "--repo", str(tmp_path), "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    [labels] = [r for r in rows if r["name"] == "neuroscale-require-labels" and r["kind"] == "ValidatingAdmissionPolicy"]
    assert labels == {"name": "neuroscale-require-labels", "kind": "ValidatingAdmissionPolicy",
                      "source": "repository", "overrides": True}
    assert sum(r["source"] == "bundled" for r in rows) == len(bundled_policy_documents()) - 1


MALFORMED_POLICIES = [
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "m"},
     "spec": {"validations": "oops"}},
    {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "m"},
     "spec": {"validations": [{"expression": "true"}], "matchConditions": ["not-a-map"]}},
    {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "m"},
     "spec": {"rules": [{"name": "r", "match": {"any": "everything"}, "validate": {"pattern": {"a": 1}}}]}},
    {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": "m", "spec": {"rules": ["r"]}},
]


@pytest.mark.parametrize("document", MALFORMED_POLICIES)
def test_malformed_policies_are_findings_not_tracebacks(document: dict[str, Any]) -> None:
    findings = admit([rendered()], policy_documents=[document], include_bundled=False)
    assert any(f.rule == "policy/unevaluable" and f.severity is Severity.ERROR for f in findings)


def test_malformed_quota_is_a_finding() -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
             "spec": {"hard": ["cpu"]}}
    findings = errors([quota, rendered()])
    assert findings and all(f.rule == "policy/unevaluable" for f in findings)


def test_check_honours_cel_policy_exceptions_and_validating_policy_autogen() -> None:
    """The fixture suite of tests/policy/fixtures/kyverno/vpol-exceptions, through `admit` (what `check` runs)."""
    suite = Path(__file__).parent / "fixtures" / "kyverno" / "vpol-exceptions"
    documents = load_all((suite / "policy.yaml").read_text())
    objects = load_all((suite / "resources.yaml").read_text())

    def denied(policy_documents: list[Any]) -> set[str]:
        return {objects[f.extra["index"]]["metadata"]["name"]
                for f in admit(objects, policy_documents=policy_documents, include_bundled=False)
                if f.severity is Severity.ERROR}

    assert denied(documents) == {"rooted", "legacy-ledger"}
    assert denied([d for d in documents if d["kind"] != "PolicyException"]) == {
        "rooted", "legacy-ledger", "legacy-billing", "kube-proxy-x"}
