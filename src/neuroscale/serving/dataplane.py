"""The data plane: validate an `InferRequest` against the loaded model, predict, answer.

Every protocol adapter (V1, V2 REST, gRPC) calls `DataPlane.infer`; nothing here knows about
HTTP, JSON or protobuf. Without a batcher, prediction runs synchronously on the event loop: for
small CPU-bound models a thread hop costs more than the prediction itself (measured). With one,
requests are validated one by one (a bad member fails alone, before it can join a batch), then
stacked, predicted together and split back (see `neuroscale.batching`).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any

import numpy as np

from neuroscale.errors import InvalidInput, NeuroScaleError, NotReady
from neuroscale.batching import Batcher
from neuroscale.serving.model import ModelMetadata, PredictionFailed, TensorModel, TensorSpec
from neuroscale.serving.storage import describe
from neuroscale.serving.tensors import (
    DATATYPES,
    InferRequest,
    InferResponse,
    Tensor,
    datatype_of,
    instances_request,
    kinds_name,
)

Outputs = dict[str, np.ndarray[Any, Any]]
Bound = dict[str, np.ndarray[Any, Any]]


@dataclass(frozen=True)
class BatchSettings:
    max_batch_size: int = 32
    max_latency_ms: int = 500


class DataPlane:
    """One model behind every protocol; ready once loaded (models load before the port binds)."""

    def __init__(self, *, model: TensorModel, name: str, version: str | None = None,
                 batching: BatchSettings | None = None) -> None:
        self.model = model
        self.name = name
        self.version = version or None
        self.ready = True
        self._inputs = model.inputs
        self._output_names = tuple(spec.name for spec in model.outputs)
        self.batcher: Batcher[Bound, Outputs] | None = None
        if batching is not None and model.batchable:
            self.batcher = Batcher(self._run_batch, max_batch_size=batching.max_batch_size,
                                   max_latency=batching.max_latency_ms / 1000, offload=model.releases_gil)

    def metadata(self) -> ModelMetadata:
        return ModelMetadata(
            name=self.name,
            versions=[self.version] if self.version else [],
            platform=self.model.framework,
            inputs=list(self._inputs),
            outputs=list(self.model.outputs),
        )

    def describe(self) -> str:
        batching = (f", batching up to {self.batcher.max_batch_size} rows" if self.batcher is not None else "")
        return f"{self.model.kind} from {self.model.source}{batching}"

    async def predict_v1(self, doc: dict[str, Any], headers: Mapping[str, str] | None = None) -> Any:
        response = await self.infer(instances_request(doc))
        return {"predictions": response.outputs[0].data}

    async def infer(self, request: InferRequest, headers: Mapping[str, str] | None = None) -> InferResponse:
        """Validate, predict (in a batch when batching is on) and select the requested outputs."""
        if not self.ready:
            raise self._unloading()
        bound = self.bind(request)
        if self.batcher is None:
            return self.respond(request, self._run(bound))
        rows = next(iter(bound.values())).shape[0]
        return self.respond(request, await self.batcher.submit(bound, rows=rows))

    def infer_now(self, request: InferRequest) -> InferResponse:
        """`infer` without batching, for callers that cannot wait (and for tests)."""
        if not self.ready:
            raise self._unloading()
        return self.respond(request, self._run(self.bind(request)))

    async def unload(self) -> None:
        """Stop taking requests; queued batch members still get their answers."""
        self.ready = False
        if self.batcher is not None:
            await self.batcher.close()

    def _unloading(self) -> NotReady:
        return NotReady(f"model {self.name!r} is unloading", where=self.name,
                        fix="retry: the gateway sends the request to a serving replica")

    # -- validation -------------------------------------------------------------------------

    def bind(self, request: InferRequest) -> Bound:
        """Match the request's tensors to the model's inputs, converted to the types it takes."""
        specs = self._inputs
        if len(specs) == 1:
            if len(request.inputs) != 1:
                raise InvalidInput(
                    f"the model takes exactly one input tensor, got {len(request.inputs)}",
                    where="inputs",
                    fix=f"send one input (e.g. {specs[0].name!r}) with shape {_shape_text(specs[0])}",
                )
            return {specs[0].name: _conform(specs[0], request.inputs[0], batchable=self.model.batchable)}
        given = {tensor.name: tensor for tensor in request.inputs}
        expected = [spec.name for spec in specs]
        missing = [name for name in expected if name not in given]
        extra = sorted(set(given) - set(expected))
        if missing or extra or len(given) != len(request.inputs):
            problem = (f"missing {missing}" if missing else "") + (" and " if missing and extra else "") + (
                f"unknown {extra}" if extra else "") or "an input is repeated"
            raise InvalidInput(f"inputs do not match the model: {problem}", where="inputs",
                               fix=f"send exactly the inputs {expected} (see GET /v2/models/{self.name})")
        return {spec.name: _conform(spec, given[spec.name], batchable=self.model.batchable) for spec in specs}

    # -- predicting ---------------------------------------------------------------------------

    def _run(self, bound: Bound) -> Outputs:
        try:
            outputs = self.model.predict(bound)
        except NeuroScaleError:
            raise
        except (ValueError, TypeError) as exc:  # frameworks report bad input this way
            raise InvalidInput(
                f"the model rejected the input: {describe(exc)}",
                where=", ".join(bound),
                fix="send values of the kind and range the model was trained on",
            ) from None
        except Exception as exc:  # the model's own failure: logged with its traceback, answered in one line
            traceback.print_exception(exc, file=sys.stderr)
            raise PredictionFailed(f"the model failed: {describe(exc)}", where=self.name,
                                   fix="see the model server's log for the traceback") from None
        return outputs

    def _run_batch(self, members: Sequence[Bound]) -> list[Outputs | BaseException]:
        """Predict members that stack (same dtypes and row shape) together; isolate any failure."""
        results: list[Outputs | BaseException | None] = [None] * len(members)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, member in enumerate(members):
            key = tuple((name, array.dtype.str, array.shape[1:]) for name, array in member.items())
            groups.setdefault(key, []).append(index)
        for indexes in groups.values():
            for index, result in zip(indexes, self._run_group([members[i] for i in indexes]), strict=True):
                results[index] = result
        return [r if r is not None else PredictionFailed("no result") for r in results]

    def _run_group(self, members: list[Bound]) -> list[Outputs | BaseException]:
        if len(members) == 1:
            return [self._attempt(members[0])]
        sizes = [next(iter(m.values())).shape[0] for m in members]
        stacked = {name: np.concatenate([m[name] for m in members]) for name in members[0]}
        joint = self._attempt(stacked)
        if isinstance(joint, BaseException) or not all(
                np.ndim(out) and np.shape(out)[0] == sum(sizes) for out in joint.values()):
            return [self._attempt(member) for member in members]  # one bad member fails alone
        starts = [0, *accumulate(sizes)]  # each member's rows, as views (np.split is slower for small batches)
        return [{name: out[start:end] for name, out in joint.items()} for start, end in pairwise(starts)]

    def _attempt(self, bound: Bound) -> Outputs | BaseException:
        try:
            return self._run(bound)
        except NeuroScaleError as exc:
            return exc

    # -- answering ----------------------------------------------------------------------------

    def respond(self, request: InferRequest, outputs: Outputs) -> InferResponse:
        if request.outputs:
            missing = [o.name for o in request.outputs if o.name not in outputs]
            if missing:
                raise InvalidInput(f"the model has no output {missing[0]!r}", where="outputs",
                                   fix=f"ask for outputs among {list(outputs)}, or leave \"outputs\" out for all")
            names: Sequence[str] = [o.name for o in request.outputs]
        else:
            names = [name for name in self._output_names if name in outputs] or list(outputs)
        tensors = tuple(Tensor(name, datatype_of(outputs[name]), np.asarray(outputs[name])) for name in names)
        return InferResponse(model_name=self.name, model_version=self.version, outputs=tensors, id=request.id)


def _shape_text(spec: TensorSpec) -> str:
    return "[" + ", ".join("rows" if i == 0 and d < 0 else ("n" if d < 0 else str(d))
                           for i, d in enumerate(spec.shape)) + "]"


def _conform(spec: TensorSpec, tensor: Tensor, *, batchable: bool) -> np.ndarray[Any, Any]:
    """`tensor`'s data checked against `spec` (rank, fixed dimensions, kind) and cast to its datatype."""
    data, where = tensor.data, tensor.name
    if spec.datatype == "BYTES":
        if data.dtype.kind not in "OUS":
            raise InvalidInput(f"the model takes BYTES (text), got {tensor.datatype}", where=where,
                               fix="send strings with datatype BYTES")
    elif data.dtype.kind not in "biuf":
        raise InvalidInput(f"the model takes numbers ({spec.datatype}), but the data holds "
                           f"{kinds_name(data.dtype.kind)}", where=where, fix=f"send {spec.datatype} values")
    shape = list(data.shape)
    if len(shape) != len(spec.shape) or (batchable and shape[0] == 0):
        rows = "a non-empty list of rows " if batchable else "a tensor "
        raise InvalidInput(f"expected {rows}({len(spec.shape)}-D, shape {_shape_text(spec)}), got shape {shape}",
                           where=where, fix=f"send shape {_shape_text(spec)}")
    for axis, (want, got) in enumerate(zip(spec.shape, shape, strict=True)):
        if want >= 0 and want != got:
            what = (f"{want} features per row" if len(spec.shape) == 2 and axis == 1
                    else f"size {want} in dimension {axis}")
            raise InvalidInput(f"the model expects {what}, got {got}", where=where,
                               fix=f"send shape {_shape_text(spec)}")
    if spec.datatype == "BYTES":
        return data
    target = DATATYPES[spec.datatype][0]
    if data.dtype != target:
        if not np.can_cast(data.dtype, target, "same_kind"):
            raise InvalidInput(f"the model takes {spec.datatype}, got {tensor.datatype}", where=where,
                               fix=f"send {spec.datatype} values")
        data = data.astype(target)
    return data
