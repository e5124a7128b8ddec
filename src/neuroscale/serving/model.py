"""What the data plane asks of a loaded model: named tensors in, named tensors out.

Every built-in format (scikit-learn, XGBoost, LightGBM, ONNX, sentence embeddings) is adapted
to `TensorModel`, so validation, batching, output selection and both wire protocols are written
once. `batchable` says the model treats rows (axis 0) independently, so concurrent requests can
be stacked into one call and split back (the adaptive batcher relies on it); `releases_gil`
says batches may predict on a worker thread while the event loop goes on parsing requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from neuroscale.errors import NeuroScaleError
from neuroscale.serving.tensors import InferRequest, InferResponse

Arrays = Mapping[str, np.ndarray[Any, Any]]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output as V2 metadata reports it; -1 in `shape` means any size."""

    name: str
    datatype: str
    shape: list[int]


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]


class TensorModel(Protocol):
    """A loaded model as the data plane drives it."""

    @property
    def framework(self) -> str: ...  # the V2 metadata "platform", e.g. "sklearn", "onnx"

    @property
    def kind(self) -> str: ...  # what was loaded, for the startup line, e.g. "onnxruntime.InferenceSession"

    @property
    def source(self) -> str: ...  # where it was loaded from

    @property
    def inputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def outputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def batchable(self) -> bool: ...

    @property
    def releases_gil(self) -> bool: ...  # its runtime computes without the GIL (onnxruntime, torch)

    def predict(self, inputs: Arrays) -> dict[str, np.ndarray[Any, Any]]:
        """Predict on validated inputs (keyed by input name); answer every output by name."""
        ...


@dataclass(frozen=True)
class FunctionModel:
    """A `TensorModel` made of a predict function and its declared tensors (what every loader returns)."""

    framework: str
    kind: str
    source: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    run: Callable[[Arrays], dict[str, np.ndarray[Any, Any]]]
    batchable: bool = True
    releases_gil: bool = False

    def predict(self, inputs: Arrays) -> dict[str, np.ndarray[Any, Any]]:
        return self.run(inputs)


class PredictionFailed(NeuroScaleError):
    """The model's own code raised while predicting (not a problem with the request's shape or types)."""

    reason = "PredictionFailed"
    http_status = 500
    exit_code = 1


class Plane(Protocol):
    """One served model behind every protocol adapter (the tensor `DataPlane`, or a custom model)."""

    name: str
    version: str | None

    @property
    def ready(self) -> bool: ...

    def metadata(self) -> ModelMetadata: ...

    def describe(self) -> str: ...  # one line for the startup log: what was loaded, from where

    async def infer(self, request: InferRequest, headers: Mapping[str, str]) -> InferResponse:
        """Open Inference Protocol: tensors in, tensors out."""
        ...

    async def predict_v1(self, doc: dict[str, Any], headers: Mapping[str, str]) -> Any:
        """KServe V1: the JSON body in, the JSON answer out."""
        ...

    async def unload(self) -> None: ...
