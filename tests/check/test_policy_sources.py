"""Policies where they live: found anywhere in the repository, plus --policies, evaluated as the cluster
would; the bundled policies govern what neuroscale.yaml says NeuroScale governs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from neuroscale.check.model import BundledScope, CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.findings import Finding, Severity

from .helpers import GOVERNS_DEFAULT, deployment, isvc, write_repo

Run = Callable[..., tuple[int, str, str]]

NO_LATEST = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: team-no-latest
spec:
  validationFailureAction: {action}
  rules:
    - name: pinned
      match:
        any:
          - resources:
              kinds: [Deployment]
              namespaces: [{namespaces}]
      validate:
        message: "pin the image"
        pattern:
          spec:
            template:
              spec:
                containers:
                  - image: "!*:latest"
"""

VAP = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replicas-cap
spec:
  matchConstraints:
    resourceRules:
      - apiGroups: [apps]
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [deployments]
  validations:
    - expression: object.spec.replicas <= 3
      message: at most 3 replicas
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replicas-cap-prod
spec:
  policyName: replicas-cap
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: prod
"""

#: What a vendored upstream install looks like: a controller without our labels or resources.
UPSTREAM_CONTROLLER = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kyverno-admission-controller
  namespace: kyverno
spec:
  selector:
    matchLabels: {app: kyverno}
  template:
    metadata:
      labels: {app: kyverno}
    spec:
      containers:
        - name: kyverno
          image: reg.kyverno.io/kyverno/kyverno:v1.12.5
"""


def check(root: Path, **options: object) -> list[Finding]:
    return list(run_check(root, options=CheckOptions(**options)).findings)  # type: ignore[arg-type]


def of_policy(findings: list[Finding], policy: str) -> list[tuple[str, str]]:
    return sorted((f.file, f.severity.value) for f in findings if f.extra.get("policy") == policy)


def test_kyverno_policies_are_found_where_the_repository_keeps_them(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {
        "infrastructure/kyverno/policies/no-latest.yaml": NO_LATEST.format(action="Enforce", namespaces="prod"),
        "apps/prod/web.yaml": deployment("web", image="nginx:latest", namespace="prod"),
        "apps/dev/web.yaml": deployment("web", image="nginx:latest", namespace="dev"),
    })
    findings = check(root)
    # The policy's own match decides: only the prod Deployment; Enforce is an error.
    assert of_policy(findings, "team-no-latest") == [("apps/prod/web.yaml", "error")]


def test_audit_policies_warn_and_enforce_policies_fail(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {
        "platform/policies/no-latest.yaml": NO_LATEST.format(action="Audit", namespaces="prod"),
        "apps/web.yaml": deployment("web", image="nginx:latest", namespace="prod"),
    })
    report = run_check(root, options=CheckOptions())
    assert of_policy(list(report.findings), "team-no-latest") == [("apps/web.yaml", "warning")]
    assert report.exit_code == 1  # the image lint (NS-L003) still fails :latest; the policy itself only warns


def test_vap_binding_scope_is_honoured_wherever_it_sits(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {
        "clusters/admission/replicas.yaml": VAP,
        "apps/prod.yaml": deployment("big", replicas=5, namespace="prod"),
        "apps/dev.yaml": deployment("big", replicas=5, namespace="dev"),
    })
    assert of_policy(check(root), "replicas-cap") == [("apps/prod.yaml", "error")]


def test_policies_option_adds_policies_from_outside_the_repository(tmp_path: Path, run_cli: Run) -> None:
    org = write_repo(tmp_path / "org-policies", {"no-latest.yaml": NO_LATEST.format(action="Enforce",
                                                                                      namespaces="prod")})
    root = write_repo(tmp_path / "repo", {"apps/web.yaml": deployment("web", image="nginx:latest", namespace="prod")})
    assert not of_policy(check(root), "team-no-latest")
    code, out, _ = run_cli(str(root), "--policies", str(org), "--format", "json")
    assert code == 1 and '"team-no-latest/pinned"' in out
    code, _, err = run_cli(str(root), "--policies", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in err


def test_bundled_policies_skip_vendored_installs_and_say_so(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"infrastructure/kyverno/install.yaml": UPSTREAM_CONTROLLER,
                                 "apps/iris.yaml": isvc().replace("cost-center: cc-1", "team: x")})
    findings = check(root)
    bundled = [f for f in findings if f.rule.startswith("neuroscale-")]
    # The endpoint is governed wherever it is; the vendored controller is not judged by our labels.
    assert {(f.file, f.obj.kind if f.obj else "") for f in bundled} == {("apps/iris.yaml", "InferenceService")}
    [note] = [f for f in findings if f.rule == "NS-E002"]
    assert note.severity is Severity.INFO and "kyverno/kyverno-admission-controller" in note.message
    assert "governedNamespaces" in note.fix and "--bundled-scope all" in note.fix
    widened = check(root, bundled_scope=BundledScope.ALL)
    assert any(f.rule.startswith("neuroscale-require-labels") and f.file == "infrastructure/kyverno/install.yaml"
               for f in widened)
    assert not [f for f in widened if f.rule == "NS-E002"]


def test_governed_namespaces_come_from_neuroscale_yaml(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"neuroscale.yaml": "governedNamespaces: [kyverno]\n",
                                 "infrastructure/kyverno/install.yaml": UPSTREAM_CONTROLLER})
    assert {f.rule.split("/")[0] for f in check(root) if f.rule.startswith("neuroscale-")} >= {
        "neuroscale-require-labels", "neuroscale-require-resources-deployment"}


def test_a_repository_policy_replacing_a_bundled_one_judges_everything_it_matches(tmp_path: Path) -> None:
    own = NO_LATEST.format(action="Enforce", namespaces="kyverno").replace("team-no-latest",
                                                                          "neuroscale-run-as-non-root")
    root = write_repo(tmp_path, {"policies/own.yaml": own, "infrastructure/kyverno/install.yaml":
                                 UPSTREAM_CONTROLLER.replace(":v1.12.5", ":latest")})
    assert of_policy(check(root), "neuroscale-run-as-non-root") == [("infrastructure/kyverno/install.yaml", "error")]


def test_a_broken_neuroscale_yaml_is_an_error_at_the_file(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"neuroscale.yaml": "governedNamespaces: [Prod_NS]\nextra: 1\n",
                                 "apps/iris.yaml": isvc()})
    errors = [f for f in check(root) if f.rule == "NS-C001"]
    assert errors and all(f.file == "neuroscale.yaml" and f.severity is Severity.ERROR for f in errors)
    assert any("extra" in f.message for f in errors)


def test_a_policy_exception_reaches_the_engine_and_is_never_dropped(tmp_path: Path) -> None:
    exception = """
    apiVersion: kyverno.io/v2
    kind: PolicyException
    metadata: {name: legacy-web, namespace: prod}
    spec:
      exceptions:
        - policyName: team-no-latest
          ruleNames: [pinned, autogen-pinned]
      match:
        any:
          - resources: {kinds: [Deployment], names: [legacy]}
    """
    root = write_repo(tmp_path, {
        "policies/no-latest.yaml": NO_LATEST.format(action="Enforce", namespaces="prod"),
        "policies/exceptions/legacy.yaml": exception,
        "apps/legacy.yaml": deployment("legacy", image="nginx:latest", namespace="prod"),
        "apps/web.yaml": deployment("web", image="nginx:latest", namespace="prod"),
    })
    report = run_check(root, options=CheckOptions())
    if report.exit_code == 2:  # an engine without exception support must say so, naming the exception
        assert any(f.rule == "policy/unevaluable" and "legacy-web" in f.message for f in report.findings)
    else:
        assert of_policy(list(report.findings), "team-no-latest") == [("apps/web.yaml", "error")]


def test_governs_default_fixture_puts_default_workloads_under_the_bundled_policies(tmp_path: Path) -> None:
    unlabelled = deployment("web").replace("    cost-center: cc-1\n", "")
    plain = write_repo(tmp_path / "plain", {"apps/web.yaml": unlabelled})
    governed = write_repo(tmp_path / "governed", {"apps/web.yaml": unlabelled, **GOVERNS_DEFAULT})
    assert not [f for f in check(plain) if f.rule.startswith("neuroscale-require-labels")]
    assert [f for f in check(governed) if f.rule.startswith("neuroscale-require-labels")]
