"""Kyverno ClusterPolicy / Policy: match and exclude, failure actions, autogen, cel rules, refusals."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from neuroscale.findings import Finding, Severity
from neuroscale.policy.admission import admit

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "api-1", "namespace": "team-a", "labels": {"app": "api"},
                    "annotations": {"owner": "team-a"}},
       "spec": {"containers": [{"name": "api", "image": "nginx:latest"}]}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "api", "namespace": "team-a", "labels": {"app": "api"}},
              "spec": {"template": {"metadata": {"labels": {"app": "api"}},
                                    "spec": {"containers": [{"name": "api", "image": "nginx:latest"}]}}}}
CRONJOB = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "team-a"},
           "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
               {"name": "job", "image": "busybox:latest"}]}}}}}}
TEAM_A = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"tier": "gold"}}}

PATTERN = {"spec": {"containers": [{"image": "!*:latest"}]}}


def policy(match: dict[str, Any] | None = None, *, exclude: dict[str, Any] | None = None,
           validate: dict[str, Any] | None = None, action: str | None = "Enforce", kind: str = "ClusterPolicy",
           **rule_extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": "no-latest", "match": match or {"any": [{"resources": {"kinds": ["Pod"]}}]},
                            "validate": validate or {"message": "no latest", "pattern": PATTERN}, **rule_extra}
    if exclude:
        rule["exclude"] = exclude
    spec: dict[str, Any] = {"rules": [rule]}
    if action:
        spec["validationFailureAction"] = action
    metadata: dict[str, Any] = {"name": "disallow-latest"}
    if kind == "Policy":
        metadata["namespace"] = "team-a"
    return {"apiVersion": "kyverno.io/v1", "kind": kind, "metadata": metadata, "spec": spec}


def findings_for(document: dict[str, Any], objects: list[dict[str, Any]] | None = None) -> list[Finding]:
    return admit(objects or [POD, TEAM_A], policy_documents=[document], include_bundled=False)


def about_object(findings: list[Finding], index: int = 0) -> list[Finding]:
    return [f for f in findings if f.extra.get("index") == index]


def resources(**fields: Any) -> dict[str, Any]:
    return {"any": [{"resources": fields}]}


@pytest.mark.parametrize(("match", "matched"), [
    (resources(kinds=["Pod"]), True),
    (resources(kinds=["v1/Pod"]), True),
    (resources(kinds=["*/Pod"]), True),
    (resources(kinds=["apps/v1/Deployment"]), False),
    (resources(kinds=["P?d"]), True),
    (resources(kinds=["Pod"], namespaces=["team-*"]), True),
    (resources(kinds=["Pod"], namespaces=["kube-system"]), False),
    (resources(kinds=["Pod"], names=["api-*"]), True),
    (resources(kinds=["Pod"], name="web"), False),
    (resources(kinds=["Pod"], selector={"matchLabels": {"app": "a*"}}), True),
    (resources(kinds=["Pod"], selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}),
     False),
    (resources(kinds=["Pod"], namespaceSelector={"matchLabels": {"tier": "gold"}}), True),
    (resources(kinds=["Pod"], namespaceSelector={"matchLabels": {"tier": "silver"}}), False),
    (resources(kinds=["Pod"], annotations={"owner": "team-?"}), True),
    (resources(kinds=["Pod"], operations=["UPDATE"]), False),
    ({"all": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"namespaces": ["team-a"]}}]}, True),
    ({"all": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"namespaces": ["team-b"]}}]}, False),
    ({"resources": {"kinds": ["Pod"]}}, True),
    ({"any": [{"subjects": [{"kind": "User", "name": "alice"}]}]}, False),
])
def test_match(match: dict[str, Any], matched: bool) -> None:
    assert bool(about_object(findings_for(policy(match)))) is matched


@pytest.mark.parametrize(("exclude", "excluded"), [
    (resources(namespaces=["team-a"]), True),
    (resources(names=["other"]), False),
    ({"all": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"selector": {"matchLabels": {"app": "api"}}}}]}, True),
    ({"any": [{"subjects": [{"kind": "ServiceAccount", "name": "argocd-application-controller"}]}]}, False),
])
def test_exclude(exclude: dict[str, Any], excluded: bool) -> None:
    assert (not about_object(findings_for(policy(exclude=exclude)))) is excluded


@pytest.mark.parametrize(("action", "rule_action", "severity"), [
    ("Enforce", None, Severity.ERROR), ("enforce", None, Severity.ERROR), ("Audit", None, Severity.WARNING),
    (None, None, Severity.WARNING), ("Audit", "Enforce", Severity.ERROR), ("Enforce", "Audit", Severity.WARNING),
])
def test_failure_actions(action: str | None, rule_action: str | None, severity: Severity) -> None:
    validate: dict[str, Any] = {"message": "no latest", "pattern": PATTERN}
    if rule_action:
        validate["failureAction"] = rule_action
    [finding] = about_object(findings_for(policy(validate=validate, action=action)))
    assert finding.severity is severity


def test_failure_action_override_per_namespace() -> None:
    document = policy()
    document["spec"]["validationFailureActionOverrides"] = [{"action": "Audit", "namespaces": ["team-*"]}]
    [finding] = about_object(findings_for(document))
    assert finding.severity is Severity.WARNING


def test_finding_names_rule_path_and_message() -> None:
    [finding] = about_object(findings_for(policy()))
    assert finding.rule == "disallow-latest/no-latest"
    assert finding.field_path == "spec.containers.0.image"
    assert "no latest" in finding.message and "/spec/containers/0/image/" in finding.message
    assert finding.extra["policy"] == "disallow-latest" and finding.extra["rule"] == "no-latest"


def test_any_pattern_passes_when_one_alternative_matches() -> None:
    validate = {"message": "pinned", "anyPattern": [PATTERN, {"metadata": {"labels": {"app": "api"}}}]}
    assert not about_object(findings_for(policy(validate=validate)))
    validate["anyPattern"][1] = {"metadata": {"labels": {"app": "db"}}}
    assert about_object(findings_for(policy(validate=validate)))


@pytest.mark.parametrize(("obj", "rule"), [(DEPLOYMENT, "autogen-no-latest"), (CRONJOB, "autogen-cronjob-no-latest")])
def test_pod_rules_autogen_for_controllers(obj: dict[str, Any], rule: str) -> None:
    [finding] = about_object(findings_for(policy(), [obj, TEAM_A]))
    assert finding.rule == f"disallow-latest/{rule}"
    assert finding.field_path.endswith("template.spec.containers.0.image")


def test_autogen_can_be_disabled() -> None:
    document = policy()
    document["metadata"]["annotations"] = {"pod-policies.kyverno.io/autogen-controllers": "none"}
    assert not about_object(findings_for(document, [DEPLOYMENT, TEAM_A]))


def test_namespaced_policy_only_sees_its_namespace() -> None:
    other = copy.deepcopy(POD)
    other["metadata"]["namespace"] = "team-b"
    findings = findings_for(policy(kind="Policy"), [POD, other])
    assert about_object(findings, 0) and not about_object(findings, 1)


def test_cel_rule_with_variables_and_preconditions() -> None:
    validate = {"cel": {
        "variables": [{"name": "images", "expression": "object.spec.containers.map(c, c.image)"}],
        "expressions": [{"expression": "variables.images.all(i, !i.endsWith(':latest'))",
                         "messageExpression": "'latest images: ' + variables.images.join(', ')"}]}}
    [finding] = about_object(findings_for(policy(validate=validate)))
    assert finding.message == "latest images: nginx:latest"
    assert finding.severity is Severity.ERROR
    skipped = policy(validate=validate, celPreconditions=[{"name": "gold", "expression": "false"}])
    assert not about_object(findings_for(skipped))


@pytest.mark.parametrize(("rule_extra", "validate", "construct"), [
    ({"mutate": {"patchStrategicMerge": {}}}, None, "mutate"),
    ({"generate": {"kind": "ConfigMap"}}, None, "generate"),
    ({"verifyImages": [{"imageReferences": ["*"]}]}, None, "verifyImages"),
    ({}, {"deny": "always"}, "deny must be a mapping"),
    ({}, {"foreach": [{"list": "request.object.spec.containers", "context": [{"name": "x"}],
                       "pattern": {"image": "*"}}]}, "unknown entry type"),
    ({}, {"foreach": [{"list": "request.object.spec.containers", "pattern": {"image": "*"},
                       "context": [{"name": "tags", "apiCall": {"urlPath": "/api/v1/namespaces"}}]}]},
     "is an API call"),
    ({}, {"foreach": [{"pattern": {"image": "*"}}]}, "without a list"),
    ({}, {"podSecurity": {"level": "baseline"}}, "validate.podSecurity"),
    ({"context": [{"name": "regs", "imageRegistry": {"reference": "nginx"}}]}, None, "image registry lookup"),
    ({}, {"cel": {"expressions": [{"expression": "object.spec.("}]}}, "does not compile"),
    ({}, {"pattern": {"metadata": {"+(labels)": {"a": "b"}}}}, "add-if-not-present"),
    ({"preconditions": {"all": [{"key": "{{ request.object.[ }}", "operator": "Equals", "value": "x"}]}}, None,
     "does not parse"),
    ({}, {"deny": {"conditions": {"any": [{"key": "{{ x509_decode(request.object.data) }}", "operator": "Equals",
                                           "value": "x"}]}}}, "function not available"),
    ({}, {"deny": {"conditions": {"any": [{"key": "a", "operator": "Resembles", "value": "b"}]}}}, "operator"),
])
def test_unevaluable_rules_are_errors(rule_extra: dict[str, Any], validate: dict[str, Any] | None,
                                      construct: str) -> None:
    document = policy(validate=validate, **rule_extra)
    if rule_extra.get("mutate") or rule_extra.get("generate") or rule_extra.get("verifyImages"):
        del document["spec"]["rules"][0]["validate"]
    errors = [f for f in findings_for(document) if f.rule == "policy/unevaluable"]
    assert errors and all(f.severity is Severity.ERROR for f in errors)
    assert construct in errors[0].message


@pytest.mark.parametrize("document", [
    {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": "oops"},
    {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"rules": []}},
    {"apiVersion": "policies.kyverno.io/v1alpha1", "kind": "ImageValidatingPolicy", "metadata": {"name": "x"},
     "spec": {}},
    {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"},
     "spec": {"rules": [{"name": "r", "match": {"any": [{"resources": {"kinds": ["Pod"], "bogus": 1}}]},
                         "validate": {"pattern": PATTERN}}]}},
])
def test_broken_documents_are_findings_not_crashes(document: dict[str, Any]) -> None:
    findings = findings_for(document)
    assert any(f.rule == "policy/unevaluable" and f.severity is Severity.ERROR for f in findings)


def test_cel_rule_with_params_from_the_set() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "banned", "namespace": "team-a"},
              "data": {"tag": ":latest"}}
    validate = {"cel": {"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
                        "paramRef": {"name": "banned", "parameterNotFoundAction": "Deny"},
                        "expressions": [{
                            "expression": "object.spec.containers.all(c, !c.image.endsWith(params.data.tag))",
                            "message": "banned tag"}]}}
    [finding] = about_object(findings_for(policy(validate=validate), [POD, TEAM_A, config]))
    assert finding.message == "banned tag"
    [missing] = about_object(findings_for(policy(validate=validate), [POD, TEAM_A]))
    assert "parameter" in missing.message


def deny(conditions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"message": "denied {{ request.object.metadata.name }}", "deny": {"conditions": conditions}, **extra}


@pytest.mark.parametrize(("conditions", "denied"), [
    ({"any": [{"key": "{{ request.operation }}", "operator": "Equals", "value": "CREATE"}]}, True),
    ({"any": [{"key": "{{ request.object.metadata.labels.app }}", "operator": "AnyIn", "value": ["web", "db"]}]},
     False),
    ({"any": [{"key": "{{ request.object.spec.containers[].image }}", "operator": "AnyIn", "value": ["*:latest"]}]},
     True),
    ({"all": [{"key": "{{ length(request.object.spec.containers) }}", "operator": "GreaterThan", "value": 1}]},
     False),
    ({"all": [{"key": "{{ request.object.metadata.labels.team || '' }}", "operator": "Equals", "value": ""}]}, True),
    ([{"key": "{{ to_upper(request.object.metadata.name) }}", "operator": "Equals", "value": "API-*"}], True),
    ({"any": [{"key": "{{ request.object.metadata.namespace }}", "operator": "NotIn", "value": ["team-a"]}]},
     False),
    ({"all": [{"key": "2Gi", "operator": "GreaterThanOrEquals", "value": "1024Mi"},
              {"key": "{{ request.object.metadata.annotations.owner }}", "operator": "AnyNotIn",
               "value": ["team-b"]}]}, True),
])
def test_deny_conditions(conditions: Any, denied: bool) -> None:
    findings = about_object(findings_for(policy(validate=deny(conditions))))
    assert bool(findings) is denied
    if denied:
        assert "denied api-1" in findings[0].message


def test_preconditions_skip_the_rule() -> None:
    skipped = policy(preconditions={"all": [{"key": "{{ request.object.metadata.labels.app }}",
                                             "operator": "Equals", "value": "db"}]})
    assert not about_object(findings_for(skipped))
    applied = policy(preconditions={"any": [{"key": "{{ request.operation || 'BACKGROUND' }}",
                                             "operator": "AnyIn", "value": ["CREATE", "UPDATE"]}]})
    assert about_object(findings_for(applied))


def test_unset_variable_is_an_error_not_a_pass() -> None:
    document = policy(validate=deny({"any": [{"key": "{{ request.object.metadata.labels.team }}",
                                              "operator": "Equals", "value": "x"}]}))
    [finding] = about_object(findings_for(document))
    assert finding.severity is Severity.ERROR and finding.extra["result"] == "error"
    assert "unknown key 'team'" in finding.message


def test_foreach_with_deny_and_element_variables() -> None:
    validate = {"message": "no latest", "foreach": [{
        "list": "request.object.spec.containers",
        "preconditions": {"all": [{"key": "{{ element.name }}", "operator": "Equals", "value": "api"}]},
        "deny": {"conditions": {"any": [{"key": "{{ element.image }}", "operator": "Equals", "value": "*:latest"}]}},
    }]}
    [finding] = about_object(findings_for(policy(validate=validate)))
    assert finding.field_path == "spec.containers.0"
    other = json.loads(json.dumps(validate).replace('"value": "api"', '"value": "sidecar"'))
    assert not about_object(findings_for(policy(validate=other)))


def test_variables_inside_patterns() -> None:
    validate = {"message": "label must equal the name",
                "pattern": {"metadata": {"labels": {"app": "{{ request.object.metadata.name }}"}}}}
    assert about_object(findings_for(policy(validate=validate)))
    same = copy.deepcopy(POD)
    same["metadata"]["labels"]["app"] = "api-1"
    assert not about_object(findings_for(policy(validate=validate), [same, TEAM_A]))


def test_repository_configmaps_feed_context_and_exceptions_apply_in_admission() -> None:
    """`check`/admission: a context ConfigMap is read from the objects checked; a PolicyException exempts."""
    validate = {"message": "registry {{ images.containers.api.registry }} is not allowed",
                "deny": {"conditions": {"all": [{"key": "{{ images.containers.api.registry }}",
                                                  "operator": "AnyNotIn",
                                                  "value": "{{ settings.data.registries | split(@, ',') }}"}]}}}
    document = policy(validate=validate, context=[{"name": "settings", "configMap": {
        "name": "registries", "namespace": "platform"}}])
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "registries", "namespace": "platform"},
              "data": {"registries": "ghcr.io,registry.corp.example"}}
    [finding] = about_object(findings_for(document, [POD, TEAM_A, config]))
    assert finding.message.startswith("validation error: registry docker.io is not allowed")
    exception = {"apiVersion": "kyverno.io/v2", "kind": "PolicyException",
                 "metadata": {"name": "api-exempt", "namespace": "team-a"},
                 "spec": {"exceptions": [{"policyName": "disallow-latest", "ruleNames": ["no-latest"]}],
                          "match": {"any": [{"resources": {"kinds": ["Pod"], "names": ["api-*"]}}]}}}
    exempted = admit([POD, TEAM_A, config], policy_documents=[document, exception], include_bundled=False)
    assert not about_object(exempted)
    missing = about_object(findings_for(document, [POD, TEAM_A]))
    assert missing and missing[0].rule == "policy/unevaluable" and "ConfigMap platform/registries" in missing[0].message
