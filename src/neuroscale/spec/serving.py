"""What the embedded engine runs for an InferenceService, and what it cannot honour here.

Read from the one reading (`spec.isvc`), so the engine never walks raw
manifests. Defaults are KServe's and Knative's, so an endpoint behaves locally
the way it will in a cluster:

| field | default | Knative / KServe equivalent |
| --- | --- | --- |
| `minReplicas` | 1 | KServe default (0 = scale to zero) |
| `maxReplicas` | 0 = the platform's per-revision cap | Knative `max-scale` 0 (unbounded) |
| `scaleMetric` | `concurrency` | Knative KPA metric |
| `scaleTarget` | 100 (concurrency) / 200 (rps) | `container-concurrency-target-default` / `requests-per-second-target-default` |
| target utilisation | 70 % of `containerConcurrency` when that is set | `container-concurrency-target-percentage` |
| stable window | 60 s | `stable-window` (`autoscaling.knative.dev/window`) |
| panic window | 10 % of the stable window | `panic-window-percentage` |
| panic threshold | 200 % | `panic-threshold-percentage` |
| scale-to-zero retention | 0 s | `scale-to-zero-pod-retention-period` |
| `containerConcurrency` | 0 = no limit | Knative revision `containerConcurrency` |
| `timeout` | 300 s | Knative `revision-timeout-seconds` |
| `batcher` | 32 requests / 500 ms when present | KServe batcher defaults |

The `autoscaling.knative.dev/*` annotations above are read from the
InferenceService's metadata (KServe passes them to Knative). Unlike Knative,
the embedded engine accepts windows below 6 s, which tests use.

Fields that only mean something on a cluster (scheduling, images, probes,
accelerators, an explainer, …) are listed in `unhonoured` with the reason: the
pull-request checks warn about them and status names them; the endpoint still
serves what it can. What makes serving impossible (no model to load, a format
the embedded runtime does not serve, a storage URI of a shape `spec.storage_uri` refuses) is an
`InvalidInput` naming the field.

The model's runtime is chosen from `modelFormat` {name, version}, `runtime` and
`protocolVersion` by KServe's own rules (`spec.runtimes`); `grpc-v2` adds the
Open Inference Protocol over gRPC to the model server. Your own code runs in
place of a container image when the InferenceService names its class (KServe's
`Model` contract, see `serving.custom`) in an annotation:

| annotation | on | means |
| --- | --- | --- |
| `serving.neuroscale.io/predictor-class: pkg.module:Class` | a predictor of `containers` | run this class as the predictor |
| `serving.neuroscale.io/transformer-class: pkg.module:Class` | `spec.transformer` | chain this class in front of the predictor |

The containers themselves still run in cluster mode; embedded, the class must be
importable where NeuroScale runs (install its package there).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from neuroscale.errors import InvalidInput
from neuroscale.spec import extensions
from neuroscale.spec.extensions import Recording
from neuroscale.spec.fields import DNS1123_LABEL, LABEL_COST_CENTER, LABEL_OWNER
from neuroscale.spec.isvc import Component, Container, InferenceService, expect
from neuroscale.spec.quantity import parse_quantity
from neuroscale.spec.runtimes import SERVED_FORMATS, choose
from neuroscale.spec.storage_uri import storage_uri_problem

#: KServe's CRD declares replica counts, targets and concurrency `format: int32`.
INT32_LIMIT = 2**31
#: Pod-level fields of a component that the embedded engine honours (the rest are reported).
_HONOURED_COMPONENT_FIELDS = frozenset({
    "minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "containerConcurrency", "timeout",
    "canaryTrafficPercent", "batcher", "labels", "annotations",
})
#: Container fields the embedded model server honours.
_HONOURED_MODEL_FIELDS = frozenset({"name", "modelFormat", "storageUri", "runtime", "runtimeVersion",
                                    "protocolVersion", "resources"})
PREDICTOR_CLASS = "serving.neuroscale.io/predictor-class"
TRANSFORMER_CLASS = "serving.neuroscale.io/transformer-class"
CUSTOM_FORMAT = "custom"
_CLASS = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_CORE_RESOURCES = ("cpu", "memory")

KNATIVE = "autoscaling.knative.dev/"
_DNS = re.compile(DNS1123_LABEL)
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")


class Unhonoured(BaseModel):
    """A field the embedded engine does not act on, and why."""

    model_config = ConfigDict(frozen=True)

    path: str
    why: str


class Resources(BaseModel):
    model_config = ConfigDict(frozen=True)

    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None

    @property
    def memory_limit_bytes(self) -> int | None:
        return int(parse_quantity(self.memory_limit)) if self.memory_limit else None

    @property
    def cpu_limit_cores(self) -> float | None:
        return float(parse_quantity(self.cpu_limit)) if self.cpu_limit else None


class Scaling(BaseModel):
    """Knative's autoscaling model, per revision (see the module docstring for the defaults)."""

    model_config = ConfigDict(frozen=True)

    min_replicas: int = 1
    max_replicas: int = 0  # 0: the platform's cap
    metric: Literal["concurrency", "rps"] = "concurrency"
    target: float = 100.0  # per replica, after utilisation
    container_concurrency: int = 0  # hard limit per replica; 0 = none
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0
    retention: float = 0.0


class Batching(BaseModel):
    model_config = ConfigDict(frozen=True)

    max_batch_size: int = 32
    max_latency_ms: int = 500


class ServingSpec(BaseModel):
    """One endpoint as the embedded engine runs it."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str = "default"
    owner: str = ""
    cost_center: str = ""
    model_format: str
    storage_uri: str
    runtime_version: str | None = None
    protocol_version: str | None = None
    runtime: str = ""  # the (KServe-named) runtime chosen for the model
    model_class: str = ""  # custom predictor class (model_format "custom")
    transformer_class: str = ""  # transformer class chained in front of the predictor
    resources: Resources = Resources()
    scaling: Scaling = Scaling()
    timeout: float = 300.0
    canary_traffic_percent: int | None = None
    batcher: Batching | None = None
    unhonoured: tuple[Unhonoured, ...] = ()
    recording: Recording | None = None  # the gateway keeps a sample of live requests
    shadow_percent: int = 0  # share of live requests mirrored to the latest revision while it has no traffic
    preview_of: int | None = None  # the pull request this spec previews (the engine sets it)
    #: Requests need an API key of this endpoint ("": none needed); a preview keeps its endpoint's keys.
    api_keys_of: str = ""

    def process_digest(self) -> str:
        """sha256 of what shapes a model-server process: a change makes a new revision (Knative style).

        Labels, replicas, autoscaling, traffic and timeouts are applied without restarting anything.
        """
        payload = self.model_dump(include={"model_format", "storage_uri", "runtime_version", "protocol_version",
                                           "resources", "batcher"})
        payload |= {key: value for key, value in (("model_class", self.model_class),
                                                  ("transformer_class", self.transformer_class)) if value}
        return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _seconds(text: str, *, where: str) -> float:
    match = _DURATION.match(text.strip()) if text.strip() else None
    if match is None or not any(match.groups()):
        raise InvalidInput(f"{text!r} is not a duration", where=where, fix="write a duration such as 30s, 2m or 1h")
    hours, minutes, seconds = (float(group) if group else 0.0 for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _percent(text: str, *, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1000:
        raise InvalidInput(f"{text!r} is not a percentage", where=where, fix="write a number such as 70")
    return value


def _scaling(isvc: InferenceService, predictor: Component, unhonoured: list[Unhonoured]) -> Scaling:
    for field, count in (("minReplicas", predictor.min_replicas), ("maxReplicas", predictor.max_replicas),
                         ("scaleTarget", predictor.scale_target),
                         ("containerConcurrency", predictor.container_concurrency)):
        if count is not None and not -INT32_LIMIT <= count < INT32_LIMIT:
            raise InvalidInput(f"{predictor.path}.{field} {count} is outside the int32 range the CRD allows",
                               where=f"{predictor.path}.{field}", fix=f"set {field} to a realistic count")
    notes = isvc.annotations
    where = "metadata.annotations"
    asked = predictor.scale_metric or "concurrency"
    metric: Literal["concurrency", "rps"] = "rps" if asked == "rps" else "concurrency"
    if asked not in ("concurrency", "rps"):
        unhonoured.append(Unhonoured(path=f"{predictor.path}.scaleMetric", why=(
            f"{asked} autoscaling (a HorizontalPodAutoscaler) needs a cluster; the embedded engine scales on "
            "concurrency instead")))
    concurrency = predictor.container_concurrency or 0
    utilisation = _percent(notes.get(f"{KNATIVE}target-utilization-percentage", "70"),
                           where=f"{where}[{KNATIVE}target-utilization-percentage]") / 100
    if predictor.scale_target is not None:
        target = float(predictor.scale_target)
    elif metric == "rps":
        target = 200.0
    else:
        target = concurrency * utilisation if concurrency else 100.0
    window = _seconds(notes.get(f"{KNATIVE}window", "60s"), where=f"{where}[{KNATIVE}window]")
    panic_percent = _percent(notes.get(f"{KNATIVE}panic-window-percentage", "10"),
                             where=f"{where}[{KNATIVE}panic-window-percentage]")
    threshold = _percent(notes.get(f"{KNATIVE}panic-threshold-percentage", "200"),
                         where=f"{where}[{KNATIVE}panic-threshold-percentage]")
    retention = _seconds(notes.get(f"{KNATIVE}scale-to-zero-pod-retention-period", "0s"),
                         where=f"{where}[{KNATIVE}scale-to-zero-pod-retention-period]")
    minimum = predictor.min_replicas if predictor.min_replicas is not None else 1
    return Scaling(min_replicas=max(minimum, 0), max_replicas=max(predictor.max_replicas or 0, 0), metric=metric,
                   target=max(target, 0.01), container_concurrency=max(concurrency, 0),
                   stable_window=max(window, 1.0), panic_window=max(window * panic_percent / 100, 0.5),
                   panic_threshold=threshold / 100, retention=max(retention, 0.0))


def _resources(model: Container, unhonoured: list[Unhonoured]) -> Resources:
    values: dict[str, str | None] = {}
    for section, items in (("request", model.requests), ("limit", model.limits)):
        for name, value in items.items():
            if name in _CORE_RESOURCES:
                where = f"{model.path}.resources.{section}s.{name}"
                parse_quantity(value, where=where)
                values[f"{name}_{section}"] = str(value)
            else:
                unhonoured.append(Unhonoured(path=f"{model.path}.resources.{section}s.{name}",
                                             why="extended resources (accelerators) are not available on one machine"))
    return Resources.model_validate(values)


def _model(isvc: InferenceService, predictor: Component) -> Container | None:
    """The predictor's model container; None for a predictor of containers run as a class."""
    models = predictor.models
    if not models:
        if isvc.annotations.get(PREDICTOR_CLASS):
            return None
        raise InvalidInput(
            f"{predictor.path} names no model: the embedded engine serves a model given by a framework key "
            f"(sklearn, xgboost, lightgbm, onnx, huggingface) or `model` with modelFormat, or a predictor "
            f"class named by the {PREDICTOR_CLASS} annotation, not container images",
            where=predictor.path, fix="describe the model with model.modelFormat and storageUri, name your "
                                      f"predictor class in metadata.annotations[{PREDICTOR_CLASS}], or deploy "
                                      "image-only predictors in cluster mode")
    model = models[0]
    if not model.model_format:
        raise InvalidInput(f"no model format at {model.path}: the embedded runtime serves {', '.join(SERVED_FORMATS)}",
                           where=f"{model.path}.modelFormat.name" if model.key == "model" else model.path,
                           fix=f"use one of {', '.join(SERVED_FORMATS)}, or serve this endpoint in cluster mode")
    if not model.storage_uri:
        raise InvalidInput(f"{model.path}.storageUri is missing", where=f"{model.path}.storageUri",
                           fix="set storageUri to where the model lives")
    return model


def _class_name(isvc: InferenceService, key: str) -> str:
    value = isvc.annotations.get(key, "")
    if value and not _CLASS.match(value):
        raise InvalidInput(f"{value!r} is not a class name of the form package.module:Class",
                           where=f"metadata.annotations[{key}]", fix="write e.g. my_models.sentiment:SentimentModel")
    return value


def _note_unhonoured(isvc: InferenceService, predictor: Component, model: Container | None, *,
                     transformer_class: str) -> list[Unhonoured]:
    found = []
    for key in predictor.raw:
        if key not in _HONOURED_COMPONENT_FIELDS and not any(m.key == key for m in predictor.models):
            if model is None and key == "containers":
                found.append(Unhonoured(path=f"{predictor.path}.containers", why=(
                    f"embedded, the class in {PREDICTOR_CLASS} runs instead of the container image")))
                continue
            found.append(Unhonoured(path=f"{predictor.path}.{key}", why=_why_component_field(key)))
    for extra in predictor.models[1:]:
        found.append(Unhonoured(path=extra.path, why="only the first model of a predictor is served"))
    if model is not None:
        for key in model.raw:
            if key not in _HONOURED_MODEL_FIELDS:
                found.append(Unhonoured(path=f"{model.path}.{key}",
                                        why="the embedded model server runs the model itself, not a container"))
        if model.runtime_version:
            found.append(Unhonoured(path=f"{model.path}.runtimeVersion", why=(
                "names the runtime's image tag; embedded, the installed NeuroScale model server and framework run")))
    for component in isvc.components:
        if component.name == "predictor":
            continue
        if component.kind == "transformer" and transformer_class:
            found.append(Unhonoured(path=f"{component.path}.containers", why=(
                f"embedded, the class in {TRANSFORMER_CLASS} runs in the model server instead of the image")))
            continue
        found.append(Unhonoured(path=component.path, why=f"a {component.kind} runs container images; the "
                                                         "embedded engine serves the predictor only"
                                                         + (f" (name a transformer class in {TRANSFORMER_CLASS})"
                                                            if component.kind == "transformer" else "")))
    return found


def _why_component_field(key: str) -> str:
    if key in ("containers", "initContainers", "workerSpec"):
        return "containers run images, which need a cluster"
    if key in ("logger", "storageUris", "autoScaling", "deploymentStrategy", "scaleMetricType"):
        return "not implemented by the embedded engine"
    if key == "securityContext":
        return "model servers run as the platform's own user"
    return "a Kubernetes scheduling or pod setting with no meaning on one machine"


def serving_spec(obj: Mapping[str, Any] | InferenceService, *, where: str = "") -> ServingSpec:
    """The engine's reading of an InferenceService; `InvalidInput` names what makes serving impossible."""
    isvc = obj if isinstance(obj, InferenceService) else expect(obj, where=where)
    try:
        return _read(isvc)
    except InvalidInput as exc:  # raised with the field path as `where`; say the file too, and list the field
        field = exc.where
        raise InvalidInput(exc.message, where=f"{where}: {field}" if where else field, fix=exc.fix,
                           details={"fields": [{"field": field, "message": exc.message, "fix": exc.fix}]}) from None


def _read(isvc: InferenceService) -> ServingSpec:
    for field, value in (("metadata.name", isvc.name), ("metadata.namespace", isvc.namespace or "default")):
        if not isinstance(value, str) or len(value) > 63 or not _DNS.match(value):
            raise InvalidInput(f"{field} {value!r} is not a DNS-1123 label", where=field,
                               fix="use at most 63 lowercase letters, digits and '-', starting and ending with a "
                                   "letter or digit")
    predictor = isvc.predictor
    if predictor is None:
        raise InvalidInput("spec.predictor is missing", where="spec.predictor",
                           fix="every InferenceService needs a predictor")
    for where, uri in isvc.storage_uris:
        problem = storage_uri_problem(uri)
        if problem is not None:
            raise InvalidInput(problem.message, where=where, fix=problem.fix)
    model = _model(isvc, predictor)
    predictor_class = _class_name(isvc, PREDICTOR_CLASS) if model is None else ""
    transformer_class = _class_name(isvc, TRANSFORMER_CLASS) if isvc.transformer is not None else ""
    unhonoured = _note_unhonoured(isvc, predictor, model, transformer_class=transformer_class)
    runtime, model_format = "", CUSTOM_FORMAT
    if model is not None:
        where = f"{model.path}.modelFormat.name" if model.key == "model" else model.path
        choice = choose(model.model_format or "", model.model_format_version, runtime=model.runtime,
                        protocol=model.protocol_version, where=where)
        if choice is None:
            unhonoured.append(Unhonoured(path=f"{model.path}.runtime", why=(
                f"{model.runtime} is not a built-in runtime; the embedded runtime for the model format is used")))
            choice = choose(model.model_format or "", model.model_format_version, runtime=None,
                            protocol=model.protocol_version, where=where)
        assert choice is not None  # choose() without a runtime name always chooses or raises
        runtime, model_format = choice.runtime.name, choice.model_format
    resources = _resources(model, unhonoured) if model is not None else Resources()
    scaling = _scaling(isvc, predictor, unhonoured)
    batcher = predictor.batcher
    ours = extensions.annotations_of(isvc.metadata.get("annotations"))
    return ServingSpec(
        name=isvc.name or "", namespace=isvc.namespace or "default",
        owner=isvc.labels.get(LABEL_OWNER, ""), cost_center=isvc.labels.get(LABEL_COST_CENTER, ""),
        model_format=model_format, storage_uri=(model.storage_uri or "") if model is not None else "",
        runtime_version=model.runtime_version if model is not None else None,
        protocol_version=model.protocol_version if model is not None else None,
        runtime=runtime, model_class=predictor_class, transformer_class=transformer_class,
        resources=resources, scaling=scaling,
        timeout=float(predictor.timeout) if predictor.timeout else 300.0,
        canary_traffic_percent=predictor.canary_traffic_percent,
        batcher=None if batcher is None else Batching(
            max_batch_size=_positive(batcher.get("maxBatchSize"), 32),
            max_latency_ms=_positive(batcher.get("maxLatency"), 500)),
        unhonoured=tuple(unhonoured),
        recording=extensions.recording(ours),
        shadow_percent=extensions.shadow_percent(ours),
        api_keys_of=(isvc.name or "") if extensions.require_api_key(ours) else "",
    )


def _positive(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
