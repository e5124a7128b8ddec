"""Your own code as a predictor or transformer: KServe's `Model` contract, run in-process.

A class named `package.module:Class` (importable in the model server's environment) is built
as KServe builds it, `Class(name)`, then `load()` is called once before the port binds; it must
leave `ready` true (KServe's `Model.load` sets it). Each request then runs
`preprocess -> predict -> postprocess`, exactly as KServe's model server calls them: sync or
async methods, `(payload, headers)` arguments, plus `response_headers` when the class sets
`required_response_headers`. V1 requests pass the JSON body as a dict; V2 requests (REST and gRPC)
pass a `kserve.InferRequest` when the class derives from KServe's `Model` (so an existing KServe
custom model runs unchanged once its package is installed), else this server's own `InferRequest`.
Answers may be a dict, a KServe `InferResponse` or this server's `InferResponse`.

A transformer is the same contract chained in front of a predictor (built-in or custom), as the
InferenceService `transformer` component is in KServe: its `preprocess` output goes to the
predictor and the predictor's answer to its `postprocess`, in-process instead of over HTTP.

Errors: an exception in `load()` is a `ModelLoadError` (the server exits 3, the endpoint's status
says why); in a request, KServe's `InvalidInput` (or ours) is a 422 for that request only, any
other exception is a 500 `PredictionFailed` with one line, the traceback going to the log.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from neuroscale.errors import InvalidInput, ModelLoadError, NeuroScaleError
from neuroscale.serving.model import ModelMetadata, Plane, PredictionFailed, TensorSpec
from neuroscale.serving.storage import describe
from neuroscale.serving.tensors import InferRequest, InferResponse, Tensor, datatype_of, to_array

_STAGES = ("preprocess", "predict", "postprocess")


def import_class(target: str, *, role: str) -> type:
    """The class `package.module:Class` names; a `ModelLoadError` saying how to fix anything else."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ModelLoadError(f"{role} class {target!r} is not of the form package.module:Class", where=target,
                             fix="name the class as package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises at import
        raise ModelLoadError(f"cannot import {module_name}: {describe(exc)}", where=target,
                             fix="install the package that provides the class in the model server's "
                                 "Python environment (the one running neuroscale)") from None
    found: Any = module
    for part in attribute.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ModelLoadError(f"{module_name} has no {attribute}", where=target,
                                 fix="check the class name after the colon")
    if not isinstance(found, type):
        raise ModelLoadError(f"{target} is a {type(found).__name__}, not a class", where=target,
                             fix="name a class with load/preprocess/predict/postprocess methods")
    return found


class UserModel:
    """One instance of a user's class, loaded, with its stages ready to call."""

    def __init__(self, cls: type, *, name: str, role: str) -> None:
        target = f"{cls.__module__}:{cls.__qualname__}"
        self.target = target
        self.kserve_types = any(base.__module__.startswith("kserve") for base in cls.__mro__)
        try:
            self.obj = cls(name)
            loaded = self.obj.load() if callable(getattr(self.obj, "load", None)) else True
        except Exception as exc:  # the user's code: any failure means the model cannot serve
            traceback.print_exception(exc, file=sys.stderr)
            raise ModelLoadError(f"the {role} class raised in load(): {describe(exc)}", where=target,
                                 fix="fix the class's load() (its traceback is in the model server log)") from None
        if loaded is False or getattr(self.obj, "ready", True) is not True:
            raise ModelLoadError(f"the {role} class's load() left it not ready", where=target,
                                 fix="set self.ready = True at the end of load(), as KServe's Model.load does")
        missing = [stage for stage in _STAGES if not callable(getattr(self.obj, stage, None))]
        if missing:
            raise ModelLoadError(f"the {role} class has no {', '.join(missing)}()", where=target,
                                 fix="subclass kserve.Model, or define load, preprocess, predict and postprocess")
        self._stages = {stage: _caller(getattr(self.obj, stage)) for stage in _STAGES}
        self._response_headers = bool(getattr(self.obj, "required_response_headers", False))
        validate = getattr(self.obj, "validate", None)
        self._validate = validate if callable(validate) else None

    async def stage(self, stage: str, payload: Any, headers: Mapping[str, str]) -> Any:
        """Call one of preprocess/predict/postprocess the way KServe does, mapping its errors."""
        extra: tuple[dict[str, str], ...] = ({},) if self._response_headers and stage != "preprocess" else ()
        try:
            result = self._stages[stage](payload, dict(headers), *extra)
            if inspect.isawaitable(result):
                result = await result
            if stage == "preprocess" and self._validate is not None:
                result = self._validate(result)
        except NeuroScaleError:
            raise
        except Exception as exc:  # user code: the request gets one line, the log the traceback
            raise _request_error(exc, where=f"{self.target} {stage}") from None
        return result

    def tensor_specs(self, kind: str) -> list[TensorSpec]:
        getter = getattr(self.obj, f"get_{kind}_types", None)
        try:
            found = getter() if callable(getter) else []
        except Exception:  # KServe's default raises NotImplementedError-like errors when unset
            return []
        specs = []
        for item in found or []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                specs.append(TensorSpec(item["name"], str(item.get("datatype", "BYTES")),
                                        [int(d) for d in item.get("shape", [-1])]))
        return specs


def _caller(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` called with as many of (payload, headers, response_headers) as it takes."""
    try:
        parameters = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return method
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return method
    positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
    return lambda *args: method(*args[:positional])


def _request_error(exc: Exception, *, where: str) -> NeuroScaleError:
    if type(exc).__name__ == "InvalidInput":  # kserve.errors.InvalidInput: the client's mistake
        return InvalidInput(f"the model refused the request: {exc}", where=where,
                            fix="send what the model's preprocess/predict expects")
    traceback.print_exception(exc, file=sys.stderr)
    return PredictionFailed(f"the model failed: {describe(exc)}", where=where,
                            fix="see the model server's log for the traceback")


class CustomPlane:
    """A `Plane` running a user's predictor class (KServe `Model` contract)."""

    def __init__(self, model: UserModel, *, name: str, version: str | None = None) -> None:
        self.model = model
        self.name = name
        self.version = version or None
        self.ready = True

    def describe(self) -> str:
        return f"custom predictor {self.model.target}"

    def metadata(self) -> ModelMetadata:
        return ModelMetadata(name=self.name, versions=[self.version] if self.version else [], platform="custom",
                             inputs=self.model.tensor_specs("input"), outputs=self.model.tensor_specs("output"))

    async def predict_v1(self, doc: dict[str, Any], headers: Mapping[str, str]) -> Any:
        payload = await self.model.stage("preprocess", doc, headers)
        result = await self.model.stage("predict", payload, headers)
        return await self.model.stage("postprocess", result, headers)

    async def infer(self, request: InferRequest, headers: Mapping[str, str]) -> InferResponse:
        payload = to_user_request(request, model_name=self.name, kserve_types=self.model.kserve_types)
        payload = await self.model.stage("preprocess", payload, headers)
        result = await self.model.stage("predict", payload, headers)
        result = await self.model.stage("postprocess", result, headers)
        return from_user_response(result, name=self.name, version=self.version, request_id=request.id)

    async def unload(self) -> None:
        self.ready = False
        stop = getattr(self.model.obj, "stop", None)
        if callable(stop):
            stop()


class TransformerChain:
    """A transformer class in front of another plane: preprocess -> the predictor -> postprocess."""

    def __init__(self, transformer: UserModel, predictor: Plane) -> None:
        self.transformer = transformer
        self.predictor = predictor
        self.name = predictor.name
        self.version = predictor.version

    @property
    def ready(self) -> bool:
        return self.predictor.ready

    def describe(self) -> str:
        return f"transformer {self.transformer.target} in front of {self.predictor.describe()}"

    def metadata(self) -> ModelMetadata:
        inner = self.predictor.metadata()
        inputs = self.transformer.tensor_specs("input") or inner.inputs
        outputs = self.transformer.tensor_specs("output") or inner.outputs
        return ModelMetadata(name=inner.name, versions=inner.versions, platform=inner.platform,
                             inputs=inputs, outputs=outputs)

    async def predict_v1(self, doc: dict[str, Any], headers: Mapping[str, str]) -> Any:
        payload = await self.transformer.stage("preprocess", doc, headers)
        result = await self._forward(payload, headers)
        return await self.transformer.stage("postprocess", result, headers)

    async def infer(self, request: InferRequest, headers: Mapping[str, str]) -> InferResponse:
        kserve_types = self.transformer.kserve_types
        payload = to_user_request(request, model_name=self.name, kserve_types=kserve_types)
        payload = await self.transformer.stage("preprocess", payload, headers)
        result = await self._forward(payload, headers)
        if isinstance(result, InferResponse) and kserve_types:
            result = to_kserve_response(result)
        result = await self.transformer.stage("postprocess", result, headers)
        return from_user_response(result, name=self.name, version=self.version, request_id=request.id)

    async def _forward(self, payload: Any, headers: Mapping[str, str]) -> Any:
        """What the transformer's preprocess produced, sent to the predictor in the matching protocol."""
        if isinstance(payload, Mapping) and "inputs" not in payload:
            return await self.predictor.predict_v1(dict(payload), headers)  # V1 body, as KServe sends it on
        return await self.predictor.infer(from_user_request(payload), headers)

    async def unload(self) -> None:
        await self.predictor.unload()


def to_user_request(request: InferRequest, *, model_name: str, kserve_types: bool) -> Any:
    if not kserve_types:
        return request
    from kserve.protocol.infer_type import InferInput, RequestedOutput
    from kserve.protocol.infer_type import InferRequest as KServeRequest

    inputs = []
    for tensor in request.inputs:
        item = InferInput(name=tensor.name, shape=tensor.shape, datatype=tensor.datatype)
        item.set_data_from_numpy(tensor.data, binary_data=False)
        inputs.append(item)
    outputs = [RequestedOutput(o.name, o.parameters) for o in request.outputs] or None
    return KServeRequest(model_name=model_name, infer_inputs=inputs, request_id=request.id,
                         parameters=request.parameters, request_outputs=outputs)


def from_user_request(payload: Any) -> InferRequest:
    """A transformer's V2 output (ours, KServe's, or a V2 JSON dict) as this server's request."""
    if isinstance(payload, InferRequest):
        return payload
    if isinstance(payload, Mapping):
        return InferRequest(inputs=tuple(_tensor_from_json(item, index) for index, item in
                                         enumerate(payload.get("inputs") or ())),
                            id=payload.get("id"), parameters=payload.get("parameters"))
    inputs = getattr(payload, "inputs", None)
    if inputs is None:
        raise PredictionFailed(f"the transformer's preprocess returned a {type(payload).__name__}",
                               fix="return a dict (V1 or V2 JSON) or an InferRequest")
    tensors = tuple(Tensor(i.name, i.datatype, np.asarray(i.as_numpy()).reshape(list(i.shape))) for i in inputs)
    return InferRequest(inputs=tensors, id=getattr(payload, "id", None),
                        parameters=dict(getattr(payload, "parameters", None) or {}) or None)


def to_kserve_response(response: InferResponse) -> Any:
    from kserve.protocol.infer_type import InferOutput
    from kserve.protocol.infer_type import InferResponse as KServeResponse

    outputs = []
    for tensor in response.outputs:
        item = InferOutput(name=tensor.name, shape=tensor.shape, datatype=tensor.datatype)
        item.set_data_from_numpy(tensor.data, binary_data=False)
        outputs.append(item)
    return KServeResponse(response_id=response.id or "", model_name=response.model_name, infer_outputs=outputs,
                          model_version=response.model_version)


def from_user_response(result: Any, *, name: str, version: str | None, request_id: str | None) -> InferResponse:
    """A V2 answer from user code (ours, KServe's, or a V2 JSON dict) as this server's response."""
    if isinstance(result, InferResponse):
        return result
    if isinstance(result, Mapping):
        outputs = tuple(_tensor_from_json(item, index, kind="outputs")
                        for index, item in enumerate(result.get("outputs") or ()))
        if not outputs:
            raise PredictionFailed("the model answered a V2 request with no \"outputs\"",
                                   fix="return an InferResponse, or a dict with V2 \"outputs\"")
        return InferResponse(model_name=name, model_version=version, outputs=outputs,
                             id=result.get("id", request_id))
    outputs_attr = getattr(result, "outputs", None)
    if outputs_attr is None:
        raise PredictionFailed(f"the model answered a V2 request with a {type(result).__name__}",
                               fix="return an InferResponse or a dict with V2 \"outputs\"")
    tensors = []
    for item in outputs_attr:
        data = np.asarray(item.as_numpy())
        tensors.append(Tensor(item.name, item.datatype or datatype_of(data), data.reshape(list(item.shape))))
    return InferResponse(model_name=name, model_version=version, outputs=tuple(tensors),
                         id=getattr(result, "id", None) or request_id,
                         parameters=dict(getattr(result, "parameters", None) or {}) or None)


def _tensor_from_json(item: Any, index: int, *, kind: str = "inputs") -> Tensor:
    where = f"{kind}[{index}]"
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise PredictionFailed(f"{where} from the model code is not a V2 tensor", where=where,
                               fix="give each tensor a name, shape, datatype and data")
    datatype = str(item.get("datatype") or "")
    data = item.get("data")
    if datatype == "":
        array = np.asarray(data)
        datatype = datatype_of(array)
    shape = item.get("shape")
    return Tensor(item["name"], datatype, to_array(data, datatype=datatype, shape=shape, where=where))
