"""The engine's reading: KServe/Knative defaults, what is not honoured here, and what cannot be served."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from neuroscale.errors import InvalidInput
from neuroscale.spec.serving import serving_spec

BASE: dict[str, Any] = {
    "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
    "metadata": {"name": "iris", "namespace": "team-a", "labels": {"owner": "team-ml", "cost-center": "cc-1"}},
    "spec": {"predictor": {"sklearn": {"storageUri": "/models/iris.joblib",
                                       "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}}},
}


def isvc(predictor: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    obj = copy.deepcopy(BASE)
    obj["spec"]["predictor"].update(predictor or {})
    for key, value in top.items():
        if key == "metadata":
            obj["metadata"].update(value)
        else:
            obj["spec"][key] = value
    return obj


def test_defaults_are_kserve_and_knative_defaults() -> None:
    spec = serving_spec(isvc())
    assert (spec.name, spec.namespace, spec.owner, spec.cost_center) == ("iris", "team-a", "team-ml", "cc-1")
    assert (spec.model_format, spec.storage_uri) == ("sklearn", "/models/iris.joblib")
    assert spec.scaling.min_replicas == 1 and spec.scaling.max_replicas == 0
    assert (spec.scaling.metric, spec.scaling.target, spec.scaling.container_concurrency) == ("concurrency", 100, 0)
    assert (spec.scaling.stable_window, spec.scaling.panic_window, spec.scaling.panic_threshold) == (60, 6, 2)
    assert spec.timeout == 300 and spec.batcher is None and spec.canary_traffic_percent is None
    assert spec.resources.memory_limit_bytes == 2**30 and spec.unhonoured == ()


def test_scaling_fields_and_knative_annotations_are_read() -> None:
    spec = serving_spec(isvc(
        {"minReplicas": 0, "maxReplicas": 3, "scaleMetric": "rps", "scaleTarget": 50, "containerConcurrency": 4,
         "timeout": 30, "canaryTrafficPercent": 20, "batcher": {"maxBatchSize": 8}},
        metadata={"annotations": {"autoscaling.knative.dev/window": "2s",
                                  "autoscaling.knative.dev/scale-to-zero-pod-retention-period": "1m30s"}}))
    assert (spec.scaling.min_replicas, spec.scaling.max_replicas, spec.scaling.metric) == (0, 3, "rps")
    assert (spec.scaling.target, spec.scaling.container_concurrency) == (50, 4)
    assert (spec.scaling.stable_window, spec.scaling.panic_window, spec.scaling.retention) == (2, 0.5, 90)
    assert (spec.timeout, spec.canary_traffic_percent) == (30, 20)
    assert spec.batcher is not None and (spec.batcher.max_batch_size, spec.batcher.max_latency_ms) == (8, 500)


def test_requiring_api_keys_names_the_endpoint_whose_keys_count() -> None:
    assert serving_spec(isvc()).api_keys_of == ""
    keyed = serving_spec(isvc(metadata={"annotations": {"serving.neuroscale.io/require-api-key": "true"}}))
    assert keyed.api_keys_of == "iris" and keyed.process_digest() == serving_spec(isvc()).process_digest(), (
        "opting in or out changes the route, never restarts the model server")


def test_target_follows_container_concurrency_like_knative() -> None:
    assert serving_spec(isvc({"containerConcurrency": 10})).scaling.target == pytest.approx(7.0)


def test_a_model_format_name_under_model_is_read_like_a_framework_key() -> None:
    obj = isvc()
    obj["spec"]["predictor"] = {"model": {"modelFormat": {"name": "lightgbm"}, "storageUri": "s3://m/model.txt"}}
    assert serving_spec(obj).model_format == "lightgbm"


def test_what_the_engine_cannot_honour_is_listed_with_why() -> None:
    obj = isvc({"nodeSelector": {"gpu": "a100"}, "tolerations": [], "scaleMetric": "cpu", "logger": {"mode": "all"}},
               transformer={"containers": [{"name": "t", "image": "x:1"}]},
               explainer={"art": {"storageUri": "s3://x"}})
    obj["spec"]["predictor"]["sklearn"].update(image="custom:1", protocolVersion="grpc-v2",
                                               resources={"limits": {"nvidia.com/gpu": 1, "cpu": "1"}})
    paths = {item.path: item.why for item in serving_spec(obj).unhonoured}
    assert set(paths) == {
        "spec.predictor.nodeSelector", "spec.predictor.tolerations", "spec.predictor.scaleMetric",
        "spec.predictor.logger", "spec.predictor.sklearn.image",
        "spec.predictor.sklearn.resources.limits.nvidia.com/gpu", "spec.transformer", "spec.explainer"}
    assert "concurrency" in paths["spec.predictor.scaleMetric"]
    assert serving_spec(obj).scaling.metric == "concurrency"


@pytest.mark.parametrize(("mutate", "field", "needle"), [
    (lambda o: o["spec"].update(predictor={"containers": [{"name": "c", "image": "x:1"}]}), "spec.predictor",
     "names no model"),
    (lambda o: o["spec"]["predictor"].update(tensorflow=o["spec"]["predictor"].pop("sklearn")),
     "spec.predictor.tensorflow", "no embedded runtime serves model format tensorflow"),
    (lambda o: o["spec"]["predictor"]["sklearn"].pop("storageUri"), "spec.predictor.sklearn.storageUri", "missing"),
    (lambda o: o["spec"]["predictor"]["sklearn"]["resources"]["limits"].update(memory="lots"),
     "spec.predictor.sklearn.resources.limits.memory", "quantity"),
    (lambda o: o["metadata"].update(name="Not_A_Name"), "metadata.name", "DNS-1123"),
    (lambda o: o["metadata"].update(annotations={"autoscaling.knative.dev/window": "soon"}),
     "metadata.annotations[autoscaling.knative.dev/window]", "duration"),
    (lambda o: o["metadata"].update(annotations={"serving.neuroscale.io/require-api-key": "yes"}),
     "metadata.annotations[serving.neuroscale.io/require-api-key]", "not true or false"),
    (lambda o: o["spec"].pop("predictor"), "spec.predictor", "missing"),
    (lambda o: o["spec"]["predictor"]["sklearn"].update(storageUri="pvc://models/../../"),
     "spec.predictor.sklearn.storageUri", "climbs out of claim 'models'"),
    (lambda o: o["spec"]["predictor"].update(storageUris=[{"uri": "s3://ok/m"}, {"uri": "file://../team-b/m"}]),
     "spec.predictor.storageUris[1].uri", "names the host '..'"),
    (lambda o: o["spec"].update(explainer={"art": {"storageUri": "file:///m/%2E%2E/etc"}}),
     "spec.explainer.art.storageUri", "'..' segment"),
])
def test_what_makes_serving_impossible_names_the_field(mutate: Any, field: str, needle: str) -> None:
    obj = isvc()
    mutate(obj)
    with pytest.raises(InvalidInput) as caught:
        serving_spec(obj, where="apps/iris/inference-service.yaml")
    assert caught.value.details["fields"] == [{"field": field, "message": caught.value.message,
                                                "fix": caught.value.fix}]
    assert needle in caught.value.message and caught.value.fix
    assert caught.value.where == f"apps/iris/inference-service.yaml: {field}"
