"""The Backstage template speaks the same form as the CLI and renders byte-identical manifests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jinja2
import pytest

from neuroscale.platform.template import SKELETON_SUFFIX, TEMPLATE_DIR, skeleton_manifest, template_files
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import FIELDS
from neuroscale.spec.manifest import render

from tests.platform.conftest import make_options

CASES: list[dict[str, Any]] = [
    {"name": "fraud-scorer", "owner": "team-risk", "costCenter": "cc-1234", "storageUri": "s3://models/fraud/v3"},
    {"name": "iris", "namespace": "ml-prod", "owner": "data.science", "costCenter": "CC_99", "modelFormat": "xgboost",
     "storageUri": "gs://bucket/iris", "runtimeVersion": "2.0.1", "cpuRequest": "250m", "cpuLimit": "2",
     "memoryRequest": "1Gi", "memoryLimit": "2Gi", "minReplicas": 0, "maxReplicas": 5},
    {"name": "gbm", "owner": "o", "costCenter": "c", "modelFormat": "lightgbm",
     "storageUri": "https://models.acme.dev/a/b?x=1&y=%20", "minReplicas": 2, "maxReplicas": 3},
]


def backstage_values(case: dict[str, Any]) -> dict[str, Any]:
    """What the form submits: every field with a default is filled in; optional blanks stay absent."""
    values = {f.key: f.default for f in FIELDS if f.default is not None}
    values.update(case)
    return values


def jinja_render(template: str, values: dict[str, Any]) -> str:
    env = jinja2.Environment(variable_start_string="${{", variable_end_string="}}", keep_trailing_newline=True,
                             autoescape=False, undefined=jinja2.Undefined)
    env.filters["dump"] = lambda value: json.dumps(value, ensure_ascii=False)  # JSON.stringify
    return env.from_string(template).render(values=values)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_skeleton_renders_byte_identical_with_jinja(case: dict[str, Any]) -> None:
    values = backstage_values(case)
    assert jinja_render(skeleton_manifest(), values) == render(EndpointSpec.from_input(values))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["name"])
def test_skeleton_renders_byte_identical_with_real_nunjucks(
        case: dict[str, Any], nunjucks_render: Callable[[str, dict[str, Any]], str]) -> None:
    values = backstage_values(case)
    assert nunjucks_render(skeleton_manifest(), values) == render(EndpointSpec.from_input(values))


def test_parameters_come_from_the_field_table() -> None:
    files = template_files(make_options(namespace="ml-prod"))
    tpl = files[f"{TEMPLATE_DIR}/template.yaml"]
    params = tpl["spec"]["parameters"][0]
    assert list(params["properties"]) == [f.key for f in FIELDS]
    assert params["required"] == [f.key for f in FIELDS if f.required]
    assert "cost-center" not in params["properties"] and "costCenter" in params["properties"]
    assert params["properties"]["modelFormat"]["enum"] == ["sklearn", "xgboost", "lightgbm"]
    assert params["properties"]["namespace"]["default"] == "ml-prod"
    fetch = tpl["spec"]["steps"][0]
    assert fetch["input"]["templateFileExtension"] is True
    assert set(fetch["input"]["values"]) == {f.key for f in FIELDS}


def test_skeleton_holds_only_the_endpoint_manifest() -> None:
    """No per-endpoint Application in the skeleton: the ApplicationSet owns that (FM-07)."""
    skeleton = [p for p in template_files(make_options()) if "/skeleton/" in p]
    assert skeleton == [f"{TEMPLATE_DIR}/skeleton/apps/${{{{ values.name }}}}/inference-service.yaml{SKELETON_SUFFIX}"]
