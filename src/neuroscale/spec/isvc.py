"""The one reading of a KServe `serving.kserve.io/v1beta1` InferenceService.

Every module that needs to know what an InferenceService says — policies,
cost, lints, admission, the engine, status — asks this module, so they can
never disagree about a manifest: a predictor written with a framework key
(`sklearn: {storageUri: …}`), a transformer with its own containers, an
explainer, a `workerSpec`, or a predictor under `spec.canary[]` is seen by all
of them, not only the `model:` shape our own generator writes.

The reader is tolerant on purpose: it never raises, whatever the object holds
(a list where a mapping belongs, a number for an image). Wrong types are the
schema validator's job; here they read as absent, so a guardrail still sees
every other container. The field tables below are checked against the real
CRD by the tests, so a KServe release that adds a framework key fails loudly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from neuroscale.errors import InvalidInput

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"

#: Predictor keys that name a model server for one framework (each a container plus `storageUri`).
PREDICTOR_FRAMEWORKS: tuple[str, ...] = (
    "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "triton", "onnx", "pmml", "paddle", "huggingface")
#: Keys holding a model container, per component; `model` names its format in `modelFormat.name`.
MODEL_KEYS: Mapping[str, tuple[str, ...]] = {
    "predictor": ("model", *PREDICTOR_FRAMEWORKS),
    "transformer": (),
    "explainer": ("art",),
}
COMPONENTS: tuple[str, ...] = ("predictor", "transformer", "explainer")
#: Lists of plain containers a component (or its `workerSpec`) may hold.
CONTAINER_LISTS: tuple[str, ...] = ("containers", "initContainers")
WORKER_CONTAINER_LISTS: tuple[str, ...] = ("containers", "initContainers", "ephemeralContainers")
#: KServe's ComponentExtensionSpec: how a component scales, batches, logs and splits traffic.
EXTENSION_FIELDS: tuple[str, ...] = (
    "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric", "scaleMetricType", "containerConcurrency",
    "timeout", "canaryTrafficPercent", "logger", "batcher", "labels", "annotations", "deploymentStrategy",
    "autoScaling", "storageUris")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _str_map(value: Any) -> Mapping[str, str]:
    return {k: v for k, v in _mapping(value).items() if isinstance(k, str) and isinstance(v, str)}


@dataclass(frozen=True)
class Container:
    """One container a component runs, with the field path findings point at."""

    path: str  # e.g. "spec.predictor.sklearn", "spec.transformer.containers[0]"
    component: str  # e.g. "predictor", "canary[0].predictor"
    key: str  # "sklearn", "model", "containers[0]", "workerSpec.containers[1]"
    raw: Mapping[str, Any]

    @property
    def is_model(self) -> bool:
        """A framework or `model` key: the serving runtime supplies image and defaults."""
        return "[" not in self.key

    @property
    def is_init(self) -> bool:
        return "initContainers[" in self.key or "ephemeralContainers[" in self.key

    @property
    def name(self) -> str | None:
        return _str(self.raw.get("name"))

    @property
    def image(self) -> str | None:
        return _str(self.raw.get("image"))

    @property
    def requests(self) -> Mapping[str, Any]:
        return _mapping(_mapping(self.raw.get("resources")).get("requests"))

    @property
    def limits(self) -> Mapping[str, Any]:
        return _mapping(_mapping(self.raw.get("resources")).get("limits"))

    @property
    def has_resources(self) -> bool:
        return bool(self.requests) or bool(self.limits)

    @property
    def security_context(self) -> Mapping[str, Any]:
        return _mapping(self.raw.get("securityContext"))

    @property
    def storage_uri(self) -> str | None:
        return _str(self.raw.get("storageUri"))

    @property
    def model_format(self) -> str | None:
        """The framework: a framework key's own name, or `modelFormat.name` under `model`."""
        if not self.is_model:
            return None
        if self.key == "model":
            return _str(_mapping(self.raw.get("modelFormat")).get("name"))
        return self.key

    @property
    def model_format_version(self) -> str | None:
        return _str(_mapping(self.raw.get("modelFormat")).get("version")) if self.key == "model" else None

    @property
    def runtime(self) -> str | None:
        return _str(self.raw.get("runtime"))

    @property
    def runtime_version(self) -> str | None:
        return _str(self.raw.get("runtimeVersion"))

    @property
    def protocol_version(self) -> str | None:
        return _str(self.raw.get("protocolVersion"))

    @property
    def env(self) -> tuple[Mapping[str, Any], ...]:
        items = self.raw.get("env")
        return tuple(e for e in items if isinstance(e, Mapping)) if isinstance(items, list) else ()


@dataclass(frozen=True)
class Component:
    """A predictor, transformer or explainer: its containers and its KServe extension fields."""

    name: str  # "predictor", "transformer", "explainer", "canary[0].predictor"
    kind: str  # "predictor", "transformer" or "explainer"
    path: str  # "spec.predictor"
    raw: Mapping[str, Any]

    def _containers(self, spec: Mapping[str, Any], prefix: str, lists: tuple[str, ...]) -> Iterator[Container]:
        for key in lists:
            items = spec.get(key)
            if isinstance(items, list):
                for index, item in enumerate(items):
                    if isinstance(item, Mapping):
                        key_path = f"{prefix}{key}[{index}]"
                        yield Container(f"{self.path}.{key_path}", self.name, key_path, item)

    @property
    def models(self) -> tuple[Container, ...]:
        """Every framework/model key set (KServe allows exactly one on a predictor)."""
        return tuple(Container(f"{self.path}.{key}", self.name, key, self.raw[key])
                     for key in MODEL_KEYS[self.kind] if isinstance(self.raw.get(key), Mapping))

    @property
    def model(self) -> Container | None:
        models = self.models
        return models[0] if models else None

    @property
    def listed(self) -> tuple[Container, ...]:
        """Plain containers and init containers of the component and of its `workerSpec`."""
        worker = _mapping(self.raw.get("workerSpec"))
        return (*self._containers(self.raw, "", CONTAINER_LISTS),
                *self._containers(worker, "workerSpec.", WORKER_CONTAINER_LISTS))

    @property
    def containers(self) -> tuple[Container, ...]:
        """Every container: model keys first, then listed ones."""
        return (*self.models, *self.listed)

    @property
    def storage_uris(self) -> tuple[tuple[str, str], ...]:
        """(field path, URI) of every model location the component names."""
        found = [(c.path + ".storageUri", c.storage_uri) for c in self.models if c.storage_uri is not None]
        items = self.raw.get("storageUris")
        for index, item in enumerate(items if isinstance(items, list) else []):
            uri = _str(_mapping(item).get("uri"))
            if uri is not None:
                found.append((f"{self.path}.storageUris[{index}].uri", uri))
        return tuple(found)

    def field(self, name: str) -> Any:
        return self.raw.get(name)

    @property
    def min_replicas(self) -> int | None:
        return _int(self.raw.get("minReplicas"))

    @property
    def max_replicas(self) -> int | None:
        return _int(self.raw.get("maxReplicas"))

    @property
    def scale_metric(self) -> str | None:
        return _str(self.raw.get("scaleMetric"))

    @property
    def scale_target(self) -> int | None:
        return _int(self.raw.get("scaleTarget"))

    @property
    def container_concurrency(self) -> int | None:
        return _int(self.raw.get("containerConcurrency"))

    @property
    def timeout(self) -> int | None:
        return _int(self.raw.get("timeout"))

    @property
    def canary_traffic_percent(self) -> int | None:
        return _int(self.raw.get("canaryTrafficPercent"))

    @property
    def batcher(self) -> Mapping[str, Any] | None:
        value = self.raw.get("batcher")
        return value if isinstance(value, Mapping) else None

    @property
    def logger(self) -> Mapping[str, Any] | None:
        value = self.raw.get("logger")
        return value if isinstance(value, Mapping) else None

    @property
    def pod_security_context(self) -> Mapping[str, Any]:
        return _mapping(self.raw.get("securityContext"))


@dataclass(frozen=True)
class InferenceService:
    """An InferenceService as written: metadata and every component, tolerant of any shape."""

    raw: Mapping[str, Any]

    @property
    def is_inference_service(self) -> bool:
        return self.raw.get("kind") == KIND and str(self.raw.get("apiVersion", "")).startswith("serving.kserve.io/")

    @property
    def metadata(self) -> Mapping[str, Any]:
        return _mapping(self.raw.get("metadata"))

    @property
    def name(self) -> str | None:
        return _str(self.metadata.get("name"))

    @property
    def namespace(self) -> str | None:
        return _str(self.metadata.get("namespace"))

    @property
    def labels(self) -> Mapping[str, str]:
        return _str_map(self.metadata.get("labels"))

    @property
    def annotations(self) -> Mapping[str, str]:
        return _str_map(self.metadata.get("annotations"))

    @property
    def spec(self) -> Mapping[str, Any]:
        return _mapping(self.raw.get("spec"))

    def component(self, kind: str) -> Component | None:
        raw = self.spec.get(kind)
        return Component(kind, kind, f"spec.{kind}", raw) if isinstance(raw, Mapping) else None

    @property
    def predictor(self) -> Component | None:
        return self.component("predictor")

    @property
    def transformer(self) -> Component | None:
        return self.component("transformer")

    @property
    def explainer(self) -> Component | None:
        return self.component("explainer")

    @property
    def canaries(self) -> tuple[Component, ...]:
        """Predictors under `spec.canary[]` (a newer KServe traffic-split shape)."""
        items = self.spec.get("canary")
        found = []
        for index, item in enumerate(items if isinstance(items, list) else []):
            predictor = _mapping(item).get("predictor")
            if isinstance(predictor, Mapping):
                found.append(Component(f"canary[{index}].predictor", "predictor",
                                       f"spec.canary[{index}].predictor", predictor))
        return tuple(found)

    @property
    def components(self) -> tuple[Component, ...]:
        """Every component, in KServe's order, then canary predictors."""
        found = [c for c in (self.component(kind) for kind in COMPONENTS) if c is not None]
        return (*found, *self.canaries)

    @property
    def containers(self) -> tuple[Container, ...]:
        return tuple(container for component in self.components for container in component.containers)

    @property
    def storage_uris(self) -> tuple[tuple[str, str], ...]:
        return tuple(item for component in self.components for item in component.storage_uris)


def read(obj: Any) -> InferenceService:
    """The typed view of `obj`; a non-mapping reads as an object with nothing in it."""
    return InferenceService(obj if isinstance(obj, Mapping) else {})


def expect(obj: Any, *, where: str = "") -> InferenceService:
    """The reading of `obj`, which must be a `serving.kserve.io/v1beta1` InferenceService (else `InvalidInput`)."""
    if not isinstance(obj, Mapping):
        raise InvalidInput("not a Kubernetes object (expected a mapping)", where=where,
                           fix=f"the file must hold one {KIND}")
    if obj.get("kind") != KIND or obj.get("apiVersion") != API_VERSION:
        raise InvalidInput(
            f"expected apiVersion {API_VERSION} kind {KIND}, found {obj.get('apiVersion')} {obj.get('kind')}",
            where=where, fix=f"files under apps/ must be KServe {KIND} manifests")
    return InferenceService(obj)
