"""Schema validation: strict built-ins, CRD-derived schemas, loud gaps and broken CRDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.check.model import CheckOptions
from neuroscale.check.schemas.builtin import bundled_versions, resolve_version
from neuroscale.check.schemas.crd import BrokenSchema, root_schema, to_json_schema
from neuroscale.check.schemas.compiled import CompiledSchema
from neuroscale.check.schemas.validate import validate_view
from neuroscale.errors import InvalidInput
from neuroscale.findings import Severity

from .helpers import deployment, isvc, view_of

ISVC_CRD = "crds/kserve/serving.kserve.io_inferenceservices.yaml"


@pytest.fixture(scope="module")
def kserve_crd(reference: Path) -> str:
    return (reference / ISVC_CRD).read_text()


def _schema_findings(files: dict[str, str], cache: Path, **options: object) -> list:  # type: ignore[type-arg]
    return validate_view(view_of(files), CheckOptions(cache_dir=cache, **options))  # type: ignore[arg-type]


def test_builtin_kinds_are_strict_about_unknown_fields(schema_cache: Path) -> None:
    bad = deployment().replace("          resources:", "          resourcez: {}\n          resources:")
    found = _schema_findings({"apps/web.yaml": bad}, schema_cache)
    assert [(f.rule, f.line) for f in found] == [("NS-S001", bad.lstrip("\n").splitlines().index("          resourcez: {}") + 1)]
    assert "'resourcez' was unexpected" in found[0].message and "Kubernetes" in found[0].message


def test_builtin_types_are_checked(schema_cache: Path) -> None:
    found = _schema_findings({"apps/web.yaml": deployment().replace("replicas: 2", "replicas: two")}, schema_cache)
    assert [f.field_path for f in found] == ["spec.replicas"]


def test_valid_builtins_pass(schema_cache: Path) -> None:
    assert _schema_findings({"apps/web.yaml": deployment()}, schema_cache) == []


def test_custom_resource_validated_against_repository_crd(schema_cache: Path, kserve_crd: str) -> None:
    typo = isvc().replace("      storageUri:", "      storageURI:")
    files = {"crds/isvc.yaml": kserve_crd, "apps/good.yaml": isvc("good"), "apps/typo.yaml": typo}
    found = _schema_findings(files, schema_cache)
    assert [(f.file, f.rule) for f in found] == [("apps/typo.yaml", "NS-S001")]
    assert "'storageURI' was unexpected" in found[0].message and "CRD crds/isvc.yaml" in found[0].message


def test_custom_resource_metadata_is_checked_as_object_meta(schema_cache: Path, kserve_crd: str) -> None:
    typo = isvc().replace("  labels:", "  lables:")
    found = _schema_findings({"crds/isvc.yaml": kserve_crd, "apps/typo.yaml": typo}, schema_cache)
    assert [(f.field_path, f.line) for f in found] == [("metadata", 6)]
    assert "'lables' was unexpected" in found[0].message


def test_crd_dir_supplies_schemas(schema_cache: Path, reference: Path) -> None:
    found = _schema_findings({"apps/iris.yaml": isvc().replace("minReplicas: 1", "minReplicas: one")}, schema_cache,
                             crd_dirs=(reference / "crds/kserve",))
    assert [f.field_path for f in found] == ["spec.predictor.minReplicas"]


def test_unknown_custom_resource_is_never_silently_passed(schema_cache: Path) -> None:
    files = {"apps/iris.yaml": isvc()}
    warn = _schema_findings(files, schema_cache)
    error = _schema_findings(files, schema_cache, no_schema_severity=Severity.ERROR)
    assert [(f.rule, f.severity) for f in warn] == [("NS-S002", Severity.WARNING)]
    assert [(f.rule, f.severity) for f in error] == [("NS-S002", Severity.ERROR)]
    assert "not validated: no schema" in warn[0].message


def test_a_missing_schema_says_whether_the_kind_or_only_the_version_is_unknown(schema_cache: Path,
                                                                               kserve_crd: str) -> None:
    # The CRD serves v1beta1 InferenceServices only; a v1alpha1 one and a TrainedModel of the same group differ.
    old = isvc().replace("serving.kserve.io/v1beta1", "serving.kserve.io/v1alpha9")
    other = "apiVersion: serving.kserve.io/v1beta1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n"
    found = _schema_findings({"crds/isvc.yaml": kserve_crd, "apps/old.yaml": old, "apps/w.yaml": other}, schema_cache)
    assert {f.file: f.message.rpartition("(")[2] for f in found} == {
        "apps/old.yaml": "its CRD does not serve this version)", "apps/w.yaml": "no CRD for it was found)"}


def test_broken_crd_schema_is_a_finding(schema_cache: Path) -> None:
    crd = """
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: widgets.acme.io
    spec:
      group: acme.io
      names: {kind: Widget, plural: widgets}
      scope: Namespaced
      versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: objekt
    """
    widget = "apiVersion: acme.io/v1\nkind: Widget\nmetadata:\n  name: w\nspec: {}\n"
    found = _schema_findings({"crds/widget.yaml": crd, "apps/w.yaml": widget, "apps/w2.yaml": widget}, schema_cache)
    assert [(f.rule, f.file) for f in found] == [("NS-S003", "crds/widget.yaml")]
    assert "unknown type 'objekt'" in found[0].message


def test_crd_without_schema_is_a_finding(schema_cache: Path) -> None:
    crd = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.b.io\n"
           "spec:\n  group: b.io\n  names: {kind: A, plural: as}\n  scope: Namespaced\n"
           "  versions:\n    - name: v1\n      served: true\n      storage: true\n")
    found = _schema_findings({"crd.yaml": crd}, schema_cache)
    assert [f.rule for f in found] == ["NS-S003"] and "no schema.openAPIV3Schema" in found[0].message


def test_openapi_extensions_convert() -> None:
    node = {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True},
        "note": {"type": "string", "nullable": True},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {"type": "string"}}},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}},
    }}
    schema = CompiledSchema(root_schema(node), cache_dir=None)
    ok = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"},
          "port": "http", "note": None, "free": {"a": "1", "anything": [1]}, "tags": {"k": "v"}}
    assert schema.errors(ok) == []
    assert schema.errors({**ok, "port": 8080}) == []
    assert [e.path for e in schema.errors({**ok, "tags": {"k": 1}})] == ["tags.k"]
    assert "'extra' was unexpected" in schema.errors({**ok, "extra": 1})[0].message
    with pytest.raises(BrokenSchema):
        to_json_schema({"type": "object", "properties": []})


def test_a_later_run_uses_the_code_compiled_from_the_same_crd_schema_without_converting(tmp_path: Path) -> None:
    node = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}}
    built: list[int] = []

    def build() -> dict:  # type: ignore[type-arg]
        built.append(1)
        return root_schema(node)

    ok = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"}, "spec": {"n": 1}}
    assert CompiledSchema(build, cache_dir=tmp_path, source_key="k1", compile_after=0).errors(ok) == []
    assert built == [1]
    later = CompiledSchema(build, cache_dir=tmp_path, source_key="k1")
    assert later.errors(ok) == [] and built == [1]  # compiled code found by the source: nothing converted
    assert [e.path for e in later.errors({**ok, "spec": {"n": "x"}})] == ["spec.n"] and built == [1, 1]
    other = CompiledSchema(build, cache_dir=tmp_path, source_key="k2")
    assert built == [1, 1]  # nothing is built before an object needs it
    assert other.errors(ok) == [] and built == [1, 1, 1]  # another source converts again (finds code by digest)


def test_schemas_are_interpreted_until_compiling_pays_and_both_agree(tmp_path: Path) -> None:
    node = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}}
    schema = CompiledSchema(root_schema(node), cache_dir=tmp_path, compile_after=2)
    objects = [{"apiVersion": "x/v1", "kind": "X", "metadata": {}, "spec": {"n": n}} for n in (1, "a", 2, "b", 3)]
    found = [[(e.path, e.message) for e in schema.errors(obj)] for obj in objects]
    assert len(list(tmp_path.glob("schema-*.bin"))) == 1  # compiled (and cached) from the third object on
    assert found == [[], [("spec.n", "'a' is not of type 'integer'")], [], [("spec.n", "'b' is not of type 'integer'")], []]


def test_kubernetes_version_selection() -> None:
    versions = bundled_versions()
    assert resolve_version(None) == versions[-1]
    assert resolve_version(f"v{versions[0]}.3") == versions[0]
    with pytest.raises(InvalidInput):
        resolve_version("1.2")


def test_non_kubernetes_yaml_is_not_an_object_but_half_objects_are(schema_cache: Path) -> None:
    files = {"charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
             "values.yaml": "kind: of-a-value\n",
             "apps/half.yaml": "kind: Deployment\nmetadata:\n  name: x\n"}
    found = _schema_findings(files, schema_cache)
    assert [(f.rule, f.file) for f in found] == [("NS-S004", "apps/half.yaml")]


POLICY_STATUS = "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: no-latest\nstatus:\n  ready: true\n"


def test_what_a_test_expects_in_the_cluster_is_not_judged_as_an_object(schema_cache: Path, reference: Path) -> None:
    # A policy library's tests: a chainsaw Test asserting a status-only policy, kuttl's numbered assert file.
    # The assertions are partial objects and the tests are read by their runners, not sent to the API server.
    test = """
        apiVersion: chainsaw.kyverno.io/v1alpha1
        kind: Test
        metadata: {name: no-latest}
        spec:
          steps:
          - try:
            - apply: {file: pod.yaml}
            - assert: {file: policy-ready.yaml}
            catch:
            - error: {file: absent-*.yaml}
        """
    files = {"no-latest/.chainsaw-test/chainsaw-test.yaml": test,
             "no-latest/.chainsaw-test/policy-ready.yaml": POLICY_STATUS,
             "no-latest/.chainsaw-test/absent-pod.yaml": POLICY_STATUS,
             "no-latest/01-assert.yaml": POLICY_STATUS,
             "no-latest/.chainsaw-test/pod.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n",
             "no-latest/stray.yaml": POLICY_STATUS}
    found = _schema_findings(files, schema_cache, crd_dirs=(reference / "crds/kyverno",))
    assert [(f.rule, f.file) for f in found] == [("NS-S001", "no-latest/stray.yaml")]  # not asserted by any test


def test_a_builtin_kind_at_a_version_kubernetes_no_longer_serves_is_an_error(schema_cache: Path) -> None:
    # `kubectl apply` answers "no matches for kind Ingress in version extensions/v1beta1": not a missing CRD.
    old = "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: web}\nspec: {rules: []}\n"
    custom = "apiVersion: ingress.example.org/v1\nkind: Ingress\nmetadata: {name: web}\nspec: {}\n"
    found = _schema_findings({"apps/old.yaml": old, "apps/custom.yaml": custom}, schema_cache,
                             kubernetes_version="1.30")
    assert {f.file: (f.rule, f.severity) for f in found} == {"apps/old.yaml": ("NS-S001", Severity.ERROR),
                                                             "apps/custom.yaml": ("NS-S002", Severity.WARNING)}
    assert "not served by Kubernetes 1.30 (it serves Ingress as networking.k8s.io/v1)" in found[0].message + found[1].message
