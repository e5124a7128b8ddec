"""The data plane: validate an `InferRequest` against the loaded model, predict, answer.

Both protocol adapters call `DataPlane.infer`; nothing here knows about HTTP or JSON. Prediction
runs synchronously on the event loop: for small CPU-bound models a thread hop costs more than the
prediction itself (measured), and one process serves one model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroscale.errors import InvalidInput
from neuroscale.serving.loaders import LoadedModel
from neuroscale.serving.storage import describe
from neuroscale.serving.tensors import InferRequest, InferResponse, Tensor, datatype_of

INPUT_NAME = "input-0"
OUTPUT_NAME = "output-0"


@dataclass(frozen=True)
class TensorSpec:
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


class DataPlane:
    """One model behind both protocols; ready as soon as it exists (models load before the port binds)."""

    def __init__(self, *, model: LoadedModel, name: str, version: str | None = None) -> None:
        self.model = model
        self.name = name
        self.version = version or None
        self._predict = model.predict
        self._n_features = model.n_features

    def metadata(self) -> ModelMetadata:
        width = self._n_features if self._n_features is not None else -1
        outputs = []
        if self.model.output_datatype is not None:
            outputs.append(TensorSpec(OUTPUT_NAME, self.model.output_datatype, [-1, *self.model.output_shape]))
        return ModelMetadata(
            name=self.name,
            versions=[self.version] if self.version else [],
            platform=self.model.framework,
            inputs=[TensorSpec(INPUT_NAME, "FP64", [-1, width])],
            outputs=outputs,
        )

    def infer(self, request: InferRequest) -> InferResponse:
        """Predict on the single input tensor (rows x features)."""
        if len(request.inputs) != 1:
            raise InvalidInput(
                f"the model takes exactly one input tensor, got {len(request.inputs)}",
                where="inputs",
                fix=f"send one input (e.g. {INPUT_NAME!r}) with shape [rows, features]",
            )
        tensor = request.inputs[0]
        rows = tensor.data
        self._check(rows, where=tensor.name)
        try:
            predictions = np.asarray(self._predict(rows))
        except (ValueError, TypeError) as exc:  # frameworks report bad input this way
            raise InvalidInput(
                f"the model rejected the input: {describe(exc)}",
                where=tensor.name,
                fix="send numeric rows the model was trained on",
            ) from None
        output = Tensor(OUTPUT_NAME, datatype_of(predictions), predictions)
        return InferResponse(model_name=self.name, model_version=self.version, outputs=(output,), id=request.id)

    def _check(self, rows: np.ndarray[Any, Any], *, where: str) -> None:
        width = self._n_features
        if rows.ndim != 2 or rows.shape[0] == 0:
            raise InvalidInput(
                f"expected a non-empty list of rows (2-D), got shape {list(rows.shape)}",
                where=where,
                fix=f"send shape [rows, {width or 'features'}], e.g. [[...], [...]]",
            )
        if width is not None and rows.shape[1] != width:
            raise InvalidInput(
                f"the model expects {width} features per row, got {rows.shape[1]}",
                where=where,
                fix=f"send rows of exactly {width} values",
            )
        if rows.dtype.kind not in "biuf":
            raise InvalidInput(
                f"the model takes numbers, got {rows.dtype.kind!r} data",
                where=where,
                fix="send FP32/FP64/INT data",
            )
