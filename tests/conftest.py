"""Fixtures every layer shares: free loopback ports, a trained iris model, the reference data."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Upstream CRDs, configs and charts, read from the shared folder beside the checkout.
REFERENCE = REPO_ROOT.parent / "shared" / "reference"
IRIS_ROWS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def reference() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data missing at {REFERENCE}: the checkout must sit beside shared/")
    return REFERENCE


@pytest.fixture(scope="session")
def iris_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LogisticRegression on scikit-learn's bundled iris data, saved with joblib."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    model = LogisticRegression(max_iter=1000, random_state=0).fit(data.data, data.target)
    path = tmp_path_factory.mktemp("iris") / "model.joblib"
    joblib.dump(model, path)
    return path
