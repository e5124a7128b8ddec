"""With the real gateway in front: Ready means the gateway routes, and a rollout drops no request."""

from __future__ import annotations

import json
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


def test_the_annotation_on_main_turns_keys_on_and_off_without_a_new_revision(running: Platform, gateway: str,
                                                                             iris_model: Path) -> None:
    from neuroscale.identity.roles import Actor, Role
    from neuroscale.services.api_keys import create_key
    from neuroscale.services.context import PlatformContext
    from neuroscale.spec.extensions import REQUIRE_API_KEY
    from neuroscale.spec.manifest import manifest_path, to_manifest

    spec = iris_spec(iris_model)
    running.deploy(spec)
    running.wait_ready("iris", revision=R1)

    def status_without_key() -> int:
        return httpx.post(f"{gateway}/v1/models/iris:predict", json={"instances": IRIS_ROWS}, timeout=10).status_code

    assert status_without_key() == 200
    keyed = to_manifest(spec)
    keyed["metadata"]["annotations"] = {REQUIRE_API_KEY: "true"}
    running.commit({manifest_path("iris"): json.dumps(keyed).encode()}, "iris requires API keys")
    wait_for(lambda: status_without_key() == 401, what="the gateway asks for a key")
    with PlatformContext.open(running.home) as ctx:
        key = create_key(ctx, "iris", actor=Actor("ann", Role.author), description="e2e").secret
    with_key = httpx.post(f"{gateway}/v1/models/iris:predict", json={"instances": IRIS_ROWS}, timeout=10,
                          headers={"Authorization": f"Bearer {key}"})
    assert with_key.status_code == 200 and with_key.json() == {"predictions": [1, 1]}
    status = running.status("iris")
    assert status is not None and status.revision == R1
    assert [e.reason for e in running.events("iris")].count("RevisionCreated") == 1, "the same model server serves"

    running.deploy(spec)  # the annotation removed again: open, as a reviewed change would make it
    wait_for(lambda: status_without_key() == 200, what="the endpoint is open again")
