"""An admin unloads and loads a model through the gateway's model repository extension, on the real platform:
engine, gateway and model-server processes, the home's SQLite and git. Unloaded stays unloaded across restarts
of both and across a merge; Triton's own client works the same calls."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.identity.roles import Role
from neuroscale.services.context import PlatformContext
from neuroscale.services.identity import add_user, cli_actor
from neuroscale.status.conditions import ConditionType
from neuroscale.status.model import EndpointStatus, Health
from tests.conftest import IRIS_ROWS, running
from tests.engine.conftest import Platform, iris_spec, server_pids, wait_for

pytestmark = pytest.mark.e2e

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"
PREDICT = "/v1/models/iris:predict"


@contextmanager
def gateway(platform: Platform) -> Iterator[httpx.Client]:
    """A gateway process of the platform's home (a new one each time: a restart)."""
    port = platform.gateway_port
    argv = [sys.executable, "-m", "neuroscale.gateway", "--home", str(platform.home.root), "--port", str(port),
            "--hold-timeout", "20"]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/healthz"), \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client


def order(client: httpx.Client, action: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/v2/repository/models/iris/{action}", json={}, headers=headers)


def iris_in_index(client: httpx.Client) -> dict[str, Any]:
    response = client.post("/v2/repository/index", json={})
    assert response.status_code == 200
    return next(entry for entry in response.json() if entry["name"] == "iris")


def predictor(platform: Platform) -> tuple[str, str]:
    status = platform.status("iris")
    condition = status.condition(ConditionType.PredictorReady) if status else None
    return (status.latest_revision, condition.reason) if status and condition else ("", "")


def test_an_admin_unloads_and_loads_a_model_and_unloaded_survives_restarts_and_merges(
        platform: Platform, iris_model: Path, model_dir: Path) -> None:
    platform.start_engine()
    platform.deploy(iris_spec(iris_model))
    platform.wait_ready("iris", revision=R1)
    with PlatformContext.open(platform.home) as ctx:  # the home's admin, and an author
        admin = ctx.home.admin_token_file.read_text().strip()
        _, author = add_user(ctx, "bob", Role.author, actor=cli_actor(ctx))

    with gateway(platform) as client:
        assert client.post(PREDICT, json={"instances": IRIS_ROWS}).json() == {"predictions": [1, 1]}
        for token in (None, author):
            refused = order(client, "unload", token)
            assert refused.status_code == 401 and refused.json()["reason"] == "Unauthenticated"
        assert server_pids(platform.home, R1), "a refused order changes nothing"

        unloaded = order(client, "unload", admin)
        assert unloaded.status_code == 200, unloaded.text
        assert unloaded.json()["state"] == "UNAVAILABLE" and "unloaded by admin admin" in unloaded.json()["reason"]
        answer = client.post(PREDICT, json={"instances": IRIS_ROWS})
        assert answer.status_code == 503 and answer.json()["reason"] == "ModelUnloaded"
        assert "unloaded by admin admin" in answer.json()["error"]
        assert "POST /v2/repository/models/iris/load" in answer.json()["error"]
        assert iris_in_index(client)["state"] == "UNAVAILABLE"
        assert "unloaded by admin admin" in iris_in_index(client)["reason"]
        wait_for(lambda: not server_pids(platform.home, R1), what="the replica processes gone")
        [event] = [e for e in platform.events("iris") if e.reason == "ModelUnloaded"]
        assert event.actor == "admin"
        status: EndpointStatus | None = platform.status("iris")
        assert status is not None and status.health is Health.Missing and predictor(platform) == (R1, "ModelUnloaded")

    platform.stop_engine()
    platform.start_engine()
    moved = model_dir / "v2.joblib"
    shutil.copy(iris_model, moved)
    platform.deploy(iris_spec(iris_model, storage_uri=str(moved)))  # a merge while unloaded
    wait_for(lambda: predictor(platform) == (R2, "ModelUnloaded"), what="the new revision, still unloaded")
    assert not server_pids(platform.home), "neither the restart nor the merge started a replica"

    with gateway(platform) as client:  # a restarted gateway
        assert client.post(PREDICT, json={"instances": IRIS_ROWS}).json()["reason"] == "ModelUnloaded"
        loaded = order(client, "load", admin)
        assert loaded.status_code == 200, loaded.text
        assert loaded.json() == {"name": "iris", "version": R2, "state": "READY", "reason": ""}
        assert client.post(PREDICT, json={"instances": IRIS_ROWS}).json() == {"predictions": [1, 1]}
        assert iris_in_index(client)["state"] == "READY"
    [event] = [e for e in platform.events("iris") if e.reason == "ModelLoaded"]
    assert event.actor == "admin" and server_pids(platform.home, R2)
    assert [e.reason for e in platform.events("iris")].count("ModelUnloaded") == 1, "each order is done once"


def test_tritonclient_loads_and_unloads_through_the_gateway(platform: Platform, iris_model: Path) -> None:
    http = pytest.importorskip("tritonclient.http")
    utils = pytest.importorskip("tritonclient.utils")
    platform.start_engine()
    platform.deploy(iris_spec(iris_model))
    platform.wait_ready("iris", revision=R1)
    with PlatformContext.open(platform.home) as ctx:
        admin = {"Authorization": f"Bearer {ctx.home.admin_token_file.read_text().strip()}"}
    with gateway(platform):
        triton = http.InferenceServerClient(url=f"127.0.0.1:{platform.gateway_port}", network_timeout=30)
        assert triton.is_model_ready("iris")
        with pytest.raises(utils.InferenceServerException) as refused:
            triton.unload_model("iris")
        assert refused.value.status() == "401" and "admin" in refused.value.message()
        triton.unload_model("iris", headers=admin)
        assert not triton.is_model_ready("iris")
        assert triton.get_model_repository_index()[0]["state"] == "UNAVAILABLE"
        triton.load_model("iris", headers=admin)
        assert triton.is_model_ready("iris")
        triton.close()
