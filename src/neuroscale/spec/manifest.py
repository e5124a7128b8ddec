"""Render an `EndpointSpec` to a KServe v1beta1 InferenceService and parse one back.

The rendered text is the contract with the GitOps repository and with the
Backstage skeleton (issue: byte-identical output for the same inputs), so every
string value is emitted double-quoted and keys come in a fixed order.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Q

from neuroscale.errors import InvalidInput
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_MANAGED_BY, LABEL_OWNER, MANAGED_BY
from neuroscale.yamlio import dump, load_one

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
APPS_DIR = "apps"
MANIFEST_FILE = "inference-service.yaml"


def manifest_path(name: str) -> str:
    """Where an endpoint's manifest lives in the GitOps repository."""
    return f"{APPS_DIR}/{name}/{MANIFEST_FILE}"


def _map(*pairs: tuple[str, Any]) -> CommentedMap:
    return CommentedMap(pairs)


def to_manifest(spec: EndpointSpec) -> CommentedMap:
    model_format = _map(("name", Q(spec.model_format)))
    model = _map(("modelFormat", model_format))
    if spec.runtime_version:
        model["runtimeVersion"] = Q(spec.runtime_version)
    model["storageUri"] = Q(spec.storage_uri)
    model["resources"] = _map(
        ("requests", _map(("cpu", Q(spec.cpu_request)), ("memory", Q(spec.memory_request)))),
        ("limits", _map(("cpu", Q(spec.cpu_limit)), ("memory", Q(spec.memory_limit)))),
    )
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
        ("spec", _map(("predictor", _map(
            ("minReplicas", spec.min_replicas),
            ("maxReplicas", spec.max_replicas),
            ("model", model),
        )))),
    )


def render(spec: EndpointSpec) -> str:
    return dump(to_manifest(spec))


def _get(obj: Any, path: str) -> Any:
    node = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def from_manifest(obj: Any, *, where: str = "") -> EndpointSpec:
    """Parse an InferenceService object into the spec, naming the field that is wrong."""
    if not isinstance(obj, dict):
        raise InvalidInput("not a Kubernetes object (expected a mapping)", where=where,
                           fix=f"the file must hold one {KIND}")
    if obj.get("kind") != KIND or obj.get("apiVersion") != API_VERSION:
        raise InvalidInput(
            f"expected apiVersion {API_VERSION} kind {KIND}, found {obj.get('apiVersion')} {obj.get('kind')}",
            where=where, fix=f"files under {APPS_DIR}/ must be KServe {KIND} manifests",
        )
    labels = _get(obj, "metadata.labels") or {}
    model = _get(obj, "spec.predictor.model") or {}
    resources = model.get("resources") or {} if isinstance(model, dict) else {}
    data = {
        "name": _get(obj, "metadata.name"),
        "namespace": _get(obj, "metadata.namespace"),
        "owner": labels.get(LABEL_OWNER) if isinstance(labels, dict) else None,
        "costCenter": labels.get(LABEL_COST_CENTER) if isinstance(labels, dict) else None,
        "modelFormat": _get(model, "modelFormat.name"),
        "storageUri": _get(model, "storageUri"),
        "runtimeVersion": _get(model, "runtimeVersion"),
        "cpuRequest": _get(resources, "requests.cpu"),
        "cpuLimit": _get(resources, "limits.cpu"),
        "memoryRequest": _get(resources, "requests.memory"),
        "memoryLimit": _get(resources, "limits.memory"),
        "minReplicas": _get(obj, "spec.predictor.minReplicas"),
        "maxReplicas": _get(obj, "spec.predictor.maxReplicas"),
    }
    return EndpointSpec.from_input(data, where=where or "InferenceService")


def parse(text: str, *, where: str = "") -> EndpointSpec:
    return from_manifest(load_one(text, where=where), where=where)
