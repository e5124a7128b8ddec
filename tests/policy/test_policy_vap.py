"""ValidatingAdmissionPolicy evaluation: matching, conditions, variables, messages, bindings, params."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from neuroscale.findings import Finding, Severity
from neuroscale.policy.admission import admit

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"}},
    "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}},
}
PROD = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}


def vap(spec_overrides: dict[str, Any] | None = None, **validation: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "matchConstraints": {"resourceRules": [
            {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["deployments"]}]},
        "validations": [validation or {"expression": "object.spec.replicas <= 3", "message": "too many replicas"}],
    }
    spec.update(spec_overrides or {})
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "max-replicas"}, "spec": spec}


def binding(actions: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "max-replicas-binding"},
            "spec": {"policyName": "max-replicas", "validationActions": actions or ["Deny"], **spec}}


def evaluate(documents: list[dict[str, Any]], objects: list[dict[str, Any]] | None = None) -> list[Finding]:
    return admit(objects if objects is not None else [DEPLOYMENT, PROD], policy_documents=documents,
                 include_bundled=False)


def of_policy(findings: list[Finding]) -> list[Finding]:
    """Findings of the policy under test about the Deployment (object #0)."""
    return [f for f in findings if f.extra.get("policy") == "max-replicas" and f.extra.get("index") == 0]


@pytest.mark.parametrize(("constraints", "matched"), [
    ({"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}]}, True),
    ({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}]}, True),
    ({"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}, False),
    ({"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"],
                         "operations": ["DELETE"]}]}, False),
    ({"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"],
                         "resourceNames": ["other"]}]}, False),
    ({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}],
      "excludeResourceRules": [{"apiGroups": ["apps"], "apiVersions": ["*"], "resources": ["deployments"]}]}, False),
    ({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}],
      "namespaceSelector": {"matchLabels": {"env": "prod"}}}, True),
    ({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}],
      "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}}, False),
    ({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}],
      "objectSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}}, True),
    ({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}],
      "objectSelector": {"matchLabels": {"app": "db"}}}, False),
])
def test_match_constraints(constraints: dict[str, Any], matched: bool) -> None:
    findings = of_policy(evaluate([vap({"matchConstraints": constraints}), binding()]))
    assert bool(findings) is matched


def test_namespace_without_object_matches_by_metadata_name_label() -> None:
    constraints = {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}],
                   "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prod"}}}
    assert of_policy(evaluate([vap({"matchConstraints": constraints}), binding()], [DEPLOYMENT]))


@pytest.mark.parametrize(("conditions", "matched"), [
    ([{"name": "big", "expression": "object.spec.replicas > 1"}], True),
    ([{"name": "small", "expression": "object.spec.replicas < 2"}], False),
    ([{"name": "a", "expression": "true"}, {"name": "b", "expression": "request.operation == 'UPDATE'"}], False),
])
def test_match_conditions(conditions: list[dict[str, str]], matched: bool) -> None:
    assert bool(of_policy(evaluate([vap({"matchConditions": conditions}), binding()]))) is matched


def test_variables_and_message_expression() -> None:
    policy = vap({"variables": [{"name": "limit", "expression": "3"},
                                {"name": "over", "expression": "object.spec.replicas - variables.limit"}]},
                 expression="variables.over <= 0",
                 messageExpression="'replicas over the limit by ' + string(variables.over)",
                 message="static", reason="Forbidden")
    policy["metadata"]["annotations"] = {
        "policy.neuroscale.io/rules": '[{"name": "max", "fix": "scale down", "fieldPath": "spec.replicas"}]'}
    [finding] = of_policy(evaluate([policy, binding()]))
    assert finding.message == "replicas over the limit by 2"
    assert (finding.rule, finding.field_path, finding.fix) == ("max-replicas/max", "spec.replicas", "scale down")
    assert finding.extra["reason"] == "Forbidden"
    assert finding.extra["index"] == 0
    assert finding.obj is not None and finding.obj.name == "web"


def test_each_policy_sees_its_own_variables_on_a_shared_subject() -> None:
    """The context receives `variables` lazily; a name another policy bound must never leak into this one."""
    def named(name: str, variables: list[dict[str, str]], **validation: Any) -> list[dict[str, Any]]:
        policy, bound = vap({"variables": variables}, **validation), binding()
        policy["metadata"]["name"] = bound["spec"]["policyName"] = bound["metadata"]["name"] = name
        return [policy, bound]

    shared = [{"name": "limit", "expression": "3"}]
    documents = [*named("a", shared, expression="object.spec.replicas <= variables.limit", message="a"),
                 *named("b", [{"name": "limit", "expression": "10"}],
                        expression="object.spec.replicas <= variables.limit", message="b"),
                 *named("c", [], expression="!has(variables.limit)", message="c"),
                 *named("d", shared, expression="object.spec.replicas <= variables.limit", message="d")]
    denied = sorted(f.extra["policy"] for f in evaluate(documents) if f.extra.get("index") == 0)
    assert denied == ["a", "d"]


def test_resource_names_are_judged_per_object_of_one_kind() -> None:
    """Rule verdicts are remembered per kind of object, and per name only when the rules name resources."""
    rules = {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE"],
                                "resources": ["deployments"], "resourceNames": ["web"]}]}
    other = copy.deepcopy(DEPLOYMENT)
    other["metadata"]["name"] = "api"
    findings = evaluate([vap({"matchConstraints": rules}), binding()], [other, DEPLOYMENT, PROD])
    assert sorted(f.extra["index"] for f in findings if f.extra.get("policy") == "max-replicas") == [1]


def test_broken_message_expression_falls_back_to_message() -> None:
    policy = vap(expression="false", message="static message", messageExpression="object.nothing.here")
    [finding] = of_policy(evaluate([policy, binding()]))
    assert finding.message == "static message"


@pytest.mark.parametrize(("actions", "severity"), [
    (["Deny"], Severity.ERROR), (["Warn"], Severity.WARNING), (["Audit"], Severity.WARNING),
    (["Warn", "Deny"], Severity.ERROR),
])
def test_validation_actions(actions: list[str], severity: Severity) -> None:
    [finding] = of_policy(evaluate([vap(), binding(actions)]))
    assert finding.severity is severity


def test_binding_match_resources_narrows() -> None:
    narrowed = binding(matchResources={"namespaceSelector": {"matchLabels": {"env": "dev"}}})
    assert not of_policy(evaluate([vap(), narrowed]))


def test_unbound_policy_enforces_nothing_but_warns() -> None:
    findings = evaluate([vap()])
    assert not of_policy(findings)
    assert [f.rule for f in findings] == ["policy/unbound"]


@pytest.mark.parametrize(("failure_policy", "severity"), [(None, Severity.ERROR), ("Ignore", Severity.WARNING)])
def test_runtime_error_follows_failure_policy(failure_policy: str | None, severity: Severity) -> None:
    spec = {"failurePolicy": failure_policy} if failure_policy else {}
    policy = vap(spec, expression="object.spec.missing.field == 1")
    [finding] = of_policy(evaluate([policy, binding()]))
    assert finding.severity is severity
    assert "could not be evaluated" in finding.message


@pytest.mark.parametrize(("validation", "fragment"), [
    ({"expression": "object.spec.replicas <="}, "does not compile"),
    ({"expression": "authorizer.serviceAccount('ns', 'sa').group('apps').resource('x').check('get').allowed()"},
     "authorizer"),
    ({"expression": "cluster.size() > 1"}, "Undefined"),
    ({"expression": "object.spec.replicas"}, "not bool"),
    ({"expression": "frobnicate(object)"}, "frobnicate"),
])
def test_unevaluable_is_an_error_never_a_pass(validation: dict[str, str], fragment: str) -> None:
    findings = evaluate([vap(**validation), binding()])
    errors = [f for f in findings if f.rule == "policy/unevaluable"]
    assert errors and all(f.severity is Severity.ERROR for f in errors)
    assert fragment in errors[0].message


def test_params_from_the_desired_set() -> None:
    params = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "limits", "namespace": "prod"},
              "data": {"max": "10"}}
    policy = vap({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}},
                 expression="object.spec.replicas <= int(params.data.max)")
    ref = {"name": "limits", "namespace": "prod", "parameterNotFoundAction": "Deny"}
    assert not of_policy(evaluate([policy, binding(paramRef=ref)], [DEPLOYMENT, PROD, params]))
    tighter = copy.deepcopy(params)
    tighter["data"]["max"] = "2"
    assert of_policy(evaluate([policy, binding(paramRef=ref)], [DEPLOYMENT, PROD, tighter]))
    [missing] = of_policy(evaluate([policy, binding(paramRef=ref)], [DEPLOYMENT, PROD]))
    assert "no" in missing.message and "parameter" in missing.message
    allowed = {**ref, "parameterNotFoundAction": "Allow"}
    assert not of_policy(evaluate([policy, binding(paramRef=allowed)], [DEPLOYMENT, PROD]))


def test_kyverno_validating_policy_uses_its_own_actions() -> None:
    document = {
        "apiVersion": "policies.kyverno.io/v1alpha1", "kind": "ValidatingPolicy", "metadata": {"name": "max-replicas"},
        "spec": {**vap()["spec"], "validationActions": ["Audit"]},
    }
    [finding] = of_policy(evaluate([document]))
    assert finding.severity is Severity.WARNING
    namespaced = {**copy.deepcopy(document), "kind": "NamespacedValidatingPolicy"}
    namespaced["metadata"]["namespace"] = "prod"
    assert of_policy(evaluate([namespaced]))
    namespaced["metadata"]["namespace"] = "dev"
    assert not of_policy(evaluate([namespaced]))
    disabled = copy.deepcopy(document)
    disabled["spec"]["evaluation"] = {"admission": {"enabled": False}}
    assert not of_policy(evaluate([disabled]))


def test_each_binding_sees_its_own_params_and_a_policy_without_params_sees_null() -> None:
    def limits(name: str, most: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "prod"},
                "data": {"max": most}}

    policy = vap({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}},
                 expression="object.spec.replicas <= int(params.data.max)", message="over the limit")
    loose, tight = (binding(paramRef={"name": n, "namespace": "prod"}) for n in ("loose", "tight"))
    tight["metadata"]["name"] = "tight-binding"
    unparameterised = vap(expression="params == null", message="params leaked")
    unparameterised["metadata"]["name"] = "no-params"
    no_params_binding = binding()
    no_params_binding["metadata"]["name"] = "no-params-binding"
    no_params_binding["spec"]["policyName"] = "no-params"
    second = copy.deepcopy(DEPLOYMENT)
    second["metadata"]["name"] = "api"
    found = evaluate([policy, loose, tight, unparameterised, no_params_binding],
                     [DEPLOYMENT, PROD, second, limits("loose", "10"), limits("tight", "2")])
    assert sorted((f.extra.get("policy"), f.extra.get("index")) for f in found if f.severity is Severity.ERROR) == [
        ("max-replicas", 0), ("max-replicas", 2)]  # the tight binding only, on both Deployments; params never leak
    alone = evaluate([policy, tight], [DEPLOYMENT, PROD, second, limits("tight", "2")])
    assert [(f.extra.get("index"), f.message) for f in alone] == [(0, "over the limit"), (2, "over the limit")]
