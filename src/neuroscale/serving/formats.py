"""From the server's settings to the `Plane` it serves: the one place each model format is chosen.

| `--model-format` | loaded by | served as |
| --- | --- | --- |
| sklearn, xgboost, lightgbm | `loaders` (one model file) | one input `input-0` [rows, features] FP64, one output |
| onnx | `onnx_model` (onnxruntime) | the graph's own named inputs and outputs |
| huggingface | `embeddings` (sentence embeddings) | `text` BYTES in, `embedding` FP32 out, plus `/openai/v1/embeddings` |
| custom | `custom` (`--model-class package.module:Class`, KServe's `Model` contract) | whatever the class answers |

`--transformer-class` chains a transformer in front of any of them. Each framework is imported
only when its format is served, so a scikit-learn server never pays for onnxruntime or torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neuroscale.errors import ModelLoadError
from neuroscale.serving import loaders, storage
from neuroscale.serving.app import Handler
from neuroscale.serving.custom import CustomPlane, TransformerChain, UserModel, import_class
from neuroscale.serving.dataplane import BatchSettings, DataPlane
from neuroscale.serving.model import Arrays, FunctionModel, Plane, TensorModel, TensorSpec
from neuroscale.serving.settings import ServingSettings

#: What every model of a format imports, whatever the model: a warm spare (`serving.spare`) imports these
#: ahead of demand, and nothing more, so it never holds memory a cold start of the same model would not.
FRAMEWORK_MODULES: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn.base",),  # every estimator derives from it; it brings numpy, SciPy and joblib
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "onnx": ("onnxruntime",),
}
INPUT_NAME = "input-0"
OUTPUT_NAME = "output-0"
ExtraRoutes = dict[tuple[str, str], Handler]


def tabular(loaded: loaders.LoadedModel) -> TensorModel:
    """A scikit-learn / XGBoost / LightGBM model as one FP64 [rows, features] input and one output."""
    width = loaded.n_features if loaded.n_features is not None else -1
    predict = loaded.predict

    def run(inputs: Arrays) -> dict[str, np.ndarray[Any, Any]]:
        return {OUTPUT_NAME: np.asarray(predict(inputs[INPUT_NAME]))}

    output = TensorSpec(OUTPUT_NAME, loaded.output_datatype or "FP64", [-1, *loaded.output_shape])
    return FunctionModel(framework=loaded.framework, kind=loaded.kind, source=str(loaded.path),
                         inputs=(TensorSpec(INPUT_NAME, "FP64", [-1, width]),), outputs=(output,), run=run)


def load_plane(settings: ServingSettings) -> tuple[Plane, ExtraRoutes]:
    """Load the model (and transformer) `settings` name; every failure is a `ModelLoadError`."""
    plane: Plane
    extra: ExtraRoutes = {}
    fmt = settings.model_format
    if fmt == "custom":
        if not settings.model_class:
            raise ModelLoadError("the custom format needs --model-class", where="--model-class",
                                 fix="pass --model-class package.module:Class")
        user = UserModel(import_class(settings.model_class, role="predictor"), name=settings.model_name,
                         role="predictor")
        plane = CustomPlane(user, name=settings.model_name, version=settings.revision)
    else:
        model = _tensor_model(settings)
        batching = (BatchSettings(settings.max_batch_size, settings.max_latency_ms)
                    if settings.max_batch_size else None)
        data_plane = DataPlane(model=model, name=settings.model_name, version=settings.revision, batching=batching)
        if fmt == "huggingface":
            from neuroscale.serving import openai

            extra = openai.routes(data_plane)
        plane = data_plane
    if settings.transformer_class:
        transformer = UserModel(import_class(settings.transformer_class, role="transformer"),
                                name=settings.model_name, role="transformer")
        plane = TransformerChain(transformer, plane)
    return plane, extra


def _tensor_model(settings: ServingSettings) -> TensorModel:
    fmt = settings.model_format
    if not settings.storage_uri:
        raise ModelLoadError(f"the {fmt} format needs --storage-uri", where="--storage-uri",
                             fix="pass where the model lives (a local path, file://PATH or s3://BUCKET/KEY)")
    if fmt == "huggingface":
        from neuroscale.serving import embeddings

        folder = storage.resolve_folder(settings.storage_uri, cache_dir=settings.cache_dir,
                                        model_roots=settings.model_roots)
        return embeddings.load(folder, backend=settings.backend)
    path = storage.resolve(settings.storage_uri, model_format=fmt, cache_dir=settings.cache_dir,
                           model_roots=settings.model_roots)
    if fmt == "onnx":
        from neuroscale.serving import onnx_model

        return onnx_model.load(path)
    return tabular(loaders.load(path, model_format=fmt))
