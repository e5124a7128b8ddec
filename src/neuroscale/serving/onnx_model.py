"""ONNX models served by onnxruntime: the graph's own named inputs and outputs, batched on axis 0.

Metadata comes from the session (`tensor(float)` -> FP32, symbolic or missing dimensions -> -1).
Outputs that are not tensors (the sequence-of-maps a ZipMap node produces) cannot travel in the
Open Inference Protocol, so such a model is refused at load with the export option that fixes it.
Intra-op threads do not spin while idle: on a small machine a spinning pool steals the CPU the
HTTP side needs, and small graphs gain nothing from it (measured on iris).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuroscale.errors import ModelLoadError
from neuroscale.serving.model import Arrays, FunctionModel, TensorModel, TensorSpec
from neuroscale.serving.storage import describe

#: onnxruntime's element type names -> Open Inference Protocol datatypes
ONNX_TYPES = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16", "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64", "tensor(int8)": "INT8", "tensor(int16)": "INT16", "tensor(int32)": "INT32",
    "tensor(int64)": "INT64", "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def _spec(arg: Any, *, where: str) -> TensorSpec:
    datatype = ONNX_TYPES.get(arg.type)
    if datatype is None:
        raise ModelLoadError(
            f"{arg.name} is a {arg.type}, which the Open Inference Protocol cannot carry", where=where,
            fix="export tensors only (for scikit-learn classifiers: skl2onnx options={'zipmap': False})")
    shape = [dim if isinstance(dim, int) and dim >= 0 else -1 for dim in (arg.shape or [])]
    return TensorSpec(arg.name, datatype, shape)


def session(path: Path, *, threads: int = 0) -> Any:
    """An onnxruntime session for `path` (CPU); `ModelLoadError` when the file is not a usable graph."""
    try:
        import onnxruntime
    except ImportError:
        raise ModelLoadError("onnxruntime is not installed", where=str(path),
                             fix="pip install 'neuroscale[onnx]'") from None
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types for bad files
        raise ModelLoadError(f"cannot load the file as an ONNX model: {describe(exc)}", where=str(path),
                             fix="export the model to ONNX again (torch.onnx.export, skl2onnx, tf2onnx)") from None


def load(path: Path) -> TensorModel:
    runner = session(path)
    inputs = tuple(_spec(arg, where=str(path)) for arg in runner.get_inputs())
    outputs = tuple(_spec(arg, where=str(path)) for arg in runner.get_outputs())
    names = [spec.name for spec in outputs]
    text_inputs = {spec.name for spec in inputs if spec.datatype == "BYTES"}

    def run(feed: Arrays) -> dict[str, np.ndarray[Any, Any]]:
        given = {name: (_as_text(array) if name in text_inputs else array) for name, array in feed.items()}
        return dict(zip(names, runner.run(names, given), strict=True))

    batchable = all(spec.shape and spec.shape[0] == -1 for spec in inputs)
    return FunctionModel(framework="onnx", kind="onnxruntime.InferenceSession", source=str(path),
                         inputs=inputs, outputs=outputs, run=run, batchable=batchable, releases_gil=True)


def _as_text(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """BYTES elements (bytes or str) as the str objects onnxruntime takes for tensor(string)."""
    flat = [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in array.ravel()]
    text = np.empty(len(flat), dtype=object)
    text[:] = flat
    return text.reshape(array.shape)
