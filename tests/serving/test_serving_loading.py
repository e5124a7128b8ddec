"""Storage URIs and model loaders: what loads, and the ModelLoadError (what, where, fix) for what does not."""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuroscale.errors import ModelLoadError
from neuroscale.serving import storage
from neuroscale.serving.loaders import load
from tests.conftest import IRIS_ROWS


def _copy(src: Path, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / name))


def test_local_file_file_uri_and_directory_resolve_to_the_model(iris_model: Path) -> None:
    for uri in (str(iris_model), f"file://{iris_model}", str(iris_model.parent), f"file://{iris_model.parent}/"):
        assert storage.resolve(uri, model_format="sklearn") == iris_model


@pytest.mark.parametrize(
    ("files", "model_format", "message"),
    [
        (["model.joblib", "model.pkl"], "sklearn", "several model files"),
        (["model.json", "README.md"], "sklearn", "no sklearn model file found (found ['model.json']"),
        (["notes.txt"], "xgboost", "no xgboost model file found"),
        ([], "lightgbm", "no lightgbm model file found"),
    ],
)
def test_directory_must_hold_exactly_one_model_file(tmp_path: Path, files: list[str], model_format: str,
                                                    message: str) -> None:
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ModelLoadError) as info:
        storage.resolve(str(tmp_path), model_format=model_format)
    assert message in info.value.message and info.value.fix and info.value.where == str(tmp_path)


def test_missing_path_names_where_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model file not found") as info:
        storage.resolve(f"file://{tmp_path}/absent/model.joblib", model_format="sklearn")
    assert "absent" in info.value.where and "storage URI" in info.value.fix


@pytest.mark.parametrize("uri", ["gs://bucket/model", "https://example.com/model.joblib", "pvc://claim/model"])
def test_unsupported_scheme_names_the_supported_ones(uri: str) -> None:
    with pytest.raises(ModelLoadError, match="unsupported storage scheme") as info:
        storage.resolve(uri, model_format="sklearn")
    assert "file://" in info.value.fix and "s3://" in info.value.fix and info.value.where == uri


def _write(path: Path, content: bytes | object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_bytes(pickle.dumps(content))
    return path


@pytest.mark.parametrize(
    ("name", "content", "model_format", "message"),
    [
        ("model.joblib", b"\x00not a joblib file", "sklearn", "cannot load the file as a sklearn model"),
        ("model.pkl", b"garbage", "sklearn", "cannot load the file as a sklearn model"),
        ("model.pkl", {"weights": [1, 2]}, "sklearn", "has no predict() method"),
        ("model.json", b"{}", "sklearn", ".json is a xgboost file: is --model-format right?"),
        ("model.txt", b"tree", "xgboost", ".txt is a lightgbm file: is --model-format right?"),
        ("model.onnx", b"x", "sklearn", "cannot be loaded from a .onnx file"),
        ("model.json", b'{"learner": 1', "xgboost", "cannot load the file as a xgboost model"),
        ("model.txt", b"not a lightgbm model", "lightgbm", "cannot load the file as a lightgbm model"),
    ],
)
def test_broken_or_foreign_files_fail_to_load(tmp_path: Path, name: str, content: Any, model_format: str,
                                              message: str) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(ModelLoadError) as info:
        load(path, model_format=model_format)
    assert message in info.value.message and info.value.where == str(path) and info.value.fix


@pytest.mark.parametrize(
    ("which", "declared", "message"),
    [
        ("xgboost", "sklearn", "declare --model-format xgboost"),
        ("lightgbm", "xgboost", "declare --model-format lightgbm"),
        ("sklearn", "lightgbm", "declare --model-format sklearn"),
    ],
)
def test_pickled_model_of_another_framework_is_refused(which: str, declared: str, message: str, iris_model: Path,
                                                        xgboost_model: Any, lightgbm_model: Any) -> None:
    path = {"xgboost": xgboost_model.wrapper, "lightgbm": lightgbm_model.wrapper, "sklearn": iris_model}[which]
    with pytest.raises(ModelLoadError) as info:
        load(path, model_format=declared)
    assert message in info.value.fix


@pytest.mark.parametrize(
    ("which", "attr", "datatype", "shape"),
    [
        ("xgboost", "native", "FP32", (3,)),
        ("xgboost", "wrapper", "INT64", ()),
        ("lightgbm", "native", "FP64", (3,)),
        ("lightgbm", "wrapper", "INT64", ()),
    ],
)
def test_native_and_wrapped_models_load_and_predict(which: str, attr: str, datatype: str, shape: tuple[int, ...],
                                                    xgboost_model: Any, lightgbm_model: Any) -> None:
    trained = {"xgboost": xgboost_model, "lightgbm": lightgbm_model}[which]
    model = load(getattr(trained, attr), model_format=which)
    assert (model.n_features, model.output_datatype, model.output_shape) == (4, datatype, shape)
    expected = getattr(trained, f"{attr}_predictions")
    assert np.allclose(model.predict(np.asarray(IRIS_ROWS)), expected)


def test_s3_key_and_prefix_download_into_the_cache(s3_upload: Callable[[str, dict[str, Path]], None],
                                                   iris_model: Path, tmp_path: Path) -> None:
    s3_upload("models", {"iris/v1/model.joblib": iris_model, "iris/v1/README.md": iris_model})
    by_key = storage.resolve("s3://models/iris/v1/model.joblib", model_format="sklearn", cache_dir=tmp_path)
    by_prefix = storage.resolve("s3://models/iris/v1", model_format="sklearn", cache_dir=tmp_path)
    assert by_key == by_prefix and by_key.is_relative_to(tmp_path)
    assert by_key.read_bytes() == iris_model.read_bytes()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://models/nothing-here", "no object at this key or prefix"),
        ("s3://no-such-bucket/model.joblib", "cannot fetch the model from S3"),
        ("s3:///model.joblib", "s3 URI has no bucket"),
    ],
)
def test_s3_failures_are_model_load_errors(s3_upload: Callable[[str, dict[str, Path]], None], iris_model: Path,
                                           tmp_path: Path, uri: str, message: str) -> None:
    s3_upload("models", {"iris/model.joblib": iris_model})
    with pytest.raises(ModelLoadError, match=message) as info:
        storage.resolve(uri, model_format="sklearn", cache_dir=tmp_path)
    assert info.value.where == uri and info.value.fix
