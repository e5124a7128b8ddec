"""Models of every supported framework, trained here (small and fast), and a local S3 server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import IRIS_ROWS, free_port


@dataclass(frozen=True)
class TrainedModel:
    """A model saved natively and as a pickled sklearn wrapper, with what each must answer for IRIS_ROWS."""

    native: Path
    wrapper: Path
    native_predictions: Any
    wrapper_predictions: Any


def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    data = load_iris()
    return data.data, data.target


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def xgboost_model(models_root: Path) -> TrainedModel:
    import joblib
    import xgboost

    x, y = _iris()
    model = xgboost.XGBClassifier(n_estimators=8, max_depth=2, n_jobs=1).fit(x, y)
    native = _folder(models_root / "xgb-native") / "model.json"
    model.get_booster().save_model(str(native))
    wrapper = _folder(models_root / "xgb-wrapper") / "model.joblib"
    joblib.dump(model, wrapper)
    rows = np.asarray(IRIS_ROWS)
    native_predictions = model.get_booster().inplace_predict(rows).tolist()
    return TrainedModel(native, wrapper, native_predictions, model.predict(rows).tolist())


@pytest.fixture(scope="session")
def lightgbm_model(models_root: Path) -> TrainedModel:
    import lightgbm

    x, y = _iris()
    model = lightgbm.LGBMClassifier(n_estimators=8, num_leaves=4, n_jobs=1, verbose=-1).fit(x, y)
    native = _folder(models_root / "lgb-native") / "model.txt"
    model.booster_.save_model(str(native))
    wrapper = _folder(models_root / "lgb-wrapper") / "model.pkl"
    wrapper.write_bytes(pickle.dumps(model))  # a plain pickle, as many users save models
    rows = np.asarray(IRIS_ROWS)
    return TrainedModel(native, wrapper, model.booster_.predict(rows).tolist(), model.predict(rows).tolist())


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API on loopback (moto's server mode), with dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture()
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point boto3 (in this process and in children given this env) at the local S3 server."""
    env = {**S3_ENV, "AWS_ENDPOINT_URL": s3_endpoint}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture()
def s3_upload(s3_env: dict[str, str]) -> Callable[[str, dict[str, Path]], None]:
    """Upload files (key -> local path) into a bucket of the local S3 server, creating the bucket."""
    import boto3

    client = boto3.client("s3")

    def upload(bucket: str, files: dict[str, Path]) -> None:
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)
        for key, path in files.items():
            client.upload_file(str(path), bucket, key)

    return upload
