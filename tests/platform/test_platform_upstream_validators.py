"""The two generated objects no CRD here describes, validated by their consumers' own code.

The Backstage Template is a catalog entity, which `neuroscale check` leaves to
Backstage (no CRD exists for it), and the KnativeServing's CRD ships inside the
pinned Knative operator chart, not in the reference CRDs. Backstage's catalog validator and the Knative operator API types
stand in, and each is shown to reject a broken object so a pass means something.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from neuroscale.platform.generate import generate
from neuroscale.platform.serving import SERVING_STACK_PATH
from neuroscale.platform.template import TEMPLATE_DIR
from neuroscale.yamlio import load_one

from tests.platform.conftest import COMBINATIONS, make_options

Errors = Callable[[str, dict[str, Any]], list[str]]


def generated(path: str, combination: tuple[str, str, str]) -> dict[str, Any]:
    document: dict[str, Any] = load_one(generate(make_options(*combination))[path], where=path)
    return document


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: "-".join(c))
def test_backstage_accepts_the_generated_template(upstream_errors: Errors, combination: tuple[str, str, str]) -> None:
    template = generated(f"{TEMPLATE_DIR}/template.yaml", combination)
    assert upstream_errors("backstage-template", template) == []


def test_backstage_rejects_a_template_step_without_an_action(upstream_errors: Errors) -> None:
    template = copy.deepcopy(generated(f"{TEMPLATE_DIR}/template.yaml", COMBINATIONS[0]))
    del template["spec"]["steps"][0]["action"]
    assert any("action" in message for message in upstream_errors("backstage-template", template))


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: "-".join(c))
def test_knative_operator_types_accept_the_generated_knative_serving(
        upstream_errors: Errors, combination: tuple[str, str, str]) -> None:
    serving = generated(f"{SERVING_STACK_PATH}/knative-serving.yaml", combination)
    assert upstream_errors("knative-serving", serving) == []


def test_knative_operator_types_reject_a_mistyped_ingress(upstream_errors: Errors) -> None:
    serving = copy.deepcopy(generated(f"{SERVING_STACK_PATH}/knative-serving.yaml", COMBINATIONS[0]))
    serving["spec"]["ingress"]["kourier"]["enabled"] = "yes"
    assert any("must be boolean" in message for message in upstream_errors("knative-serving", serving))
