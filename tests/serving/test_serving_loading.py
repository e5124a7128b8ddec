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
    roots = (iris_model.parents[1],)
    for uri in (str(iris_model), f"file://{iris_model}", str(iris_model.parent), f"file://{iris_model.parent}/",
                f"file://localhost{iris_model}", f"file://{iris_model.parent}/../{iris_model.parent.name}/model.joblib"):
        assert storage.resolve(uri, model_format="sklearn", model_roots=roots) == iris_model


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
        storage.resolve(str(tmp_path), model_format=model_format, model_roots=(tmp_path,))
    assert message in info.value.message and info.value.fix and info.value.where == str(tmp_path)


def _outside_and_escapes(tmp_path: Path, iris_model: Path) -> tuple[Path, dict[str, str]]:
    """An allowed root, a real model outside it, and URIs that try to reach that model from the root."""
    root, outside = tmp_path / "models", tmp_path / "outside"
    _copy(iris_model, outside, "model.joblib")
    (root / "linked").mkdir(parents=True)
    (root / "linked" / "model.joblib").symlink_to(outside / "model.joblib")
    (root / "dir-link").symlink_to(outside, target_is_directory=True)
    return root, {
        "absolute path outside": str(outside / "model.joblib"),
        "file URI outside": f"file://{outside}/model.joblib",
        "dot-dot out of the root": f"file://{root}/../outside/model.joblib",
        "symlinked file": f"file://{root}/linked/model.joblib",
        "symlinked directory": f"file://{root}/dir-link",
        "system file": "file:///etc/passwd",
        "percent-encoded dot-dot": f"file://{root}/%2e%2e/outside/model.joblib",
    }


@pytest.mark.parametrize("case", ["absolute path outside", "file URI outside", "dot-dot out of the root",
                                  "symlinked file", "symlinked directory", "system file",
                                  "percent-encoded dot-dot"])
def test_paths_outside_the_model_roots_are_refused_like_missing_files(tmp_path: Path, iris_model: Path,
                                                                     case: str) -> None:
    root, uris = _outside_and_escapes(tmp_path, iris_model)
    with pytest.raises(ModelLoadError) as refused:
        storage.resolve(uris[case], model_format="sklearn", model_roots=(root.resolve(),))
    with pytest.raises(ModelLoadError) as missing:
        storage.resolve(f"file://{root}/absent/model.joblib", model_format="sklearn", model_roots=(root.resolve(),))
    assert (refused.value.message, refused.value.fix) == (missing.value.message, missing.value.fix)
    assert "no model file at this storage URI" in refused.value.message and str(root.resolve()) in refused.value.fix


def test_without_model_roots_no_local_path_is_served(iris_model: Path) -> None:
    with pytest.raises(ModelLoadError, match="no model file at this storage URI") as info:
        storage.resolve(str(iris_model), model_format="sklearn")
    assert "none configured" in info.value.fix


def test_a_file_uri_naming_another_host_is_refused(iris_model: Path) -> None:
    with pytest.raises(ModelLoadError, match="names host 'fileserver'"):
        storage.resolve(f"file://fileserver{iris_model}", model_format="sklearn", model_roots=(Path("/"),))


def test_missing_path_names_where_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no model file at this storage URI") as info:
        storage.resolve(f"file://{tmp_path}/absent/model.joblib", model_format="sklearn", model_roots=(tmp_path,))
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


class _RunsCodeWhenUnpickled:
    """A hostile "model": unpickling it creates the file `marker` (harmless, and observable)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def _train(estimator: Any) -> Any:
    from sklearn.datasets import load_iris

    data = load_iris()
    return estimator.fit(data.data, data.target)


def test_the_hostile_pickle_does_run_code_through_joblib(tmp_path: Path) -> None:
    """The control: joblib/pickle files are trusted code, which is why .skops exists."""
    marker = tmp_path / "ran"
    path = _write(tmp_path / "model.joblib", _RunsCodeWhenUnpickled(marker))
    with pytest.raises(ModelLoadError):
        load(path, model_format="sklearn")
    assert marker.exists()


def test_a_hostile_pickle_saved_as_skops_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _write(tmp_path / "model.skops", _RunsCodeWhenUnpickled(marker))
    with pytest.raises(ModelLoadError, match="cannot read the file as a skops model") as info:
        load(path, model_format="sklearn")
    assert not marker.exists() and "skops.io.dump" in info.value.fix


def test_a_skops_file_asking_for_a_callable_is_refused_before_loading(tmp_path: Path) -> None:
    import os

    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "model.skops"
    skops.io.dump(FunctionTransformer(func=os.system), path)
    with pytest.raises(ModelLoadError, match="types outside the trusted list") as info:
        load(path, model_format="sklearn")
    assert "system" in info.value.message


@pytest.mark.parametrize("estimator", ["LogisticRegression", "RandomForestClassifier", "KNeighborsClassifier",
                                       "HistGradientBoostingClassifier"])
def test_skops_models_load_with_the_trusted_types_and_predict_like_the_original(tmp_path: Path,
                                                                                estimator: str) -> None:
    import skops.io
    from sklearn import ensemble, linear_model, neighbors

    factory = {"LogisticRegression": lambda: linear_model.LogisticRegression(max_iter=1000),
               "RandomForestClassifier": lambda: ensemble.RandomForestClassifier(n_estimators=3, random_state=0),
               "KNeighborsClassifier": lambda: neighbors.KNeighborsClassifier(algorithm="kd_tree"),
               "HistGradientBoostingClassifier": lambda: ensemble.HistGradientBoostingClassifier(max_iter=3)}
    trained = _train(factory[estimator]())
    path = tmp_path / "model.skops"
    skops.io.dump(trained, path)
    model = load(path, model_format="sklearn")
    assert model.kind.endswith(estimator) and model.n_features == 4
    assert model.predict(np.asarray(IRIS_ROWS)).tolist() == trained.predict(np.asarray(IRIS_ROWS)).tolist()


def test_a_directory_with_a_skops_file_resolves_to_it(tmp_path: Path) -> None:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    skops.io.dump(_train(LogisticRegression(max_iter=1000)), tmp_path / "model.skops")
    assert storage.resolve(str(tmp_path), model_format="sklearn", model_roots=(tmp_path,)) == tmp_path / "model.skops"
