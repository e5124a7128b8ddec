"""Editing a manifest through the form keeps everything the form does not know."""

from __future__ import annotations

from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import apply_to_text, form_values, render
from neuroscale.yamlio import load_one

HAND_WRITTEN = """\
# owned by team-ml; see runbook
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: churn
  namespace: team-a
  annotations:
    autoscaling.knative.dev/window: 30s
  labels: {owner: team-ml, cost-center: cc-9, tier: gold}
spec:
  predictor:
    canaryTrafficPercent: 10
    xgboost:
      storageUri: s3://models/churn/v4  # the retrained one
      resources:
        requests: {cpu: 250m, memory: 512Mi, ephemeral-storage: 1Gi}
        limits: {cpu: "2", memory: 2Gi}
  transformer:
    containers:
      - name: feast
        image: registry.example.org/feast:1.4.2
"""


def test_form_values_read_a_framework_key_and_a_missing_label() -> None:
    values = form_values(load_one(HAND_WRITTEN.replace("owner: team-ml, ", "")))
    assert values["modelFormat"] == "xgboost" and values["storageUri"] == "s3://models/churn/v4"
    assert "owner" not in values and values["costCenter"] == "cc-9" and values["canaryTrafficPercent"] == 10


def test_applying_the_form_keeps_unknown_fields_comments_and_the_framework_key() -> None:
    spec = EndpointSpec.from_input({**form_values(load_one(HAND_WRITTEN)), "storageUri": "s3://models/churn/v5",
                                    "memoryLimit": "3Gi", "canaryTrafficPercent": None})
    text = apply_to_text(HAND_WRITTEN, spec)
    assert "# owned by team-ml; see runbook" in text and "# the retrained one" in text
    obj = load_one(text)
    assert obj["spec"]["transformer"]["containers"][0]["name"] == "feast"
    assert obj["metadata"]["annotations"] == {"autoscaling.knative.dev/window": "30s"}
    assert obj["metadata"]["labels"]["tier"] == "gold"
    predictor = obj["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor, "an empty canary field promotes"
    assert predictor["xgboost"]["storageUri"] == "s3://models/churn/v5"
    assert predictor["xgboost"]["resources"]["limits"]["memory"] == "3Gi"
    assert predictor["xgboost"]["resources"]["requests"]["ephemeral-storage"] == "1Gi"


def test_changing_the_format_moves_the_model_under_model_with_its_other_fields() -> None:
    spec = EndpointSpec.from_input({**form_values(load_one(HAND_WRITTEN)), "modelFormat": "lightgbm"})
    predictor = load_one(apply_to_text(HAND_WRITTEN, spec))["spec"]["predictor"]
    assert "xgboost" not in predictor
    assert predictor["model"]["modelFormat"] == {"name": "lightgbm"}
    assert predictor["model"]["resources"]["requests"]["ephemeral-storage"] == "1Gi"


def test_applying_onto_a_rendered_manifest_equals_rendering() -> None:
    spec = EndpointSpec.from_input({"name": "iris", "owner": "a", "costCenter": "b", "storageUri": "s3://m",
                                    "canaryTrafficPercent": 20})
    changed = spec.model_copy(update={"storage_uri": "s3://m2", "canary_traffic_percent": 30})
    assert apply_to_text(render(spec), changed) == render(changed)
