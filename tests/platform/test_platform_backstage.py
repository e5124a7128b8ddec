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
    assert set(subchart) <= set(chart_schema["properties"])
    assert chart_schema["properties"]["backstage"]["additionalProperties"] is False  # so typos fail below
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


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_each_profile_has_what_the_backend_needs_at_start(profiles: dict[str, dict[str, Any]], profile: str) -> None:
    """The chart passes only the ConfigMap's app-config and the image runs with NODE_ENV=production."""
    config = profiles[profile]["backstage"]["backstage"]["appConfig"]
    kubernetes = config["kubernetes"]
    assert kubernetes["serviceLocatorMethod"]["type"] and kubernetes["clusterLocatorMethods"]
    assert config["backend"]["database"]["client"] in ("better-sqlite3", "pg")


def test_prod_shares_one_database_and_signs_in_users_the_catalog_ingests(
        profiles: dict[str, dict[str, Any]]) -> None:
    prod = profiles["prod"]["backstage"]
    config = prod["backstage"]["appConfig"]
    assert prod["backstage"]["replicas"] > 1 and config["backend"]["database"]["client"] == "pg"
    assert prod["postgresql"] == {"enabled": False}  # the bundled subchart's images come from Bitnami's moved catalogue
    assert all(str(v).startswith("${") for v in config["backend"]["database"]["connection"].values())
    [org] = config["catalog"]["providers"]["githubOrg"]
    assert org["orgs"] == ["acme"]  # the owner of the GitOps repository
    resolvers = config["auth"]["providers"]["github"]["production"]["signIn"]["resolvers"]
    assert resolvers == [{"resolver": "usernameMatchingUserEntityName"}]  # GitHub logins = ingested User names
    [github] = config["integrations"]["github"]
    assert "token" not in github and set(github["apps"][0]) >= {"appId", "privateKey"}
    dev = profiles["dev"]["backstage"]["backstage"]
    assert dev.get("replicas", 1) == 1 and dev["appConfig"]["backend"]["database"]["connection"] == ":memory:"
