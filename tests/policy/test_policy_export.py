"""`policy export`: native VAP valid for the API server, Kyverno ClusterPolicy valid for its real CRD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from neuroscale.cli.main import main
from neuroscale.policy.export import export_policies
from neuroscale.yamlio import dump_all, load_all

FIXTURES = Path(__file__).parent / "fixtures" / "bundled"
KUBERNETES_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def kyverno_schema(reference: Path) -> dict[str, Any]:
    text = (reference / "crds" / "kyverno" / "kyverno.io_clusterpolicies.yaml").read_text()
    crd = yaml.load(text, Loader=yaml.CSafeLoader)  # 1.4 MB: the C loader keeps the test fast
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields a structural schema would prune (the API server drops them silently)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or not isinstance(value, (dict, list)):
        return []
    if isinstance(value, list):
        items = schema.get("items", {})
        return [p for i, item in enumerate(value) for p in unknown_fields(item, items, f"{path}[{i}]")]
    properties = schema.get("properties")
    if properties is None:
        extra = schema.get("additionalProperties")
        return [p for k, v in value.items() for p in unknown_fields(v, extra, f"{path}.{k}")] \
            if isinstance(extra, dict) else []
    found = [f"{path}.{key}" for key in value if key not in properties]
    return found + [p for k, v in value.items() if k in properties
                    for p in unknown_fields(v, properties[k], f"{path}.{k}")]


def undeclared_defaults(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would default: each one is an Argo CD diff forever (FM-05)."""
    if isinstance(value, list):
        return [p for i, item in enumerate(value)
                for p in undeclared_defaults(item, schema.get("items", {}), f"{path}[{i}]")]
    if not isinstance(value, dict):
        return []
    missing = []
    for key, sub in (schema.get("properties") or {}).items():
        if key not in value and "default" in sub:
            missing.append(f"{path}.{key}")
        elif key in value:
            missing += undeclared_defaults(value[key], sub, f"{path}.{key}")
    return missing


def test_kyverno_export_is_valid_against_the_real_crd(kyverno_schema: dict[str, Any]) -> None:
    policies = export_policies("kyverno")
    assert policies
    validator = jsonschema.Draft7Validator(kyverno_schema)
    for policy in policies:
        validator.validate(policy)
        assert unknown_fields(policy, kyverno_schema) == []
        assert undeclared_defaults(policy["spec"], kyverno_schema["properties"]["spec"]) == []


def test_schema_helpers_catch_what_they_should(kyverno_schema: dict[str, Any]) -> None:
    policy = export_policies("kyverno")[0]
    del policy["spec"]["admission"]
    policy["spec"]["rules"][0]["validate"]["cell"] = {}
    assert undeclared_defaults(policy["spec"], kyverno_schema["properties"]["spec"]) == [".admission"]
    assert unknown_fields(policy, kyverno_schema) == [".spec.rules[0].validate.cell"]
    policy["spec"]["rules"][0]["validate"]["failureAction"] = "Sometimes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(kyverno_schema).validate(policy)


def test_vap_export_is_valid_kubernetes() -> None:
    documents = export_policies("vap")
    kinds = {d["kind"] for d in documents}
    assert kinds == {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_kyverno_rules_carry_the_same_cel_as_the_vaps() -> None:
    vap_expressions = {v["expression"] for d in export_policies("vap") if d["kind"] == "ValidatingAdmissionPolicy"
                       for v in d["spec"]["validations"]}
    kyverno_expressions = {e["expression"] for p in export_policies("kyverno") for r in p["spec"]["rules"]
                           for e in r["validate"]["cel"]["expressions"]}
    assert vap_expressions == kyverno_expressions


@pytest.mark.parametrize(("fmt", "golden"), [("vap", "policies.yaml"), ("kyverno", "kyverno-policies.yaml")])
def test_fixture_policies_are_the_current_export(fmt: str, golden: str) -> None:
    """The Kyverno-format fixtures run the exported files. When the bundled set changes, regenerate with
    `neuroscale policy export --format vap > tests/policy/fixtures/bundled/policies.yaml` (and
    `--format kyverno > .../kyverno-policies.yaml`), then review the diff."""
    assert (FIXTURES / golden).read_text() == dump_all(export_policies(fmt))  # type: ignore[arg-type]


def test_cli_export_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "export", "--format", "kyverno", "--output-dir", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"clusterpolicy-{p['metadata']['name']}.yaml" for p in export_policies("kyverno"))
    assert all(load_all(p.read_text())[0]["kind"] == "ClusterPolicy" for p in tmp_path.iterdir())


def test_cli_export_to_stdout_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "export", "--no-local-paths", "--cpu-ceiling", "2"]) == 0
    text = capsys.readouterr().out
    assert "quantity('2')" in text and "!object.spec.predictor.model.storageUri.contains" not in text
    assert load_all(text)[0]["kind"] == "ValidatingAdmissionPolicy"


def test_cli_export_rejects_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "export", "--format", "opa"]) == 1
    assert "unknown export format" in capsys.readouterr().err
