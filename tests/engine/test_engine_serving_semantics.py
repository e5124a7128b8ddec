"""KServe's serving semantics with real model servers, the real engine and the real gateway on loopback.

Canary splits, promotion, scale-up under load and back, scale to zero and the held request, the
per-request timeout, the concurrency limit and the memory limit. Two models tell revisions apart:
iris answers [1, 1] for IRIS_ROWS, a constant classifier answers [0, 0].
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.yamlio import dump
from tests.conftest import IRIS_ROWS
from tests.engine.conftest import Platform, iris_spec, server_pids, wait_for

R1, R2 = "iris-predictor-00001", "iris-predictor-00002"


def deploy(platform: Platform, model: Path, *, annotations: dict[str, str] | None = None, **predictor: Any) -> str:
    manifest = to_manifest(iris_spec(model))
    manifest["spec"]["predictor"].update(predictor)
    if annotations:
        manifest["metadata"]["annotations"] = annotations
    return platform.commit({manifest_path("iris"): dump(manifest).encode()}, "deploy iris")


def predict(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS})


@pytest.fixture
def client(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=30) as opened:
        yield opened


def traffic(platform: Platform) -> dict[str, int]:
    status = platform.status("iris")
    return {t.revision: t.percent for t in status.traffic if t.percent} if status else {}


def test_canary_split_promotion_and_rollback_to_the_baseline(running: Platform, client: httpx.Client,
                                                              iris_model: Path, constant_model: Path) -> None:
    deploy(running, iris_model)
    running.wait_ready("iris", revision=R1)
    deploy(running, constant_model, canaryTrafficPercent=20)
    wait_for(lambda: traffic(running) == {R2: 20, R1: 80}, timeout=60, what="20/80 split in status")
    wait_for(lambda: predict(client).json()["predictions"] == [0, 0], what="the gateway routes to the canary")
    answers = Counter(tuple(predict(client).json()["predictions"]) for _ in range(200))
    assert answers == {(1, 1): 160, (0, 0): 40}, "the split is exact over every 100 requests"
    status = running.status("iris")
    assert status is not None and status.ready and status.latest_revision == R2
    assert {(t.revision, t.latest) for t in status.traffic} == {(R2, True), (R1, False)}

    deploy(running, constant_model, canaryTrafficPercent=100)  # promote
    wait_for(lambda: traffic(running) == {R2: 100}, timeout=60, what="promotion")
    wait_for(lambda: server_pids(running.home, R1) == [], timeout=60, what="the baseline is retired")
    assert all(predict(client).json()["predictions"] == [0, 0] for _ in range(20))


def test_a_canary_that_cannot_load_gets_no_traffic(running: Platform, client: httpx.Client, iris_model: Path,
                                                   model_dir: Path) -> None:
    deploy(running, iris_model)
    running.wait_ready("iris", revision=R1)
    corrupt = model_dir / "corrupt.joblib"  # under an allowed model root: it is admitted, and fails to load
    corrupt.write_bytes(b"not a model")
    deploy(running, corrupt, canaryTrafficPercent=50)
    running.wait_reason("iris", "CrashLoopBackOff")
    assert traffic(running) == {R1: 100}
    assert all(predict(client).json()["predictions"] == [1, 1] for _ in range(20))


def test_load_scales_up_a_second_replica_and_idle_scales_back(running: Platform, client: httpx.Client,
                                                              iris_model: Path) -> None:
    deploy(running, iris_model, minReplicas=1, maxReplicas=2, containerConcurrency=1,
           annotations={"autoscaling.knative.dev/window": "2s"})
    running.wait_ready("iris", revision=R1)
    stop = threading.Event()
    codes: list[int] = []

    def hammer() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as worker:
            while not stop.is_set():
                codes.append(predict(worker).status_code)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        status = wait_for(lambda: (s := running.status("iris")) and s.replicas.get("ready") == 2 and s,
                          what="a second ready replica under load")
        assert status.replicas["max"] == 2 and len(server_pids(running.home, R1)) == 2
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert codes and set(codes) == {200}
    wait_for(lambda: len(server_pids(running.home, R1)) == 1, timeout=30, what="scale back to one when idle")


def test_scale_to_zero_then_the_held_request_is_answered(running: Platform, client: httpx.Client,
                                                         iris_model: Path) -> None:
    deploy(running, iris_model, minReplicas=0, annotations={"autoscaling.knative.dev/window": "2s"})
    running.wait_ready("iris", revision=R1)
    wait_for(lambda: server_pids(running.home, R1) == [], timeout=30, what="scaled to zero")
    status = running.status("iris")
    assert status is not None and status.ready, "a revision at zero is still ready, as in Knative"
    started = time.monotonic()
    answer = predict(client)
    took = time.monotonic() - started
    assert answer.status_code == 200 and answer.json() == {"predictions": [1, 1]}, answer.text
    assert len(server_pids(running.home, R1)) == 1
    assert "from a warm spare" in [e.message for e in running.events("iris") if e.reason == "Restarted"][-1]
    print(f"scale from zero: first answer after {took:.2f}s")


def test_the_inference_service_timeout_answers_504(running: Platform, gateway: str,
                                                           iris_model: Path) -> None:
    deploy(running, iris_model, timeout=1, containerConcurrency=1)
    running.wait_ready("iris", revision=R1)
    [pid] = server_pids(running.home, R1)
    import os

    os.kill(pid, signal.SIGSTOP)  # the replica hangs: requests wait
    try:
        with httpx.Client(base_url=gateway, timeout=30) as client:
            answer = predict(client)
        assert answer.status_code == 504 and answer.json()["reason"] == "UpstreamTimeout"
        assert "model 'iris'" in answer.json()["error"]
    finally:
        os.kill(pid, signal.SIGCONT)


def test_a_memory_limit_below_what_the_model_needs_is_oom_killed(running: Platform, iris_model: Path) -> None:
    manifest = to_manifest(iris_spec(iris_model, memory_request="16Mi", memory_limit="32Mi"))
    running.commit({manifest_path("iris"): dump(manifest).encode()}, "tiny limit")
    status = running.wait_reason("iris", "OOMKilled")
    ready = next(c for c in status.conditions if c.type.value == "Ready")
    assert "32Mi memory limit" in ready.message and "resources.limits.memory" in ready.message
    assert "RSS watchdog" in status.limits["memory"] or "cgroup" in status.limits["memory"]
    assert any(e.reason == "OOMKilled" for e in running.events("iris"))
