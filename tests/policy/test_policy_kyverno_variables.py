"""Kyverno variable substitution, condition operators and pattern semantics, table by table."""

from __future__ import annotations

from typing import Any

import pytest

from neuroscale.policy.kyverno_conditions import condition_holds, conditions_hold
from neuroscale.policy.kyverno_variables import ConditionError, path_parts, resolve, set_path, substitute
from neuroscale.policy.pattern import PatternUnsupported, match_pattern

DATA: dict[str, Any] = {
    "request": {"operation": "CREATE", "object": {
        "metadata": {"name": "web", "labels": {"app": "web", "tier": None}},
        "spec": {"replicas": 3, "containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "busybox"}]},
    }},
}


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ request.object.spec.replicas }}", 3),                                   # a whole-string variable keeps its type
    ("{{request.object.spec.containers[].name}}", ["a", "b"]),
    ("replicas={{ request.object.spec.replicas }}", "replicas=3"),              # interpolation prints the value
    ("names={{ request.object.spec.containers[].name }}", 'names=["a","b"]'),    # non-strings as JSON
    ("{{ request.object.metadata.labels.\"{{ request.object.metadata.name }}\" || 'none' }}", "none"),  # nested
    ("\\{{ request.object.metadata.name }} is {{ request.object.metadata.name }}",
     "{{ request.object.metadata.name }} is web"),                               # \{{ }} escapes
    ("{{ request.object.metadata.labels.tier }}", None),                         # present but null: null
    ("{{ request.object.metadata.annotations.owner || 'nobody' }}", "nobody"),   # defaults with ||
])
def test_substitution(template: str, expected: Any) -> None:
    assert substitute(template, DATA) == expected


@pytest.mark.parametrize("expression", [
    "request.object.metadata.labels.team",       # a missing key is Kyverno's "Unknown key" error
    "nothing.here",
])
def test_unknown_keys_are_errors(expression: str) -> None:
    with pytest.raises(ConditionError):
        resolve(expression, DATA)


def test_keys_are_substituted_and_at_means_the_resource_value_here() -> None:
    pattern = {"metadata": {"labels": {"{{ request.object.metadata.name }}-owner": "?*"}},
               "spec": {"replicas": "{{ @ }}"}}
    assert substitute(pattern, DATA) == {"metadata": {"labels": {"web-owner": "?*"}}, "spec": {"replicas": 3}}


def test_self_expanding_values_stop() -> None:
    data = {"a": "{{ a }}"}
    with pytest.raises(ConditionError, match="keep expanding"):
        substitute("x {{ a }}", data)


@pytest.mark.parametrize(("key", "operator", "value", "expected"), [
    ("1Gi", "Equals", "1024Mi", True),           # quantities by amount
    ("1h", "Equals", "60m", True),               # durations by length
    ("nginx:1.27", "Equals", "nginx:*", True),   # wildcards in the value
    (1, "Equals", "1", True),
    (True, "Equals", "true", False),             # a boolean key wants a boolean
    (None, "Equals", None, False),               # Kyverno compares no null key: both Equals and NotEquals fail
    (None, "NotEquals", "x", False),
    ({"a": 1}, "Equals", {"a": 1}, True),
    ("prod-eu", "In", ["prod-*", "staging"], True),
    (["a", "b"], "AllIn", ["a", "b", "c"], True),
    (["a", "z"], "AllIn", ["a", "b", "c"], False),
    (["a", "z"], "AnyIn", ["a", "b"], True),
    (["a", "z"], "AnyNotIn", ["a", "b"], True),
    (["a", "b"], "AllNotIn", ["c"], True),
    ("app", "AnyIn", '["app", "test"]', True),    # a JSON list given as a string (a ConfigMap value)
    ("ALL", "AnyNotIn", "", True),               # a string that is no JSON is a one-element list
    ("ALL", "AnyIn", "", False),
    ("a", "AnyNotIn", "[1, 2]", False),          # JSON that is not a list of strings: invalid, false
    (5555, "AnyIn", "5000-6000", True),          # numeric ranges
    ([53, 5555], "AnyNotIn", "5000-6000", True),
    ("x", "AnyIn", 3, False),                    # a value that is no list: false, not an error
    ("2Gi", "GreaterThan", "1500Mi", True),
    ("90s", "LessThan", "2m", True),
    ("1.10.0", "GreaterThan", "1.9.3", True),    # semantic versions
    ("abc", "GreaterThan", "1", False),          # incomparable: false
    (3, "GreaterThanOrEquals", 3, True),
])
def test_operators(key: Any, operator: str, value: Any, expected: bool) -> None:
    assert condition_holds(key, operator, value) is expected


def test_any_stops_before_a_later_condition_would_error() -> None:
    block = {"any": [{"key": "{{ request.operation }}", "operator": "Equals", "value": "CREATE"},
                     {"key": "{{ request.object.missing }}", "operator": "Equals", "value": "x"}]}
    assert conditions_hold(block, DATA) is True
    block["any"].reverse()
    with pytest.raises(ConditionError):
        conditions_hold(block, DATA)


def test_anchor_keys_run_first_whatever_the_yaml_order() -> None:
    pattern = {"metadata": {"labels": {"team": "?*"}}, "spec": {"(serviceAccountName)": "builder"}}
    resource = {"metadata": {"labels": {}}, "spec": {"serviceAccountName": "web"}}
    assert match_pattern(resource, pattern).status == "skip"
    resource["spec"]["serviceAccountName"] = "builder"
    assert match_pattern(resource, pattern).status == "fail"


def test_negation_fails_and_a_missing_conditional_key_makes_a_plain_failure_an_error() -> None:
    assert match_pattern({"spec": {"hostPath": {}}}, {"spec": {"X(hostPath)": "null"}}).status == "fail"
    # Kyverno: a plain failure while an anchor key of the pattern never occurs in the resource is an error.
    pattern = {"spec": {"X(hostNetwork)": "null", "replicas": 2}}
    assert match_pattern({"spec": {"replicas": 1}}, pattern).status == "error"
    assert match_pattern({"spec": {"replicas": 2}}, pattern).status == "pass"
    # ... while a conditional anchor that skips every list element skips the rule.
    pattern = {"spec": {"containers": [{"(name)": "web", "image": "web:*"}], "replicas": 2}}
    assert match_pattern({"spec": {"containers": [{"image": "x"}], "replicas": 1}}, pattern).status == "skip"


def test_wildcard_label_keys_expand_only_in_metadata() -> None:
    pattern = {"metadata": {"labels": {"app.kubernetes.io/*": "?*"}}}
    assert match_pattern({"metadata": {"labels": {"app.kubernetes.io/name": "x"}}}, pattern).status == "pass"
    assert match_pattern({"metadata": {"labels": {"app.kubernetes.io/name": ""}}}, pattern).status == "fail"
    assert match_pattern({"spec": {"a*": 1}}, {"spec": {"a*": 1}}).status == "pass"  # elsewhere literal


def test_references_are_refused_not_guessed() -> None:
    with pytest.raises(PatternUnsupported, match="reference"):
        match_pattern({"a": 1, "b": 2}, {"a": "$(b)"})


@pytest.mark.parametrize(("name", "parts"), [
    ("request.operation", ["request", "operation"]),
    ('request.object.metadata.annotations."example.com/owner"', ["request", "object", "metadata", "annotations",
                                                                 "example.com/owner"]),
    ('data."allowed-roles".first', ["data", "allowed-roles", "first"]),
    ("roles-dictionary.data.allowed-roles", ["roles-dictionary", "data", "allowed-roles"]),
])
def test_values_names_split_on_dots_outside_quotes(name: str, parts: list[str]) -> None:
    assert path_parts(name) == parts


def test_a_quoted_values_name_sets_one_key_and_leaves_the_resource_alone() -> None:
    resource = {"metadata": {"name": "cm", "annotations": {"a": "1"}}}
    data: dict[str, Any] = {"request": {"object": resource}}
    set_path(data, 'request.object.metadata.annotations."example.com/owner"', "platform")
    assert data["request"]["object"]["metadata"]["annotations"] == {"a": "1", "example.com/owner": "platform"}
    assert resource["metadata"]["annotations"] == {"a": "1"}
