"""Every lint fires on a fixture reproducing its failure mode and stays quiet on the fixed version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale import yamlio
from neuroscale.check.lints import ALL_LINTS, LINTS_BY_ID
from neuroscale.check.lints import (
    l001_patch_delete as l001,
    l002_kserve_ingress as l002,
    l003_images as l003,
    l004_helm_values_nesting as l004,
    l005_backstage_probes as l005,
    l006_backstage_app_config as l006,
    l007_backstage_catalog_rules as l007,
    l008_backstage_auth as l008,
    l009_placeholder_secrets as l009,
    l010_plaintext_secrets as l010,
    l011_label_near_miss as l011,
    l012_crd_size as l012,
    l013_duplicate_objects as l013,
    l014_webhook_sync_wave as l014,
    l016_moved_images as l016,
)
from neuroscale.findings import Severity

from .helpers import deployment, isvc, lint

KSERVE = "upstream/kserve-v0.12.1/config"


def application(name: str, path: str, *, wave: int | None = None, ssa: bool = False, chart: str = "") -> str:
    annotations = f"\n  annotations:\n    argocd.argoproj.io/sync-wave: \"{wave}\"" if wave is not None else ""
    source = f"chart: {chart}\n    repoURL: https://charts.example.org\n    targetRevision: 1.0.0" if chart else \
        f"repoURL: https://git.example.org/platform.git\n    path: {path}"
    sync = "\n  syncPolicy:\n    syncOptions:\n      - ServerSideApply=true" if ssa else ""
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd"
            f"{annotations}\nspec:\n  project: default\n  source:\n    {source}\n"
            f"  destination:\n    server: https://kubernetes.default.svc\n    namespace: default{sync}\n")


def test_registry_has_unique_ids_and_failure_modes() -> None:
    ids = [item.id for item in ALL_LINTS]
    assert len(ids) == len(set(ids)) == len(ALL_LINTS) >= 16
    assert all(item.failure_modes and item.title and item.id.startswith("NS-L") for item in ALL_LINTS)
    assert LINTS_BY_ID["NS-L011"].failure_modes == ("FM-23", "FM-40")


# --- NS-L001 `$patch: delete` -------------------------------------------------------------------------------------

CRD_DELETE = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: inferenceservices.serving.kserve.io
$patch: delete
"""

SIDECAR_DELETE = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kserve-controller-manager
  namespace: kserve
spec:
  template:
    spec:
      containers:
        - name: kube-rbac-proxy
          $patch: delete
"""


def test_l001_flags_orphan_crd_delete_patch() -> None:
    found = lint(l001.LINT, {"infrastructure/serving-stack/patches/remove-inferenceservice-crd.yaml": CRD_DELETE})
    assert len(found) == 1
    assert "deletes the CRD inferenceservices.serving.kserve.io" in found[0].message
    assert "no kustomization lists it" in found[0].message
    assert found[0].line == 5  # the `$patch` line


def test_l001_flags_patch_in_a_plain_directory_an_application_syncs() -> None:
    found = lint(l001.LINT, {
        "apps/root.yaml": application("serving", "manifests"),
        "manifests/kustomization-less-patch.yaml": SIDECAR_DELETE,
        "kustomize/kustomization.yaml": "patches:\n  - path: ../manifests/kustomization-less-patch.yaml\n",
    })
    assert len(found) == 1 and "Application serving syncs" in found[0].message


def test_l001_quiet_for_a_referenced_patch_in_a_kustomize_application() -> None:
    assert lint(l001.LINT, {
        "apps/serving.yaml": application("serving", "serving"),
        "serving/kustomization.yaml": "resources:\n  - base.yaml\npatches:\n  - path: patches/drop-sidecar.yaml\n",
        "serving/patches/drop-sidecar.yaml": SIDECAR_DELETE,
    }) == []


def test_l001_a_referenced_crd_delete_is_still_critical() -> None:
    found = lint(l001.LINT, {
        "serving/kustomization.yaml": "patches:\n  - path: remove-crd.yaml\n",
        "serving/remove-crd.yaml": CRD_DELETE,
    })
    assert len(found) == 1 and "deletes the CRD" in found[0].message and "no kustomization" not in found[0].message


# --- NS-L002 KServe ingress config ----------------------------------------------------------------------------------

def _ingress_config(reference: Path, **ingress: object) -> str:
    doc = yamlio.load_one((reference / KSERVE / "configmap/inferenceservice.yaml").read_text())
    if ingress:
        doc["data"]["ingress"] = json.dumps(ingress)
    return yamlio.dump(doc)


def test_l002_flags_the_upstream_istio_default_and_example_domain(reference: Path) -> None:
    text = (reference / KSERVE / "configmap/inferenceservice.yaml").read_text()
    found = lint(l002.LINT, {"serving/inferenceservice-config.yaml": text})
    messages = {f.severity: f.message for f in found}
    assert "installs no Istio" in messages[Severity.ERROR]
    assert "'example.com' is a placeholder" in messages[Severity.WARNING]
    assert all(f.line and f.line > 1 for f in found)


def test_l002_quiet_for_kourier_settings_and_a_real_domain(reference: Path) -> None:
    text = _ingress_config(reference, disableIstioVirtualHost=True, ingressDomain="127.0.0.1.sslip.io",
                           ingressClassName="kourier")
    assert lint(l002.LINT, {"serving/inferenceservice-config.yaml": text}) == []


def test_l002_istio_settings_are_fine_when_istio_is_installed(reference: Path) -> None:
    text = _ingress_config(reference, ingressDomain="models.acme.internal")
    istio = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n"
    assert lint(l002.LINT, {"serving/config.yaml": text, "istio/ns.yaml": istio}) == []


def test_l002_flags_ingress_json_that_does_not_parse() -> None:
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inferenceservice-config\n  namespace: kserve\n"
            "data:\n  ingress: |-\n    {\"disableIstioVirtualHost\": true,}\n")
    found = lint(l002.LINT, {"config.yaml": text})
    assert len(found) == 1 and "not valid JSON" in found[0].message and found[0].line == 7


# --- NS-L003 images -------------------------------------------------------------------------------------------------

def test_l016_flags_the_upstream_kube_rbac_proxy_image(reference: Path) -> None:
    text = (reference / KSERVE / "default/manager_auth_proxy_patch.yaml").read_text()
    assert lint(l003.LINT, {"kserve/manager_auth_proxy_patch.yaml": text}) == []  # pinned: not NS-L003's business
    found = lint(l016.LINT, {"kserve/manager_auth_proxy_patch.yaml": text})
    assert len(found) == 1 and found[0].severity is Severity.ERROR
    assert "gcr.io/kubebuilder/kube-rbac-proxy:v0.13.1" in found[0].message and "2025-03-18" in found[0].message
    assert found[0].line == text.splitlines().index("        image: gcr.io/kubebuilder/kube-rbac-proxy:v0.13.1") + 1


@pytest.mark.parametrize(("image", "expected"), [
    ("nginx", "has no tag"),
    ("ghcr.io/acme/app:latest", "floating :latest"),
    ("registry.local:5000/app", "has no tag"),
])
def test_l003_flags_floating_images(image: str, expected: str) -> None:
    found = lint(l003.LINT, {"apps/web.yaml": deployment(image=image)})
    assert len(found) == 1 and expected in found[0].message


def test_l003_flags_a_floating_image_in_a_serving_runtime() -> None:
    # Every predictor that selects the runtime runs its containers.
    runtime = ("apiVersion: serving.kserve.io/v1alpha1\nkind: ClusterServingRuntime\nmetadata:\n  name: sklearn\n"
               "spec:\n  supportedModelFormats: [{name: sklearn}]\n"
               "  containers:\n  - name: kserve-container\n    image: kserve/sklearnserver:latest\n")
    found = lint(l003.LINT, {"runtimes/sklearn.yaml": runtime})
    assert [(f.field_path, f.line) for f in found] == [("spec.containers[0].image", 9)]


def test_l003_points_at_the_image_line_of_each_container() -> None:
    # The label `app: busybox` and the init container's equal image must not take the findings' lines.
    pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: tools\n  labels:\n    app: busybox\nspec:\n"
           "  containers:\n  - name: main\n    image: busybox\n"
           "  initContainers:\n  - name: init\n    image: busybox\n")
    found = lint(l003.LINT, {"apps/pod.yaml": pod})
    assert sorted((f.field_path, f.line) for f in found) == [("spec.containers[0].image", 10),
                                                             ("spec.initContainers[0].image", 13)]


@pytest.mark.parametrize("image", ["registry.local:5000/app:1.2.3", "nginx@sha256:" + "a" * 64,
                                   "quay.io/brancz/kube-rbac-proxy:v0.18.0"])
def test_l003_quiet_for_pinned_images(image: str) -> None:
    assert lint(l003.LINT, {"apps/web.yaml": deployment(image=image), "apps/iris.yaml": isvc()}) == []


# --- Backstage wrapper chart (NS-L004 .. NS-L008) -------------------------------------------------------------------

WRAPPER_CHART = """
apiVersion: v2
name: neuroscale-backstage
version: 0.1.0
dependencies:
  - name: backstage
    version: 2.6.3
    repository: https://backstage.github.io/charts
"""

GOOD_APP_CONFIG = """
      appConfig:
        app:
          title: NeuroScale Platform
          baseUrl: http://localhost:7010
        backend:
          baseUrl: http://localhost:7010
        catalog:
          locations:
            - type: url
              target: https://git.example.org/platform/blob/main/backstage/templates/model-endpoint/template.yaml
              rules:
                - allow: [Template]
"""

GOOD_PROBES = """
      startupProbe:
        httpGet:
          path: /.backstage/health/v1/liveness
          port: 7007
        initialDelaySeconds: 120
        failureThreshold: 30
        periodSeconds: 10
"""


@pytest.fixture
def chart(reference: Path) -> dict[str, str | bytes]:
    return {"platform/backstage/Chart.yaml": WRAPPER_CHART,
            "platform/backstage/charts/backstage-2.6.3.tgz": (reference / "charts/backstage-2.6.3.tgz").read_bytes()}


def test_l004_flags_values_one_level_too_shallow(chart: dict[str, str | bytes]) -> None:
    values = "backstage:\n" + GOOD_APP_CONFIG.replace("      ", "  ", 1).replace("\n      ", "\n  ")
    found = lint(l004.LINT, {**chart, "platform/backstage/values.yaml": values})
    assert [f.field_path for f in found] == ["backstage.appConfig"]
    assert "move it to backstage.backstage.appConfig" in found[0].fix
    assert found[0].line == 3


def test_l004_quiet_when_values_are_nested_under_the_dependency(chart: dict[str, str | bytes]) -> None:
    values = "backstage:\n  backstage:\n" + GOOD_APP_CONFIG + GOOD_PROBES + "  ingress:\n    enabled: false\n"
    assert lint(l004.LINT, {**chart, "platform/backstage/values.yaml": values}) == []


def test_l004_says_so_when_the_dependency_is_not_vendored() -> None:
    found = lint(l004.LINT, {"platform/backstage/Chart.yaml": WRAPPER_CHART,
                             "platform/backstage/values.yaml": "backstage:\n  appConfig: {}\n"})
    assert len(found) == 1 and found[0].severity is Severity.INFO and "not vendored" in found[0].message


def test_l005_flags_the_chart_default_startup_probe(chart: dict[str, str | bytes]) -> None:
    values = "backstage:\n  backstage:\n" + GOOD_APP_CONFIG
    found = lint(l005.LINT, {**chart, "platform/backstage/values.yaml": values})
    assert len(found) == 1 and "gives Backstage 30s" in found[0].message


def test_l005_quiet_with_a_generous_startup_probe(chart: dict[str, str | bytes]) -> None:
    values = "backstage:\n  backstage:\n" + GOOD_APP_CONFIG + GOOD_PROBES
    assert lint(l005.LINT, {**chart, "platform/backstage/values.yaml": values}) == []


def test_l005_judges_a_profile_file_over_the_wrappers_values_yaml(chart: dict[str, str | bytes]) -> None:
    """Helm applies the wrapper's values.yaml under values-dev.yaml: its probe counts for the profile."""
    base = "backstage:\n  backstage:\n" + GOOD_PROBES
    profile = "backstage:\n  backstage:\n" + GOOD_APP_CONFIG
    assert lint(l005.LINT, {**chart, "platform/backstage/values.yaml": base,
                            "platform/backstage/values-dev.yaml": profile}) == []


def test_l005_flags_a_profile_that_shortens_the_shared_probe(chart: dict[str, str | bytes]) -> None:
    base = "backstage:\n  backstage:\n" + GOOD_PROBES
    profile = "backstage:\n  backstage:\n    startupProbe:\n      initialDelaySeconds: 0\n      failureThreshold: 3\n"
    found = lint(l005.LINT, {**chart, "platform/backstage/values.yaml": base,
                             "platform/backstage/values-prod.yaml": profile})
    assert [(f.file, f.field_path) for f in found] == [("platform/backstage/values-prod.yaml",
                                                        "backstage.backstage.startupProbe")]
    assert "gives Backstage 30s" in found[0].message


def test_l006_flags_missing_app_title(chart: dict[str, str | bytes]) -> None:
    values = "backstage:\n  backstage:\n" + GOOD_APP_CONFIG.replace("          title: NeuroScale Platform\n", "")
    found = lint(l006.LINT, {**chart, "platform/backstage/values.yaml": values})
    assert len(found) == 1 and "app.title" in found[0].message and "backend.baseUrl" not in found[0].message


def test_l006_quiet_with_all_required_keys(chart: dict[str, str | bytes]) -> None:
    assert lint(l006.LINT, {**chart, "platform/backstage/values.yaml": "backstage:\n  backstage:\n" + GOOD_APP_CONFIG}) == []


def test_l007_flags_rules_that_slipped_out_of_the_location_item(chart: dict[str, str | bytes]) -> None:
    slipped = GOOD_APP_CONFIG.replace("              rules:\n                - allow: [Template]\n",
                                      "            - rules:\n                - allow: [Template]\n")
    found = lint(l007.LINT, {**chart, "platform/backstage/values.yaml": "backstage:\n  backstage:\n" + slipped})
    assert len(found) == 1 and "registers a Template" in found[0].message


def test_l007_quiet_when_the_location_allows_templates(chart: dict[str, str | bytes]) -> None:
    assert lint(l007.LINT, {**chart, "platform/backstage/values.yaml": "backstage:\n  backstage:\n" + GOOD_APP_CONFIG}) == []


GUEST = """
        auth:
          providers:
            guest:
              dangerouslyAllowOutsideDevelopment: true
"""


def test_l008_flags_guest_escape_hatch_in_production_values(chart: dict[str, str | bytes]) -> None:
    values = "backstage:\n  backstage:\n" + GOOD_APP_CONFIG + GUEST
    found = lint(l008.LINT, {**chart, "platform/backstage/values-prod.yaml": values})
    assert len(found) == 1 and "dangerouslyAllowOutsideDevelopment" in found[0].message


def test_l008_quiet_for_the_same_setting_in_development_values(chart: dict[str, str | bytes]) -> None:
    values = "backstage:\n  backstage:\n" + GOOD_APP_CONFIG + GUEST
    assert lint(l008.LINT, {**chart, "platform/backstage/values.yaml": values}) == []


# --- NS-L009 / NS-L010 secrets --------------------------------------------------------------------------------------

def secret(value: str) -> str:
    return ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: neuroscale-backstage-secrets\n  namespace: backstage\n"
            f"type: Opaque\nstringData:\n  GITHUB_TOKEN: \"{value}\"\n")


def test_l009_flags_the_token_placeholder_without_printing_it() -> None:
    found = lint(l009.LINT, {"backstage/secret.yaml": secret("<YOUR_TOKEN_HERE>")})
    assert len(found) == 1 and "17 characters" in found[0].message and "YOUR_TOKEN" not in found[0].message


@pytest.mark.parametrize("value", ["changeme", "your-token", "REPLACE_ME"])
def test_l009_flags_placeholders_under_credential_keys(value: str) -> None:
    found = lint(l009.LINT, {"backstage/values.yaml": f"github:\n  token: {value}\n"})
    assert len(found) == 1 and found[0].field_path == "github.token"


def test_l009_quiet_for_env_references_and_non_credentials() -> None:
    assert lint(l009.LINT, {"backstage/values.yaml": "github:\n  token: ${GITHUB_TOKEN}\nmessage: changeme\n"}) == []


def test_l010_flags_committed_secret_values_by_key_and_length_only() -> None:
    found = lint(l010.LINT, {"backstage/secret.yaml": secret("ghp_0123456789abcdefghij0123456789abcdef")})
    assert len(found) == 1 and "GITHUB_TOKEN (40 chars)" in found[0].message and "ghp_" not in found[0].message


def test_l010_quiet_for_a_secret_without_values() -> None:
    empty = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ntype: Opaque\n"
    assert lint(l010.LINT, {"s.yaml": empty}) == []


# --- NS-L011 near-miss labels ---------------------------------------------------------------------------------------

def test_l011_flags_camel_case_cost_center_in_a_manifest() -> None:
    found = lint(l011.LINT, {"apps/iris/inference-service.yaml": isvc().replace("cost-center:", "costCenter:")})
    assert len(found) == 1 and "'costCenter'" in found[0].message and found[0].line == 8


def test_l011_flags_near_misses_in_templates_too() -> None:
    template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    cost_center: {{ .Values.cc }}\n"
    skeleton = "metadata:\n  name: ${{ values.name }}\n  labels:\n    costCenter: ${{ values.costCenter }}\n"
    found = lint(l011.LINT, {"charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\n",
                             "charts/app/templates/cm.yaml": template,
                             "backstage/templates/model/skeleton/apps/inference-service.yaml": skeleton,
                             "backstage/templates/model/skeleton/apps/${{ values.name }}/isvc.yaml.njk": skeleton})
    assert sorted((f.file, f.line) for f in found) == [
        ("backstage/templates/model/skeleton/apps/${{ values.name }}/isvc.yaml.njk", 4),
        ("backstage/templates/model/skeleton/apps/inference-service.yaml", 4), ("charts/app/templates/cm.yaml", 5)]


def test_l011_quiet_for_exact_keys_and_unrelated_camel_case() -> None:
    template = "spec:\n  costCenterReport: true\nmetadata:\n  labels:\n    cost-center: {{ .Values.cc }}\n"
    assert lint(l011.LINT, {"apps/iris.yaml": isvc(), "charts/app/Chart.yaml": "name: app\n",
                            "charts/app/templates/cm.yaml": template}) == []


# --- NS-L012 CRD size -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_crd(reference: Path) -> str:
    return (reference / "crds/argocd/applicationset-crd.yaml").read_text()


def test_l012_flags_an_oversized_crd_synced_client_side(big_crd: str) -> None:
    found = lint(l012.LINT, {"argocd/crds/applicationset-crd.yaml": big_crd,
                             "apps/argocd-crds.yaml": application("argocd-crds", "argocd/crds")})
    assert len(found) == 1 and "applicationsets.argoproj.io" in found[0].message and "argocd-crds" in found[0].fix


def test_l012_quiet_with_server_side_apply(big_crd: str) -> None:
    assert lint(l012.LINT, {"argocd/crds/applicationset-crd.yaml": big_crd,
                            "apps/argocd-crds.yaml": application("argocd-crds", "argocd/crds", ssa=True)}) == []


# --- NS-L013 duplicates ---------------------------------------------------------------------------------------------

def recursive(app: str) -> str:
    return app.replace("\n  destination:", "\n    directory:\n      recurse: true\n  destination:")


def test_l013_flags_an_object_managed_by_two_applications() -> None:
    found = lint(l013.LINT, {"apps/a.yaml": recursive(application("serving-stack", "serving")),
                             "apps/b.yaml": application("knative", "serving/knative"),
                             "serving/knative/crd.yaml": deployment("activator")})
    assert len(found) == 1 and "managed by 2 Applications (knative, serving-stack)" in found[0].message


def test_l013_a_directory_application_applies_subdirectories_only_with_recurse() -> None:
    # Argo CD applies the files directly in a plain directory unless `directory.recurse` is set.
    assert lint(l013.LINT, {"apps/a.yaml": application("serving-stack", "serving"),
                            "apps/b.yaml": application("knative", "serving/knative"),
                            "serving/knative/crd.yaml": deployment("activator")}) == []


def test_l013_an_application_on_a_kustomization_applies_only_what_it_builds() -> None:
    # The kustomization lists web.yaml; old/web.yaml sits below it but no build reads it.
    found = lint(l013.LINT, {"apps/a.yaml": application("web", "web"),
                             "web/kustomization.yaml": "resources: [web.yaml]\n",
                             "web/web.yaml": deployment("web"), "web/old/web.yaml": deployment("web")})
    assert found == []


def test_l013_in_cluster_by_name_is_the_cluster_by_server() -> None:
    by_name = application("b", "web").replace("server: https://kubernetes.default.svc", "name: in-cluster")
    elsewhere = application("c", "web").replace("https://kubernetes.default.svc", "https://edge.example.org")
    found = lint(l013.LINT, {"apps/a.yaml": application("a", "web"), "apps/b.yaml": by_name,
                             "apps/c.yaml": elsewhere, "web/web.yaml": deployment()})
    assert [f.message for f in found if "managed by" in f.message] == [
        "Deployment.apps default/web is managed by 2 Applications (a, b)"]


def test_l013_two_owners_of_one_rendered_object_are_reported_once() -> None:
    twice = deployment() + "---\n" + deployment()
    found = lint(l013.LINT, {"apps/a.yaml": application("a", "web"), "apps/b.yaml": application("b", "web"),
                             "web/web.yaml": twice})
    assert [sum(phrase in f.message for f in found) for phrase in ("managed by 2 Applications", "rendered 2 times")
            ] == [1, 1]


def test_l013_flags_two_applications_with_the_same_source() -> None:
    found = lint(l013.LINT, {"apps/set-generated.yaml": application("demo-iris", "apps/demo-iris"),
                             "infrastructure/apps/demo-iris-app.yaml": application("demo-iris-app", "apps/demo-iris")})
    assert any("both sync apps/demo-iris" in f.message for f in found)


def test_l013_flags_an_object_rendered_twice_in_one_file() -> None:
    found = lint(l013.LINT, {"apps/web.yaml": deployment() + "---\n" + deployment()})
    assert len(found) == 1 and "rendered 2 times" in found[0].message


def test_l013_quiet_for_distinct_objects() -> None:
    assert lint(l013.LINT, {"apps/a.yaml": application("serving", "serving"),
                            "serving/web.yaml": deployment("web"), "serving/api.yaml": deployment("api")}) == []


# --- NS-L014 webhook sync waves -------------------------------------------------------------------------------------

def test_l014_flags_kyverno_synced_after_the_platform() -> None:
    found = lint(l014.LINT, {"apps/kyverno.yaml": application("policy-guardrails", "", wave=20, chart="kyverno"),
                             "apps/serving.yaml": application("serving-stack", "serving", wave=0)})
    assert len(found) == 1 and "sync wave 20" in found[0].message and "serving-stack" in found[0].message


def test_l014_quiet_when_kyverno_goes_first() -> None:
    assert lint(l014.LINT, {"apps/kyverno.yaml": application("policy-guardrails", "", wave=-10, chart="kyverno"),
                            "apps/serving.yaml": application("serving-stack", "serving", wave=0)}) == []


def test_l003_flags_latest_in_helm_values_but_not_an_empty_tag() -> None:
    def values(tag: str) -> str:
        return f"backstage:\n  backstage:\n    image:\n      registry: ghcr.io\n      repository: backstage/backstage\n{tag}"

    found = lint(l003.LINT, {"platform/values-prod.yaml": values("      tag: latest\n")})
    assert [(f.field_path, f.line) for f in found] == [("backstage.backstage.image", 3)]
    assert "ghcr.io/backstage/backstage:latest" in found[0].message
    assert lint(l003.LINT, {"platform/values-prod.yaml": values("      tag: 1.32.0\n")}) == []
    assert lint(l003.LINT, {"platform/values-prod.yaml": values("")}) == []
    dead = "proxy:\n  image:\n    repository: gcr.io/kubebuilder/kube-rbac-proxy\n"
    assert lint(l003.LINT, {"values.yaml": dead}) == []  # the chart's appVersion tag: pinned
    assert len(lint(l016.LINT, {"values.yaml": dead})) == 1  # but from a registry that stopped serving
