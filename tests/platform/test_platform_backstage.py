"""Backstage values: right nesting, chart-schema valid, slow-start probes, auth per profile (FM-25..34)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from neuroscale.mappings import deep_merged
from neuroscale.platform.backstage import LOCAL_URL, SECRET_NAME, backstage_files
from neuroscale.platform.template import TEMPLATE_DIR

from tests.platform.conftest import make_options


@pytest.fixture(scope="module")
def chart_schema(reference: Path) -> dict[str, Any]:
    with tarfile.open(reference / "charts/backstage-2.6.3.tgz") as tar:
        member = tar.extractfile("backstage/values.schema.json")
        assert member is not None
        return json.loads(member.read())


@pytest.fixture(scope="module")
def profiles() -> dict[str, dict[str, Any]]:
    files = backstage_files(make_options())
    base = files["infrastructure/backstage/values.yaml"]
    return {name: deep_merged(base, files[f"infrastructure/backstage/values-{name}.yaml"]) for name in ("dev", "prod")}


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_values_are_nested_under_the_dependency_and_valid_for_the_chart(
        profiles: dict[str, dict[str, Any]], chart_schema: dict[str, Any], profile: str) -> None:
    values = profiles[profile]
    assert set(values) == {"backstage"}, "everything must sit under the wrapper's dependency key"
    subchart = values["backstage"]
    assert "appConfig" not in subchart and "backstage" in subchart  # FM-30: backstage.backstage.*
    jsonschema.Draft7Validator(chart_schema).validate(subchart)


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_app_config_has_required_keys_and_template_rule(profiles: dict[str, dict[str, Any]], profile: str) -> None:
    container = profiles[profile]["backstage"]["backstage"]
    config = container["appConfig"]
    assert config["app"]["title"]  # FM-28
    assert config["app"]["baseUrl"] == config["backend"]["baseUrl"] == config["backend"]["cors"]["origin"]  # FM-29
    location = config["catalog"]["locations"][0]
    assert location["target"].endswith(f"{TEMPLATE_DIR}/template.yaml")
    assert {"allow": ["Template"]} in location["rules"]  # FM-25/26
    assert container["extraEnvVarsSecrets"] == [SECRET_NAME]  # FM-34
    assert container["startupProbe"]["initialDelaySeconds"] >= 120  # FM-30
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 120


def test_guest_only_in_dev_and_github_oauth_in_prod(profiles: dict[str, dict[str, Any]]) -> None:
    dev = profiles["dev"]["backstage"]["backstage"]["appConfig"]
    prod = profiles["prod"]["backstage"]["backstage"]["appConfig"]
    assert dev["app"]["baseUrl"] == LOCAL_URL
    assert set(dev["auth"]["providers"]) == {"guest"}
    assert set(prod["auth"]["providers"]) == {"github"} and prod["auth"]["environment"] == "production"
    assert "dangerouslyDisableDefaultAuthPolicy" not in json.dumps(profiles)  # FM-32
    assert profiles["prod"]["backstage"]["backstage"]["image"]["repository"] != "backstage/backstage"  # FM-33
