"""NS-L016..NS-L022: each lint on real upstream inputs where they exist, flagged and quiet cases both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from neuroscale.check.lints import (
    l016_moved_images as l016,
    l017_ci_floating_refs as l017,
    l018_policy_scope as l018,
    l019_optional_secrets as l019,
    l020_chart_values as l020,
    l021_metrics_removed as l021,
    l022_embedded_only_annotations as l022,
)
from neuroscale.check.lints.images import parse_reference
from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.findings import Severity
from neuroscale.yamlio import dump

from .helpers import deployment, lint, write_repo

KSERVE = "upstream/kserve-v0.12.1/config"


# --- image references and NS-L016 -------------------------------------------------------------------------------

@pytest.mark.parametrize(("image", "registry", "repository", "tag"), [
    ("nginx", "docker.io", "library/nginx", ""),
    ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2"),
    ("registry-1.docker.io/bitnami/redis", "docker.io", "bitnami/redis", ""),
    ("registry.local:5000/app", "registry.local:5000", "app", ""),
    ("localhost/team/app:1", "localhost", "team/app", "1"),
    ("ghcr.io/a/b:v1@sha256:" + "0" * 64, "ghcr.io", "a/b", "v1"),
])
def test_references_are_read_as_the_runtime_reads_them(image: str, registry: str, repository: str, tag: str) -> None:
    ref = parse_reference(image)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)


@pytest.mark.parametrize(("image", "severity", "needle"), [
    ("k8s.gcr.io/pause:3.2", Severity.WARNING, "frozen"),
    ("bitnami/postgresql:16.2.0", Severity.WARNING, "bitnamilegacy"),
    ("docker.io/bitnami/redis:7.2", Severity.WARNING, "2025-09-29"),
    ("gcr.io/kubebuilder/kube-rbac-proxy:v0.13.1", Severity.ERROR, "pulls fail"),
])
def test_l016_flags_moved_registries_from_the_dated_list(image: str, severity: Severity, needle: str) -> None:
    [found] = lint(l016.LINT, {"apps/db.yaml": deployment("db", image=image)})
    assert found.severity is severity and needle in found.message + found.fix


@pytest.mark.parametrize("image", ["registry.k8s.io/pause:3.9", "bitnamilegacy/redis:7.2", "quay.io/brancz/kube-rbac-proxy:v0.18.0",
                                   "ghcr.io/bitnami-labs/sealed-secrets:0.27.0"])
def test_l016_quiet_for_maintained_registries(image: str) -> None:
    assert lint(l016.LINT, {"apps/db.yaml": deployment("db", image=image)}) == []


# --- NS-L017 CI workflows -----------------------------------------------------------------------------------------

WORKFLOW = {
    "name": "ci", "on": {"pull_request": {}},
    "jobs": {
        "check": {
            "runs-on": "ubuntu-24.04", "container": "python:latest",
            "services": {"db": {"image": "postgres:16.3"}},
            "steps": [
                {"uses": "actions/checkout@v4"},
                {"uses": "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b"},
                {"uses": "./.github/actions/local"},
                {"name": "tools", "run": "pip install 'neuroscale==0.1.0' -r requirements.txt\npip install kubeconform\n"
                                         "npm ci\nnpm install -g prettier@3.3.3 ajv-cli\n"
                                         "curl -fsSL https://get.example.org/install.sh | bash\n"
                                         "curl -fsSL -o crds.yaml https://example.org/crds.yaml\n"},
            ],
        },
        "reuse": {"uses": "acme/workflows/.github/workflows/scan.yml@main"},
    },
}


def test_l017_flags_every_floating_reference_in_a_workflow() -> None:
    found = lint(l017.LINT, {".github/workflows/ci.yaml": dump(WORKFLOW)})
    messages = sorted(f.message for f in found)
    assert all(f.severity is Severity.WARNING for f in found)
    assert [m for m in messages if "python:latest" in m]
    assert [m for m in messages if "actions/checkout@v4" in m]
    assert [m for m in messages if "scan.yml@main" in m]
    assert [m for m in messages if "installs kubeconform unpinned" in m]
    assert [m for m in messages if "installs ajv-cli unpinned" in m]
    assert [m for m in messages if "pipes a downloaded script into a shell" in m]
    assert len(found) == 6  # pinned action, local action, pinned pip/npm, plain downloads, postgres:16.3: quiet


def test_l017_flags_a_package_installed_from_a_default_branch() -> None:
    # The credentials' `@` is not a ref; `@<ref>` after the repository path pins it.
    run = ("pip install git+https://${TOKEN}@github.com/acme/docs-theme.git\n"
           "pip install git+https://github.com/acme/tool.git@3f1c2a9\n")
    flow = {"name": "docs", "on": {"push": {}},
            "jobs": {"docs": {"runs-on": "ubuntu-24.04", "steps": [{"run": run}]}}}
    found = lint(l017.LINT, {".github/workflows/docs.yaml": dump(flow)})
    assert [f.message for f in found] == [
        "step 1: installs git+https://${TOKEN}@github.com/acme/docs-theme.git unpinned "
        "(`pip install git+https://${TOKEN}@github.com/acme/docs-theme.git` takes whatever is newest)"]


def test_l017_is_quiet_on_the_generated_workflow() -> None:
    from neuroscale.platform.ci import WORKFLOW_PATH, workflow

    from tests.platform.conftest import make_options

    assert lint(l017.LINT, {WORKFLOW_PATH: dump(workflow(make_options()))}) == []


# --- NS-L018 policy scope -----------------------------------------------------------------------------------------

KYVERNO_TAG = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-tag}
spec:
  validationFailureAction: Enforce
  rules:
    - name: tagged
      match:
        any:
          - resources: {kinds: [Pod]{namespaces}}
      {exclude}
      validate:
        message: images need a tag
        pattern:
          spec:
            containers:
              - image: "{pattern}"
"""


def kyverno_tag(pattern: str = "*:*", namespaces: str = "", exclude: str = "") -> str:
    return KYVERNO_TAG.replace("{pattern}", pattern).replace("{namespaces}", namespaces).replace("{exclude}", exclude)


def vap(expression: str) -> str:
    return dump({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                 "metadata": {"name": "tag-cel"},
                 "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                                  "operations": ["CREATE"], "resources": ["deployments"]}]},
                          "validations": [{"expression": expression}]}}) + "---\n" + dump(
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": "tag-cel"}, "spec": {"policyName": "tag-cel", "validationActions": ["Deny"]}})


@pytest.mark.parametrize(("policy", "gap"), [
    (kyverno_tag("*:*"), True),
    (kyverno_tag("?*:?*"), True),
    (vap("object.spec.template.spec.containers.all(c, c.image.contains(':'))"), True),
    (vap("object.spec.template.spec.containers.all(c, c.image.substring(c.image.lastIndexOf('/') + 1).contains(':'))"),
     False),
    (vap("object.spec.template.spec.containers.all(c, c.image.contains('@'))"), False),
], ids=["kyverno-star-colon", "kyverno-question", "cel-contains", "cel-last-segment", "cel-digest"])
def test_l018_finds_tag_checks_that_take_a_registry_port_for_a_tag(policy: str, gap: bool) -> None:
    found = [f for f in lint(l018.LINT, {"policies/tag.yaml": policy}) if "registry's port" in f.message]
    assert bool(found) is gap


def test_l018_finds_namespaces_the_workloads_use_but_the_policy_does_not_govern() -> None:
    files = {"policies/tag.yaml": kyverno_tag("?*:?*@*|*@sha256:*", namespaces=", namespaces: [ml-prod]"),
             "apps/a.yaml": deployment("a", namespace="ml-staging"), "apps/b.yaml": deployment("b", namespace="ml-prod"),
             "neuroscale.yaml": "governedNamespaces: [ml-prod, ml-staging]\n"}
    [gap] = [f for f in lint(l018.LINT, files) if "governs only" in f.message]
    assert "ml-staging" in gap.message and gap.file == "policies/tag.yaml"
    files["neuroscale.yaml"] = "governedNamespaces: [ml-prod]\n"  # ml-staging is not ours to govern
    assert not [f for f in lint(l018.LINT, files) if "governs only" in f.message]


def test_l018_finds_exemptions_any_author_can_claim() -> None:
    by_label = "exclude:\n        any:\n          - resources:\n              selector: {matchLabels: {skip-policy: 'true'}}"
    by_namespace = "exclude:\n        any:\n          - resources:\n              namespaces: [kube-system]"
    [found] = [f for f in lint(l018.LINT, {"p.yaml": kyverno_tag("?*:?*@*|*@sha256:*", exclude=by_label)})
               if "label only" in f.message]
    assert "skip-policy" in found.message
    assert not [f for f in lint(l018.LINT, {"p.yaml": kyverno_tag("?*:?*@*|*@sha256:*", exclude=by_namespace)})
                if "label only" in f.message]


def test_l018_finds_security_context_read_at_one_level_only() -> None:
    container_only = kyverno_tag().replace('              - image: "*:*"',
                                           "              - securityContext:\n                  runAsNonRoot: true")
    [found] = [f for f in lint(l018.LINT, {"p.yaml": container_only}) if "securityContext" in f.message]
    assert "containers only" in found.message
    both = vap("object.spec.template.spec.containers.all(c, has(c.securityContext.runAsNonRoot) ? "
               "c.securityContext.runAsNonRoot : object.spec.template.spec.securityContext.runAsNonRoot == true)")
    assert not [f for f in lint(l018.LINT, {"p.yaml": both}) if "securityContext" in f.message]


def test_l018_is_quiet_on_the_policies_neuroscale_exports(tmp_path: Path) -> None:
    from neuroscale.policy.export import export_policies

    for fmt in ("vap", "kyverno"):
        documents = export_policies(fmt)  # type: ignore[arg-type]
        text = "---\n".join(dump(d) for d in documents)
        assert lint(l018.LINT, {"infrastructure/policies/all.yaml": text}) == [], fmt


# --- NS-L019 optional secrets -------------------------------------------------------------------------------------

def _with_env(env: str) -> str:
    return deployment("backstage").replace("          resources:", env + "          resources:", 1)


def test_l019_flags_an_optional_credential() -> None:
    env = ("          env:\n            - name: POSTGRES_PASSWORD\n              valueFrom:\n                secretKeyRef:\n"
           "                  name: backstage-db\n                  key: password\n                  optional: true\n")
    [found] = lint(l019.LINT, {"apps/backstage.yaml": _with_env(env)})
    assert "POSTGRES_PASSWORD" in found.message and "nothing in the repository creates it" in found.message
    assert found.line == _with_env(env).lstrip("\n").splitlines().index("                  optional: true") + 1
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: backstage-db, namespace: default}\nstringData: {password: x}\n"
    [created] = lint(l019.LINT, {"apps/backstage.yaml": _with_env(env), "apps/secret.yaml": secret})
    assert "nothing in the repository" not in created.message


def test_l019_quiet_for_optional_non_credentials_and_required_secrets() -> None:
    optional_flag = ("          env:\n            - name: FEATURE_FLAGS\n              valueFrom:\n                secretKeyRef:\n"
                     "                  name: flags\n                  key: flags\n                  optional: true\n")
    required = optional_flag.replace("FEATURE_FLAGS", "API_TOKEN").replace("                  optional: true\n", "")
    assert lint(l019.LINT, {"a.yaml": _with_env(optional_flag), "b.yaml": _with_env(required)}) == []


# --- NS-L020 chart values -----------------------------------------------------------------------------------------

def opencost_app(values: dict[str, object], version: str = "2.5.17") -> str:
    return dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                 "metadata": {"name": "opencost", "namespace": "argocd"},
                 "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc",
                                                                "namespace": "opencost"},
                          "source": {"repoURL": "https://opencost.github.io/opencost-helm-chart", "chart": "opencost",
                                     "targetRevision": version, "helm": {"valuesObject": values}}}})


GOOD_OPENCOST = {"opencost": {"exporter": {"defaultClusterId": "prod", "extraEnv": {"ANY_NAME": "x"},
                                           "resources": {"requests": {"cpu": "10m"}}},
                              "ui": {"enabled": True}, "metrics": {"serviceMonitor": {"enabled": False}}},
                 "podAnnotations": {"free.form/annotation": "yes"}}


def test_l020_judges_values_against_the_vendored_opencost_chart(reference: Path) -> None:
    chart = (reference / "charts/opencost-2.5.17.tgz").read_bytes()
    assert lint(l020.LINT, {"vendor/opencost-2.5.17.tgz": chart, "apps/opencost.yaml": opencost_app(GOOD_OPENCOST)}) == []
    typo = {"opencost": {"exporter": {"defaultClusterID": "prod"}, "uiSettings": {"enabled": True}}}
    found = lint(l020.LINT, {"vendor/opencost-2.5.17.tgz": chart, "apps/opencost.yaml": opencost_app(typo)})
    assert sorted(f.field_path for f in found) == [
        "spec.source.helm.valuesObject.opencost.exporter.defaultClusterID",
        "spec.source.helm.valuesObject.opencost.uiSettings"]
    assert any("did you mean opencost.exporter.defaultClusterId" in f.fix for f in found)
    # Another chart version is not vendored: nothing is claimed about it.
    assert lint(l020.LINT, {"vendor/opencost-2.5.17.tgz": chart, "apps/opencost.yaml": opencost_app(typo, "1.42.0")}) == []


def test_l020_validates_against_values_schema_json(reference: Path) -> None:
    chart = (reference / "charts/backstage-2.6.3.tgz").read_bytes()
    app = opencost_app({"backstage": {"replicas": "three"}}).replace("opencost-helm-chart", "charts").replace(
        "chart: opencost", "chart: backstage").replace("targetRevision: 2.5.17", "targetRevision: 2.6.3")
    found = lint(l020.LINT, {"vendor/backstage-2.6.3.tgz": chart, "apps/backstage.yaml": app})
    assert any("values.schema.json" in f.message and "backstage.replicas" in f.message for f in found)


def test_l020_reads_value_files_of_a_multi_source_application(reference: Path) -> None:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "opencost"},
           "spec": {"sources": [
               {"repoURL": "https://opencost.github.io/opencost-helm-chart", "chart": "opencost",
                "targetRevision": "2.5.17", "helm": {"valueFiles": ["$values/cost/values-prod.yaml"]}},
               {"repoURL": "https://github.com/acme/platform.git", "targetRevision": "main", "ref": "values"}]}}
    found = lint(l020.LINT, {"vendor/opencost-2.5.17.tgz": (reference / "charts/opencost-2.5.17.tgz").read_bytes(),
                             "apps/opencost.yaml": dump(app), "cost/values-prod.yaml": "opencost:\n  exportr: {}\n"})
    assert [(f.file, f.field_path) for f in found] == [("cost/values-prod.yaml", "opencost.exportr")]


# --- NS-L021 metrics removed by a patch ---------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("kubectl") is None and shutil.which("kustomize") is None,
                    reason="needs kustomize (kubectl) to render")
def test_l021_finds_the_kserve_metrics_service_left_without_its_proxy(reference: Path, tmp_path: Path) -> None:
    upstream = reference / KSERVE
    metrics_service = dump({"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": "kserve-controller-manager-metrics-service", "namespace": "kserve"},
                            "spec": {"selector": {"control-plane": "kserve-controller-manager",
                                                  "controller-tools.k8s.io": "1.0"},
                                     "ports": [{"name": "https", "port": 8443, "targetPort": "https"}]}})
    drop_proxy = dump({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "kserve-controller-manager", "namespace": "kserve"},
                       "spec": {"template": {"spec": {"containers": [{"name": "kube-rbac-proxy", "$patch": "delete"}]}}}})
    root = write_repo(tmp_path, {
        "kserve/base/manager.yaml": (upstream / "manager/manager.yaml").read_text(),
        "kserve/base/manager_auth_proxy_patch.yaml": (upstream / "default/manager_auth_proxy_patch.yaml").read_text(),
        "kserve/base/metrics-service.yaml": metrics_service,
        "kserve/base/kustomization.yaml": "resources: [manager.yaml, metrics-service.yaml]\n"
                                          "patches:\n  - path: manager_auth_proxy_patch.yaml\n",
        "kserve/overlay/drop-proxy.yaml": drop_proxy,
        "kserve/overlay/kustomization.yaml": "resources: [../base]\npatches:\n  - path: drop-proxy.yaml\n",
    })
    report = run_check(root, options=CheckOptions())
    [found] = [f for f in report.findings if f.rule == l021.ID]
    assert found.severity is Severity.ERROR and found.file == "kserve/base/manager.yaml"
    assert "kserve-controller-manager-metrics-service" in found.message and "kube-rbac-proxy:8443" in found.message
    (root / "kserve/overlay/kustomization.yaml").write_text("resources: [../base]\n")  # the proxy stays
    assert not [f for f in run_check(root, options=CheckOptions()).findings if f.rule == l021.ID]


# --- NS-L022 annotations only the embedded gateway acts on --------------------------------------------------------

ARGO_APP = dump({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                 "metadata": {"name": "endpoints", "namespace": "argocd"},
                 "spec": {"project": "default", "source": {"repoURL": "https://github.com/acme/ml.git", "path": "apps"},
                          "destination": {"server": "https://kubernetes.default.svc", "namespace": "ml"}}})


def annotated_isvc(notes: dict[str, str]) -> str:
    return dump({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                 "metadata": {"name": "iris", "namespace": "ml", "annotations": notes},
                 "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                                  "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model"}}}})


def test_l022_an_api_key_requirement_a_cluster_would_not_enforce_is_an_error() -> None:
    manifest = annotated_isvc({"serving.neuroscale.io/require-api-key": "true"})
    [found] = lint(l022.LINT, {"apps/iris.yaml": manifest, "argocd/endpoints.yaml": ARGO_APP})
    assert found.severity is Severity.ERROR and "answers requests without any key" in found.message
    assert found.line == manifest.splitlines().index("    serving.neuroscale.io/require-api-key: 'true'") + 1
    [unreadable] = lint(l022.LINT, {"apps/iris.yaml": annotated_isvc({"serving.neuroscale.io/require-api-key": "yes"}),
                                    "argocd/endpoints.yaml": ARGO_APP})
    assert unreadable.severity is Severity.ERROR, "a value the gateway would refuse still reads as asking for keys"


def test_l022_recording_and_shadowing_on_a_cluster_are_warnings() -> None:
    notes = {"serving.neuroscale.io/record-requests": "true", "serving.neuroscale.io/shadow-percent": "50"}
    found = lint(l022.LINT, {"apps/iris.yaml": annotated_isvc(notes), "argocd/endpoints.yaml": ARGO_APP})
    assert sorted(f.field_path for f in found) == [f"metadata.annotations.{key}" for key in sorted(notes)]
    assert all(f.severity is Severity.WARNING and "does nothing on a cluster" in f.message for f in found)


def test_l022_quiet_on_the_embedded_platform_and_for_annotations_turned_off() -> None:
    notes = {"serving.neuroscale.io/require-api-key": "true", "serving.neuroscale.io/shadow-percent": "100"}
    assert lint(l022.LINT, {"apps/iris.yaml": annotated_isvc(notes)}) == [], "no Argo CD: the embedded gateway runs it"
    off = {"serving.neuroscale.io/require-api-key": "false", "serving.neuroscale.io/shadow-percent": "0"}
    assert lint(l022.LINT, {"apps/iris.yaml": annotated_isvc(off), "argocd/endpoints.yaml": ARGO_APP}) == []


def test_l022_reads_annotations_as_written_by_hand() -> None:
    """A shape our generator never writes: flow style, the `sklearn:` framework key, unquoted `true` and `25`."""
    manifest = ("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
                "metadata: {name: iris, namespace: ml, annotations: {serving.neuroscale.io/require-api-key: true, "
                "serving.neuroscale.io/shadow-percent: 25}}\n"
                "spec:\n  predictor:\n    sklearn: {storageUri: 'gs://kfserving-examples/models/sklearn/1.0/model'}\n")
    found = lint(l022.LINT, {"apps/iris.yaml": manifest, "argocd/endpoints.yaml": ARGO_APP})
    assert sorted((f.severity, f.field_path) for f in found) == [
        (Severity.ERROR, "metadata.annotations.serving.neuroscale.io/require-api-key"),
        (Severity.WARNING, "metadata.annotations.serving.neuroscale.io/shadow-percent")]
