"""Choosing the runtime of a model by KServe's rules, and reading classes and gRPC from an InferenceService."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from neuroscale.errors import InvalidInput
from neuroscale.spec.runtimes import choose
from neuroscale.spec.serving import PREDICTOR_CLASS, TRANSFORMER_CLASS, serving_spec
from tests.spec.test_serving import BASE


@pytest.mark.parametrize(("name", "version", "runtime", "protocol", "chosen", "fmt"), [
    ("sklearn", None, None, None, "kserve-sklearnserver", "sklearn"),
    ("SKLearn", "1", None, "v1", "kserve-sklearnserver", "sklearn"),  # names compare case-insensitively
    ("sklearn", "1", None, "v2", "kserve-mlserver", "sklearn"),  # priority 2 wins where it serves the protocol
    ("sklearn", "0", None, "v2", "kserve-mlserver", "sklearn"),  # only MLServer lists sklearn 0
    ("xgboost", "3", None, None, "kserve-xgbserver", "xgboost"),
    ("lightgbm", None, None, "grpc-v2", "kserve-mlserver", "lightgbm"),
    ("onnx", None, None, "v2", "kserve-tritonserver", "onnx"),
    ("huggingface", "1", None, None, "kserve-huggingfaceserver", "huggingface"),
    ("sklearn", None, "kserve-sklearnserver", "v2", "kserve-sklearnserver", "sklearn"),  # named: no auto-select
])
def test_runtime_is_chosen_as_kserve_chooses(name: str, version: str | None, runtime: str | None,
                                             protocol: str | None, chosen: str, fmt: str) -> None:
    choice = choose(name, version, runtime=runtime, protocol=protocol, where="here")
    assert choice is not None and (choice.runtime.name, choice.model_format) == (chosen, fmt)


@pytest.mark.parametrize(("name", "version", "runtime", "protocol", "needle"), [
    ("sklearn", "2", None, None, "no embedded runtime serves model format sklearn:2 with protocol v1"),
    ("sklearn", "0", None, "v1", "sklearn:0 with protocol v1"),  # MLServer has it, but not over v1
    ("onnx", None, None, "v1", "onnx with protocol v1"),  # Triton speaks v2 only
    ("tensorflow", None, None, None, "model format tensorflow"),
    ("sklearn", None, "kserve-xgbserver", None, "runtime kserve-xgbserver does not support model format sklearn"),
    ("sklearn", None, "kserve-mlserver", "v1", "runtime kserve-mlserver does not serve protocol v1"),
])
def test_what_no_runtime_serves_is_refused_with_the_choices(name: str, version: str | None, runtime: str | None,
                                                            protocol: str | None, needle: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        choose(name, version, runtime=runtime, protocol=protocol, where="spec.predictor.model.modelFormat.name")
    assert needle in caught.value.message and caught.value.fix
    assert caught.value.where == "spec.predictor.model.modelFormat.name"


def test_an_unknown_runtime_name_falls_back_to_auto_selection_and_says_so() -> None:
    assert choose("sklearn", None, runtime="my-team-runtime", protocol=None, where="x") is None
    obj = copy.deepcopy(BASE)
    obj["spec"]["predictor"] = {"model": {"modelFormat": {"name": "sklearn"}, "runtime": "my-team-runtime",
                                          "storageUri": "/m/model.joblib"}}
    spec = serving_spec(obj)
    assert spec.runtime == "kserve-sklearnserver"
    assert [u.path for u in spec.unhonoured] == ["spec.predictor.model.runtime"]


def _isvc(**changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key == "annotations":
            obj["metadata"]["annotations"] = value
        else:
            obj["spec"][key] = value
    return obj


def test_grpc_v2_is_honoured_and_runtime_version_is_noted() -> None:
    obj = _isvc()
    obj["spec"]["predictor"]["sklearn"].update(protocolVersion="grpc-v2", runtimeVersion="v0.14.0")
    spec = serving_spec(obj)
    assert spec.protocol_version == "grpc-v2" and spec.runtime == "kserve-mlserver"  # priority 2 serves gRPC
    assert [u.path for u in spec.unhonoured] == ["spec.predictor.sklearn.runtimeVersion"]


def test_a_predictor_class_serves_a_predictor_of_containers() -> None:
    obj = _isvc(annotations={PREDICTOR_CLASS: "acme_models.sentiment:SentimentModel"},
                predictor={"containers": [{"name": "kserve-container", "image": "acme/sentiment:1"}]})
    spec = serving_spec(obj)
    assert (spec.model_format, spec.model_class, spec.storage_uri) == ("custom", "acme_models.sentiment:SentimentModel",
                                                                       "")
    assert [u.path for u in spec.unhonoured] == ["spec.predictor.containers"]
    assert spec.process_digest() != serving_spec(_isvc()).process_digest()


def test_a_transformer_class_is_chained_and_the_transformer_image_noted() -> None:
    transformer = {"containers": [{"name": "kserve-container", "image": "acme/feast:1"}]}
    spec = serving_spec(_isvc(annotations={TRANSFORMER_CLASS: "acme.features:Enrich"}, transformer=transformer))
    assert spec.transformer_class == "acme.features:Enrich" and spec.model_format == "sklearn"
    assert [u.path for u in spec.unhonoured] == ["spec.transformer.containers"]
    without = serving_spec(_isvc(transformer=transformer))
    assert without.transformer_class == "" and "transformer class" in without.unhonoured[0].why


def test_existing_endpoints_keep_their_revision_digest() -> None:
    """New reading fields must not change the digest of a manifest that does not use them."""
    spec = serving_spec(_isvc())
    before = spec.model_dump(include={"model_format", "storage_uri", "runtime_version", "protocol_version",
                                      "resources", "batcher"})
    assert spec.process_digest() == "sha256:" + hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("annotation", ["not-a-class", "pkg:", ":Cls", "pkg.mod:Cls; rm -rf /"])
def test_a_class_annotation_must_name_a_class(annotation: str) -> None:
    obj = _isvc(annotations={PREDICTOR_CLASS: annotation}, predictor={"containers": [{"name": "c", "image": "x:1"}]})
    with pytest.raises(InvalidInput) as caught:
        serving_spec(obj)
    assert caught.value.details["fields"][0]["field"] == f"metadata.annotations[{PREDICTOR_CLASS}]"


def test_server_flags_carry_batcher_grpc_and_classes(tmp_path: Path) -> None:
    from neuroscale.engine.runtime import server_flags
    from neuroscale.home import Home

    obj = _isvc(annotations={TRANSFORMER_CLASS: "acme.features:Enrich"},
                transformer={"containers": [{"name": "t", "image": "x:1"}]})
    obj["spec"]["predictor"]["batcher"] = {"maxBatchSize": 8, "maxLatency": 20}
    obj["spec"]["predictor"]["sklearn"]["protocolVersion"] = "grpc-v2"
    given = server_flags(Home(tmp_path), spec=serving_spec(obj), revision="iris-predictor-00001", port=9000)
    flags = dict(zip(given[::2], given[1::2], strict=True))
    assert flags["--max-batch-size"] == "8" and flags["--max-latency-ms"] == "20"
    assert flags["--grpc-port"] == "9001" and flags["--transformer-class"] == "acme.features:Enrich"
    plain = server_flags(Home(tmp_path), spec=serving_spec(_isvc()), revision="r", port=9000)
    assert not {"--max-batch-size", "--grpc-port", "--model-class", "--transformer-class"} & set(plain)
