"""Render an `EndpointSpec` to a KServe v1beta1 InferenceService, read one back, and apply a form to one.

The rendered text is the contract with the GitOps repository and with the
Backstage skeleton (issue: byte-identical output for the same inputs), so every
string value is emitted double-quoted and keys come in a fixed order.

Reading goes through `spec.isvc`, the one reading of an InferenceService, so a
manifest written with a framework key (`sklearn:`) edits like one written with
`model:`. Updating applies the form's fields onto the manifest as it is on
main (`apply_spec`) instead of re-rendering it: a transformer, an annotation
or a comment the form does not know survives an edit.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Q

from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_MANAGED_BY, LABEL_OWNER, MANAGED_BY
from neuroscale.spec.isvc import API_VERSION, KIND, MODEL_KEYS, expect
from neuroscale.yamlio import dump, load_one, load_roundtrip

APPS_DIR = "apps"
MANIFEST_FILE = "inference-service.yaml"
#: Kustomize's extension-less file name: readers of `apps/<name>/*.yaml` never mistake it for a manifest.
KUSTOMIZATION_FILE = "Kustomization"
__all__ = ["API_VERSION", "APPS_DIR", "KIND", "KUSTOMIZATION_FILE", "MANIFEST_FILE", "apply_spec", "apply_to_text",
           "endpoint_kustomization", "form_values", "from_manifest", "kustomization_path", "manifest_path", "parse",
           "render", "to_manifest"]


def manifest_path(name: str) -> str:
    """Where an endpoint's manifest lives in the GitOps repository."""
    return f"{APPS_DIR}/{name}/{MANIFEST_FILE}"


def kustomization_path(name: str) -> str:
    return f"{APPS_DIR}/{name}/{KUSTOMIZATION_FILE}"


def endpoint_kustomization() -> bytes:
    """The endpoint directory as a kustomization of its manifest alone.

    Argo CD builds it the same as the plain directory; it is what lets the pull-request preview
    Application rename the InferenceService and move it to the previews namespace (Argo CD's
    kustomize options edit a kustomization and cannot apply to a plain directory), whatever
    namespace the manifest names.
    """
    return dump({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                 "resources": [MANIFEST_FILE]}).encode()


def _map(*pairs: tuple[str, Any]) -> CommentedMap:
    return CommentedMap(pairs)


def _resources(spec: EndpointSpec) -> CommentedMap:
    return _map(
        ("requests", _map(("cpu", Q(spec.cpu_request)), ("memory", Q(spec.memory_request)))),
        ("limits", _map(("cpu", Q(spec.cpu_limit)), ("memory", Q(spec.memory_limit)))),
    )


def to_manifest(spec: EndpointSpec) -> CommentedMap:
    model_format = _map(("name", Q(spec.model_format)))
    model = _map(("modelFormat", model_format))
    if spec.runtime_version:
        model["runtimeVersion"] = Q(spec.runtime_version)
    model["storageUri"] = Q(spec.storage_uri)
    model["resources"] = _resources(spec)
    predictor = _map(("minReplicas", spec.min_replicas), ("maxReplicas", spec.max_replicas))
    if spec.canary_traffic_percent is not None:
        predictor["canaryTrafficPercent"] = spec.canary_traffic_percent
    predictor["model"] = model
    return _map(
        ("apiVersion", API_VERSION),
        ("kind", KIND),
        ("metadata", _map(
            ("name", Q(spec.name)),
            ("namespace", Q(spec.namespace)),
            ("labels", _map(
                (LABEL_OWNER, Q(spec.owner)),
                (LABEL_COST_CENTER, Q(spec.cost_center)),
                (LABEL_MANAGED_BY, Q(MANAGED_BY)),
            )),
        )),
        ("spec", _map(("predictor", predictor))),
    )


def render(spec: EndpointSpec) -> str:
    return dump(to_manifest(spec))


def form_values(obj: Any, *, where: str = "") -> dict[str, Any]:
    """The form's fields as a manifest states them (camelCase, possibly incomplete: nothing is validated).

    The edit form and `endpoint update` start from these, so a manifest that fails a policy — a
    missing label, say — can still be opened and fixed.
    """
    isvc = expect(obj, where=where)
    predictor = isvc.predictor
    model = predictor.model if predictor else None
    requests, limits = (model.requests, model.limits) if model else ({}, {})
    values = {
        "name": isvc.name,
        "namespace": isvc.namespace,
        "owner": isvc.labels.get(LABEL_OWNER),
        "costCenter": isvc.labels.get(LABEL_COST_CENTER),
        "modelFormat": model.model_format if model else None,
        "storageUri": model.storage_uri if model else None,
        "runtimeVersion": model.runtime_version if model else None,
        "cpuRequest": requests.get("cpu"),
        "cpuLimit": limits.get("cpu"),
        "memoryRequest": requests.get("memory"),
        "memoryLimit": limits.get("memory"),
        "minReplicas": predictor.min_replicas if predictor else None,
        "maxReplicas": predictor.max_replicas if predictor else None,
        "canaryTrafficPercent": predictor.canary_traffic_percent if predictor else None,
    }
    return {key: value for key, value in values.items() if value is not None}


def from_manifest(obj: Any, *, where: str = "") -> EndpointSpec:
    """Parse an InferenceService object into the spec, naming the field that is wrong."""
    return EndpointSpec.from_input(form_values(obj, where=where), where=where or KIND)


def parse(text: str, *, where: str = "") -> EndpointSpec:
    return from_manifest(load_one(text, where=where), where=where)


def _set(mapping: MutableMapping[str, Any], key: str, value: Any) -> None:
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def _child(mapping: MutableMapping[str, Any], key: str) -> MutableMapping[str, Any]:
    value = mapping.get(key)
    if not isinstance(value, MutableMapping):
        value = mapping[key] = CommentedMap()
    return value


def _model_container(predictor: MutableMapping[str, Any], model_format: str) -> MutableMapping[str, Any]:
    """The predictor's model container, moved under `model:` unless its framework key already names the format."""
    key = next((k for k in MODEL_KEYS["predictor"] if isinstance(predictor.get(k), MutableMapping)), None)
    if key == model_format or key == "model":
        return predictor[key]  # type: ignore[no-any-return]
    container = CommentedMap(predictor.pop(key).items()) if key else CommentedMap()
    predictor["model"] = container
    return container


def apply_spec(obj: Any, spec: EndpointSpec, *, where: str = "") -> Any:
    """`obj` (a round-trip loaded InferenceService) with the form's fields set and everything else kept."""
    expect(obj, where=where)
    metadata = _child(obj, "metadata")
    metadata["name"], metadata["namespace"] = Q(spec.name), Q(spec.namespace)
    labels = _child(metadata, "labels")
    labels[LABEL_OWNER], labels[LABEL_COST_CENTER] = Q(spec.owner), Q(spec.cost_center)
    labels.setdefault(LABEL_MANAGED_BY, Q(MANAGED_BY))
    predictor = _child(_child(obj, "spec"), "predictor")
    predictor["minReplicas"], predictor["maxReplicas"] = spec.min_replicas, spec.max_replicas
    _set(predictor, "canaryTrafficPercent", spec.canary_traffic_percent)
    model = _model_container(predictor, spec.model_format)
    if predictor.get("model") is model:
        _child(model, "modelFormat")["name"] = Q(spec.model_format)
    _set(model, "runtimeVersion", Q(spec.runtime_version) if spec.runtime_version else None)
    model["storageUri"] = Q(spec.storage_uri)
    resources = _child(model, "resources")
    for section, values in (("requests", (spec.cpu_request, spec.memory_request)),
                            ("limits", (spec.cpu_limit, spec.memory_limit))):
        target = _child(resources, section)
        target["cpu"], target["memory"] = Q(values[0]), Q(values[1])
    return obj


def apply_to_text(text: str, spec: EndpointSpec, *, where: str = "") -> str:
    """The manifest text with the form's fields applied (comments and unknown fields kept)."""
    return dump(apply_spec(load_roundtrip(text, where=where), spec, where=where))
