"""The one reading of an InferenceService, held against KServe's real CRD and against hostile shapes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml_rs

import kubernetes_validate
from neuroscale.spec import isvc

CRD = "crds/kserve/serving.kserve.io_inferenceservices.yaml"


@pytest.fixture(scope="module")
def crd_spec(reference: Path) -> Mapping[str, Any]:
    document = yaml_rs.loads((reference / CRD).read_text())
    [version] = [v for v in document["spec"]["versions"] if v["name"] == "v1beta1"]
    return version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]  # type: ignore[no-any-return]


def pod_spec_fields() -> set[str]:
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    newest = sorted(p for p in schemas.iterdir() if p.name.endswith("-local-strict"))[-1]
    return set(json.loads((newest / "podspec-v1.json").read_text())["properties"])


@pytest.mark.parametrize("component", isvc.COMPONENTS)
def test_model_keys_are_exactly_the_crd_properties_that_hold_a_storage_uri(
        crd_spec: Mapping[str, Any], component: str) -> None:
    properties = crd_spec[component]["properties"]
    with_uri = {key for key, schema in properties.items() if "storageUri" in schema.get("properties", {})}
    assert with_uri == set(isvc.MODEL_KEYS[component])


@pytest.mark.parametrize("component", isvc.COMPONENTS)
def test_every_crd_field_of_a_component_is_known(crd_spec: Mapping[str, Any], component: str) -> None:
    """A KServe release that adds a field to a component fails here, so the reading is revisited."""
    known = (set(isvc.MODEL_KEYS[component]) | set(isvc.EXTENSION_FIELDS) | set(isvc.CONTAINER_LISTS)
             | pod_spec_fields() | {"workerSpec", "storageContainerName", "resources", "name"})
    assert set(crd_spec[component]["properties"]) - known == set()


def test_worker_and_canary_shapes_match_the_crd(crd_spec: Mapping[str, Any]) -> None:
    worker = crd_spec["predictor"]["properties"]["workerSpec"]["properties"]
    assert set(isvc.WORKER_CONTAINER_LISTS) <= set(worker)
    canary = crd_spec["canary"]["items"]["properties"]
    assert set(canary) == {"predictor", "trafficPercent"}


SHAPES: list[Any] = [
    None, 7, "text", [], {"spec": []}, {"spec": {"predictor": []}},
    {"spec": {"predictor": {"sklearn": "gs://x", "containers": {"a": 1}, "workerSpec": [1]}}},
    {"spec": {"predictor": {"model": {"modelFormat": "sklearn", "resources": []}}, "canary": {"x": 1}}},
    {"spec": {"canary": [None, {"predictor": 3}, {"predictor": {"onnx": {"storageUri": 5}}}]}},
    {"metadata": {"labels": {"owner": 1, 2: "x"}}, "spec": {"transformer": {"containers": [None, "x", {}]}}},
]


@pytest.mark.parametrize("obj", SHAPES)
def test_the_reader_never_raises(obj: Any) -> None:
    reading = isvc.read(obj)
    for container in reading.containers:
        assert isinstance(container.path, str) and isinstance(container.requests, Mapping)
        _ = (container.image, container.storage_uri, container.model_format, container.is_init)
    assert all(isinstance(uri, str) for _, uri in reading.storage_uris)
    assert all(isinstance(v, str) for v in reading.labels.values())


def test_every_container_of_every_component_is_seen() -> None:
    reading = isvc.read({"spec": {
        "predictor": {"xgboost": {"storageUri": "s3://a"}, "containers": [{"name": "c"}],
                      "initContainers": [{"name": "i"}],
                      "workerSpec": {"containers": [{"name": "w"}], "ephemeralContainers": [{"name": "e"}]},
                      "storageUris": [{"uri": "s3://extra"}]},
        "transformer": {"containers": [{"name": "t"}]},
        "explainer": {"art": {"storageUri": "s3://art"}},
        "canary": [{"trafficPercent": 10, "predictor": {"onnx": {"storageUri": "s3://b"}}}],
    }})
    assert [c.path for c in reading.containers] == [
        "spec.predictor.xgboost", "spec.predictor.containers[0]", "spec.predictor.initContainers[0]",
        "spec.predictor.workerSpec.containers[0]", "spec.predictor.workerSpec.ephemeralContainers[0]",
        "spec.transformer.containers[0]", "spec.explainer.art", "spec.canary[0].predictor.onnx"]
    assert [c.is_init for c in reading.containers] == [False, False, True, False, True, False, False, False]
    assert dict(reading.storage_uris) == {
        "spec.predictor.xgboost.storageUri": "s3://a", "spec.predictor.storageUris[0].uri": "s3://extra",
        "spec.explainer.art.storageUri": "s3://art", "spec.canary[0].predictor.onnx.storageUri": "s3://b"}
    assert reading.predictor is not None and reading.predictor.model is not None
    assert reading.predictor.model.model_format == "xgboost"


def test_expect_names_what_is_wrong() -> None:
    from neuroscale.errors import InvalidInput

    with pytest.raises(InvalidInput, match="expected apiVersion serving.kserve.io/v1beta1"):
        isvc.expect({"apiVersion": "v1", "kind": "ConfigMap"})
    with pytest.raises(InvalidInput, match="expected a mapping"):
        isvc.expect(["x"])
