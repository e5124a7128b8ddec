"""With the real gateway in front: Ready means the gateway routes, and a rollout drops no request."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import IRIS_ROWS
from tests.engine.conftest import Platform, iris_spec, wait_for

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"


def test_ready_means_the_gateway_routes_and_rollouts_drop_nothing(running: Platform, gateway: str,
                                                                   iris_model: Path, model_dir: Path) -> None:
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    with httpx.Client(base_url=gateway, timeout=10) as client:
        first = client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS})
        assert first.status_code == 200 and first.json() == {"predictions": [1, 1]}

        codes: list[int] = []
        done = threading.Event()

        def hammer() -> None:
            with httpx.Client(base_url=gateway, timeout=10) as worker:
                while not done.is_set():
                    codes.append(worker.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS}).status_code)
                    done.wait(0.01)

        thread = threading.Thread(target=hammer)
        thread.start()
        try:
            moved = model_dir / "v2.joblib"
            shutil.copy(iris_model, moved)
            running.deploy(iris_spec(iris_model, storage_uri=str(moved)))
            running.wait_ready("iris", revision=R2)
            wait_for(lambda: "RevisionRetired" in [e.reason for e in running.events("iris")], what="old retired")
            by_host = client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS},
                                  headers={"Host": f"iris.default.localhost:{running.gateway_port}"})
            assert by_host.status_code == 200
        finally:
            done.set()
            thread.join()
    assert codes and set(codes) == {200}
