"""`kinds_selected`: the kinds a match block can select, so rules are skipped only where they match nothing."""

from __future__ import annotations

from typing import Any

import pytest

from neuroscale.policy.kyverno_match import UnsupportedConstruct, block_matches, kinds_selected
from neuroscale.policy.subject import subjects

OBJECTS = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "prod"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "prod"}},
    {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "j", "namespace": "prod"}},
]
BAD_SELECTOR = {"matchExpressions": [{"key": "a", "operator": "Sometimes"}]}


@pytest.mark.parametrize(("block", "kinds"), [
    ({"any": [{"resources": {"kinds": ["Deployment"]}}]}, {"Deployment"}),
    ({"any": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"kinds": ["CronJob"], "namespaces": ["x"]}}]},
     {"Pod", "CronJob"}),
    ({"resources": {"kinds": ["Pod", "Deployment"]}}, {"Pod", "Deployment"}),
    ({"all": [{"resources": {"kinds": ["Pod"], "selector": BAD_SELECTOR}}, {"resources": {"kinds": ["Pod"]}}]},
     {"Pod"}),
    ({"all": [{"resources": {"names": ["web"]}}, {"resources": {"kinds": ["Pod"]}}]}, None),  # first filter: any kind
    ({"all": [{"resources": {"kinds": ["Deployment"], "selector": BAD_SELECTOR}}, {"resources": {"kinds": ["Pod"]}}]},
     {"Deployment"}),  # a Deployment raises in the first filter before the second could reject it
    ({"any": [{"resources": {"kinds": ["apps/v1/Deployment"]}}]}, None),
    ({"any": [{"resources": {"kinds": ["Dep*"]}}]}, None),
    ({"any": [{"resources": {"kinds": ["Pod"]}}, {"resources": {"names": ["web"]}}]}, None),
    ({"any": [{"resources": {"kinds": ["Pod"], "surprise": 1}}]}, None),  # unknown field: raises for every kind
    ({"any": [{"subjects": [{"kind": "User", "name": "a"}], "resources": {"kinds": ["Pod"]}}]}, None),
    ({"any": {"resources": {"kinds": ["Pod"]}}}, None),
    ({}, None),
])
def test_kinds_selected_and_every_other_kind_is_a_quiet_no_match(block: dict[str, Any], kinds: set[str] | None) -> None:
    found = kinds_selected(block)
    assert found == (frozenset(kinds) if kinds is not None else None)
    for subject in subjects(OBJECTS):
        for kind in (None, "Pod"):
            if found is not None and (kind or subject.kind) not in found:
                assert block_matches(block, subject, where="match", kind=kind) is False


def test_a_filter_that_raises_still_raises_for_the_kinds_it_names() -> None:
    block = {"any": [{"resources": {"kinds": ["Pod"], "selector": BAD_SELECTOR}}]}
    assert kinds_selected(block) == {"Pod"}
    pod = subjects(OBJECTS)[1]
    with pytest.raises(UnsupportedConstruct):
        block_matches(block, pod, where="match")
