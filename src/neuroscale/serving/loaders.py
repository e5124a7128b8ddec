"""Load a model file with the framework its endpoint declares, importing only that framework.

Per format, the file suffix picks the loader: scikit-learn `.skops` (safe: see `skops_format`),
`.joblib`, `.pkl` or `.pickle` (joblib, which also reads plain pickles); XGBoost native
`.json`/`.ubj`/`.bst` (Booster) or a pickled sklearn wrapper; LightGBM native `.txt`/`.bst`
(Booster) or a pickled sklearn wrapper. After loading, one test prediction on zeros proves the
model works and tells the output datatype, before the port is bound.
Joblib and pickle files run code when loaded: they are trusted, so serve them only from storage
you trust (the native and skops formats are the safe ones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from neuroscale.errors import ModelLoadError
from neuroscale.serving import skops_format
from neuroscale.serving.linear_fast import fast_predict
from neuroscale.serving.storage import describe
from neuroscale.serving.tensors import datatype_of

Predict = Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]
_PICKLED = (".joblib", ".pkl", ".pickle")
_NATIVE = {"sklearn": (skops_format.SUFFIX,), "xgboost": (".json", ".ubj", ".bst"), "lightgbm": (".txt", ".bst")}


@dataclass(frozen=True)
class LoadedModel:
    """A ready-to-call model plus what the V2 metadata reports about it."""

    predict: Predict
    framework: str
    kind: str
    path: Path
    n_features: int | None
    output_datatype: str | None = None
    output_shape: tuple[int, ...] = ()


def load(path: Path, *, model_format: str) -> LoadedModel:
    """Load `path` as `model_format`; every failure is a `ModelLoadError` with a fix."""
    suffix = path.suffix.lower()
    if suffix in _PICKLED:
        model = _checked_estimator(_unpickle(path, model_format=model_format), path=path, model_format=model_format)
    elif suffix == skops_format.SUFFIX and model_format == "sklearn":
        model = _checked_estimator(skops_format.load_skops(path), path=path, model_format=model_format)
    elif suffix in _NATIVE[model_format]:
        model = _load_native(path, model_format=model_format)
    else:
        guess = [fmt for fmt, suffixes in _NATIVE.items() if suffix in suffixes]
        hint = f" ({suffix} is a {' or '.join(guess)} file: is --model-format right?)" if guess else ""
        allowed = ", ".join(_PICKLED + _NATIVE[model_format])
        raise ModelLoadError(
            f"a {model_format} model cannot be loaded from a {suffix or 'suffix-less'} file{hint}",
            where=str(path),
            fix=f"save the model as one of {allowed}, or declare the format it was saved with",
        )
    return _probed(model, path=path)


def _fail(path: Path, model_format: str, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(
        f"cannot load the file as a {model_format} model: {describe(exc)}",
        where=str(path),
        fix=f"the file is corrupted or not a {model_format} model: re-export it with {model_format} "
        "and check --model-format",
    )


def _unpickle(path: Path, *, model_format: str) -> Any:
    try:
        import joblib

        # joblib reads both its own files and plain pickles, whatever the suffix says
        return joblib.load(path)
    except Exception as exc:  # any unpickling failure means a broken or foreign file
        raise _fail(path, model_format, exc) from None


def _checked_estimator(obj: Any, *, path: Path, model_format: str) -> LoadedModel:
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    framework = kind.split(".", 1)[0]
    if not callable(getattr(obj, "predict", None)):
        raise ModelLoadError(
            f"the file holds a {kind}, which has no predict() method",
            where=str(path),
            fix="save the fitted estimator itself (joblib.dump(model, 'model.joblib'))",
        )
    # a pickled XGBoost/LightGBM wrapper is served by its own runtime, as in KServe
    declared = framework if framework in ("xgboost", "lightgbm") else "sklearn"
    if declared != model_format:
        raise ModelLoadError(
            f"the file holds a {kind}, not a {model_format} model",
            where=str(path),
            fix=f"declare --model-format {declared} or save a {model_format} model",
        )
    return LoadedModel(
        predict=fast_predict(obj) or obj.predict,
        framework=model_format,
        kind=kind,
        path=path,
        n_features=getattr(obj, "n_features_in_", None),
    )


def _load_native(path: Path, *, model_format: str) -> LoadedModel:
    try:
        if model_format == "xgboost":
            import xgboost

            booster = xgboost.Booster(model_file=str(path))
            return LoadedModel(
                predict=booster.inplace_predict,
                framework=model_format,
                kind="xgboost.Booster",
                path=path,
                n_features=booster.num_features() or None,
            )
        import lightgbm

        lgb_booster = lightgbm.Booster(model_file=str(path))
        return LoadedModel(
            predict=lgb_booster.predict,  # type: ignore[arg-type]  # accepts more than arrays
            framework=model_format,
            kind="lightgbm.Booster",
            path=path,
            n_features=lgb_booster.num_feature() or None,
        )
    except Exception as exc:  # the frameworks raise their own error types for bad files
        raise _fail(path, model_format, exc) from None


def _probed(model: LoadedModel, *, path: Path) -> LoadedModel:
    """Run one prediction on zeros: catches unusable models early and warms the first call."""
    if model.n_features is None:
        return model
    try:
        out = np.asarray(model.predict(np.zeros((1, model.n_features))))
    except Exception as exc:  # a model that cannot predict must not report ready
        raise ModelLoadError(
            f"the loaded {model.kind} failed a test prediction: {describe(exc)}",
            where=str(path),
            fix="check the model predicts on numeric rows of its feature count",
        ) from None
    return replace(model, output_datatype=datatype_of(out), output_shape=out.shape[1:])
