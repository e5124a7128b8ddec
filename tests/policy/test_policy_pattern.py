"""Kyverno pattern matching: wildcards, operators, quantities and every anchor."""

from __future__ import annotations

from typing import Any

import pytest

from neuroscale.policy.pattern import PatternUnsupported, match_pattern, pattern_plans, scalar_matches


@pytest.mark.parametrize(("value", "pattern", "expected"), [
    ("nginx:1.2", "*:*", True),
    ("nginx", "*:*", False),
    ("nginx:latest", "!*:latest", False),
    ("nginx:1.2", "!*:latest", True),
    ("abc", "a?c", True),
    ("abbc", "a?c", False),
    ("", "?*", False),
    ("x", "?*", True),
    ("", "*", True),
    ("dev", "dev | prod", True),
    ("test", "dev | prod", False),
    ("team-a", "team-* & !*-b", True),
    (3, ">2", True),
    (2, ">2", False),
    (2, ">=2", True),
    ("500m", "<1", True),
    ("2Gi", "<=2Gi", True),
    ("3Gi", "<=2Gi", False),
    ("1500m", "1-2", True),
    ("3", "1-2", False),
    ("3", "1!-2", True),
    ("1Gi", "512Mi-2Gi", True),
    ("1000m", "1", True),
    (True, True, True),
    ("true", True, False),  # a boolean pattern wants a boolean
    ("1Gi", 1073741824, False),  # an integer pattern does not read quantities
    ("1073741824", 1073741824, True),
    (3.0, 3, True),
    ("1.5", 1.5, True),
    ("30m", ">=1h", False),  # durations before quantities: 30 minutes, not 30 milli
    ("45s", "30s-1m", True),
    ("5m", "30s!-1m", True),
    ("prod-1", "prod-* & !*-2", True),
    (0, None, True),  # null patterns accept zero values
    ("", None, True),
    (False, True, False),
    (5, 5, True),
    ("5", 5, True),
    (None, None, True),
    ("x", None, False),
    (None, "*", False),
    ({"a": 1}, "*", False),  # a list element; a mapping field that holds `*` passes
    ([], "?*", False),
])
def test_scalar_matches(value: Any, pattern: Any, expected: bool) -> None:
    assert scalar_matches(value, pattern) is expected


POD = {
    "metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}},
    "spec": {
        "hostNetwork": False,
        "containers": [
            {"name": "web", "image": "nginx:1.2", "securityContext": {"runAsNonRoot": True}},
            {"name": "sidecar", "image": "envoy:latest"},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
    },
}


@pytest.mark.parametrize(("pattern", "status", "path"), [
    # plain keys and wildcard keys
    ({"metadata": {"labels": {"app": "?*"}}}, "pass", ""),
    ({"metadata": {"labels": {"team": "?*"}}}, "fail", "/metadata/labels/team/"),
    ({"metadata": {"labels": {"t*": "front"}}}, "pass", ""),
    ({"metadata": {"labels": {"zz*": "?*"}}}, "fail", "/metadata/labels/zz*/"),
    # lists of maps: every element
    ({"spec": {"containers": [{"image": "!*:latest"}]}}, "fail", "/spec/containers/1/image/"),
    ({"spec": {"containers": [{"name": "?*"}]}}, "pass", ""),
    # conditional anchor: only elements whose condition holds are checked
    ({"spec": {"containers": [{"(name)": "web", "image": "!*:latest"}]}}, "pass", ""),
    ({"spec": {"containers": [{"(name)": "sidecar", "image": "!*:latest"}]}}, "fail", "/spec/containers/1/image/"),
    # conditional anchor at the root that does not hold -> skip
    ({"(metadata)": {"labels": {"app": "db"}}, "spec": {"hostNetwork": True}}, "skip", "/"),
    # equality anchor: only if present
    ({"spec": {"=(hostPID)": False}}, "pass", ""),
    ({"spec": {"=(hostNetwork)": True}}, "fail", "/spec/hostNetwork/"),
    # negation anchor: must be absent
    ({"spec": {"X(hostPID)": "null"}}, "pass", ""),
    ({"spec": {"X(hostNetwork)": "null"}}, "fail", "/spec/hostNetwork/"),
    # existence anchor: at least one element matches
    ({"spec": {"^(containers)": [{"securityContext": {"runAsNonRoot": True}}]}}, "pass", ""),
    ({"spec": {"^(containers)": [{"image": "busybox*"}]}}, "fail", "/spec/containers/"),
    # global anchor: the rule does not apply at all
    ({"spec": {"containers": [{"<(image)": "redis*", "name": "cache"}]}}, "skip", "/"),
    ({"spec": {"containers": [{"<(image)": "nginx*", "name": "web"}]}}, "pass", ""),
    # equality anchors on nested maps
    ({"spec": {"containers": [{"=(securityContext)": {"runAsNonRoot": True}}]}}, "pass", ""),
    # type mismatches fail instead of raising
    ({"spec": {"containers": {"name": "x"}}}, "fail", "/spec/containers/"),
    ({"metadata": {"name": ["x"]}}, "fail", "/metadata/name/"),
])
@pytest.mark.parametrize("planned", [False, True], ids=["unplanned", "planned"])
def test_match_pattern(pattern: dict[str, Any], status: str, path: str, planned: bool) -> None:
    result = match_pattern(POD, pattern, plans=pattern_plans(pattern) if planned else None)
    assert result.status == status
    assert result.path == path


@pytest.mark.parametrize("pattern", [
    {"metadata": {"+(labels)": {"a": "b"}}},
    {"spec": {"^(containers)": {"name": "x"}}},
    {"spec": {"volumes": [{"name": object()}]}},
])
@pytest.mark.parametrize("planned", [False, True], ids=["unplanned", "planned"])
def test_unsupported_constructs_raise(pattern: dict[str, Any], planned: bool) -> None:
    plans = pattern_plans(pattern) if planned else None  # planning itself never raises: matching does
    with pytest.raises(PatternUnsupported):
        match_pattern(POD, pattern, plans=plans)


def test_a_mutate_anchor_past_a_failing_key_fails_as_before_planning() -> None:
    """The order of the keys after the first-phase anchors is worked out only after those anchors held."""
    failing = {"spec": {"=(hostNetwork)": True, "containers": [{"+(image)": "x"}]}}
    holding = {"spec": {"=(hostNetwork)": False, "containers": [{"+(image)": "x"}]}}
    for planned in (False, True):
        assert match_pattern(POD, failing, plans=pattern_plans(failing) if planned else None).status == "fail"
        with pytest.raises(PatternUnsupported):
            match_pattern(POD, holding, plans=pattern_plans(holding) if planned else None)
