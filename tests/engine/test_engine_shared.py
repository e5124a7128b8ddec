"""`--shared-runtime`: the real engine loads endpoints into shared processes; the real gateway serves them.

Two models per shared process here, so three endpoints need two processes. Scale to zero unloads a model
(its process stays), a request held at the gateway loads it again; a SIGKILLed shared process takes its
models, and the engine serves them again from a new one.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from neuroscale.db import connect
from neuroscale.doctor.embedded_engine import engine_facts
from neuroscale.engine.procfs import cmdline, serving_processes
from neuroscale.home import Home
from neuroscale.metrics.scrape import Scraper
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.yamlio import dump
from tests.conftest import IRIS_ROWS
from tests.engine.conftest import Platform, iris_spec, routes, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def running(platform: Platform) -> Platform:
    platform.start_engine("--shared-runtime", "--models-per-process", "2")
    return platform


@pytest.fixture
def client(gateway: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway, timeout=30) as opened:
        yield opened


def deploy(platform: Platform, name: str, model: Path, *, annotations: dict[str, str] | None = None,
           **predictor: Any) -> None:
    manifest = to_manifest(iris_spec(model, name=name))
    manifest["spec"]["predictor"].update(predictor)
    if annotations:
        manifest["metadata"]["annotations"] = annotations
    platform.commit({manifest_path(name): dump(manifest).encode()}, f"deploy {name}")


def predict(client: httpx.Client, name: str) -> Any:
    answer = client.post(f"/v1/models/{name}:predict", json={"instances": IRIS_ROWS})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def answered(client: httpx.Client, name: str) -> bool:
    """Does `name` answer now? (Between a kill and the next route table the gateway may still try the old port.)"""
    return client.post(f"/v1/models/{name}:predict", json={"instances": IRIS_ROWS}).status_code == 200


def shared_pids(platform: Platform) -> list[int]:
    return sorted(p.pid for p in serving_processes(platform.home.root) if "--shared" in cmdline(p.pid))


def refused(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/v2/health/live")
    except httpx.ConnectError:
        return True
    except httpx.RemoteProtocolError:  # accepted just before the socket closed: unloading, not yet gone
        return False
    return False


def upstream_port(platform: Platform, name: str) -> int | None:
    entry = routes(platform.home)["endpoints"].get(name) or {}
    upstream = entry.get("upstream") if entry.get("ready") else None
    return int(upstream.rpartition(":")[2]) if upstream else None


def test_endpoints_share_processes_and_answer_through_the_gateway(running: Platform, client: httpx.Client,
                                                                  iris_model: Path, constant_model: Path) -> None:
    for name, model in (("iris", iris_model), ("constant", constant_model), ("iris-b", iris_model)):
        deploy(running, name, model)
    for name in ("iris", "constant", "iris-b"):
        running.wait_ready(name)
    assert predict(client, "iris") == [1, 1] and predict(client, "constant") == [0, 0]
    assert predict(client, "iris-b") == [1, 1]
    assert len(shared_pids(running)) == 2, "two models per process: three endpoints need two"
    started = [e.message for name in ("iris", "constant", "iris-b") for e in running.events(name)
               if e.reason == "RevisionStarting"]
    assert len(started) == 3 and all(" in a shared process " in message for message in started)
    assert not [p for p in serving_processes(running.home.root) if "--spare" in cmdline(p.pid)], \
        "a kind served by shared processes keeps no warm spare"


def test_scale_to_zero_unloads_and_a_request_loads_again(running: Platform, client: httpx.Client,
                                                         iris_model: Path) -> None:
    deploy(running, "iris", iris_model, minReplicas=0, annotations={"autoscaling.knative.dev/window": "2s"})
    running.wait_ready("iris")
    port = wait_for(lambda: upstream_port(running, "iris"), what="a route to iris")
    [process] = shared_pids(running)
    wait_for(lambda: upstream_port(running, "iris") is None, timeout=30, what="scaled to zero")
    wait_for(lambda: refused(port), timeout=30, what="the model unloaded from its port")
    assert shared_pids(running) == [process], "unloading a model leaves its process"
    assert predict(client, "iris") == [1, 1]
    restarted = [e.message for e in running.events("iris") if e.reason == "Restarted"]
    assert restarted and " in a shared process " in restarted[-1]
    assert shared_pids(running) == [process], "loaded again into the same process"


def test_a_killed_shared_process_takes_its_models_and_they_come_back(running: Platform, client: httpx.Client,
                                                                     iris_model: Path, constant_model: Path) -> None:
    deploy(running, "iris", iris_model)
    deploy(running, "constant", constant_model)
    running.wait_ready("iris")
    running.wait_ready("constant")
    [process] = shared_pids(running)
    os.kill(process, signal.SIGKILL)
    for name in ("iris", "constant"):
        wait_for(lambda: any(e.reason == "ProcessExited" and "SIGKILL" in e.message  # noqa: B023
                             for e in running.events(name)), what=f"{name} read as killed")
        wait_for(lambda: answered(client, name), timeout=60, what=f"{name} served again")  # noqa: B023
    assert predict(client, "iris") == [1, 1] and predict(client, "constant") == [0, 0]
    assert process not in shared_pids(running)


def test_a_shared_process_is_billed_once_its_memory_split_and_its_cpu_by_requests(
        running: Platform, client: httpx.Client, iris_model: Path) -> None:
    """The metrics scraper reads one process per two models: each model gets half its memory, and the CPU of
    requests to one model is that model's, not billed to both or to whichever row came first."""
    deploy(running, "iris", iris_model)
    deploy(running, "iris-b", iris_model)
    running.wait_ready("iris")
    running.wait_ready("iris-b")
    [pid] = shared_pids(running)
    servers = {s["endpoint"]: s for s in engine_facts(running.home, running.store(), now=time.time())["servers"]}
    assert servers.keys() == {"iris", "iris-b"}, "doctor lists every model of the shared process"
    assert all(s["pid"] == pid and s["alive"] and s["live"] and s["loaded"] for s in servers.values()), servers
    process = psutil.Process(pid)
    scraper = Scraper(connect(running.home.state_db), f"http://127.0.0.1:{running.gateway_port}/metrics")
    scraper.scrape_once()
    cpu_before, started = sum(process.cpu_times()[:2]), time.time()
    body = {"instances": IRIS_ROWS * 500}
    for _ in range(500):
        assert client.post("/v1/models/iris:predict", json=body).status_code == 200
    usage = scraper.scrape_once()
    cpu_used, elapsed, rss = sum(process.cpu_times()[:2]) - cpu_before, time.time() - started, process.memory_info().rss
    assert cpu_used > 0.2, "the requests did not keep the shared process busy"
    iris, other = usage["iris"], usage["iris-b"]
    assert iris.requests == 500 and other.requests == 0
    assert iris.cpu_seconds == pytest.approx(cpu_used, rel=0.1, abs=0.03) and other.cpu_seconds == 0
    for used in (iris, other):
        assert used.memory_max == pytest.approx(rss / 2, rel=0.1)
    assert iris.memory_byte_seconds + other.memory_byte_seconds == pytest.approx(rss * elapsed, rel=0.2)


def test_the_engine_shares_exactly_the_formats_a_shared_process_takes() -> None:
    from neuroscale.engine import shared as engine_side
    from neuroscale.serving import shared as serving_side

    assert engine_side.SHAREABLE_FORMATS == serving_side.SHAREABLE_FORMATS


@pytest.mark.parametrize("wanted", [True, False])
def test_up_s_shared_runtime_setting_reaches_the_reconciler(tmp_path: Path, wanted: bool) -> None:
    from neuroscale.engine.__main__ import parse_args
    from neuroscale.supervisor.platform import components
    from neuroscale.supervisor.settings import PlatformSettings

    settings = PlatformSettings(shared_runtime=wanted, models_per_process=7)
    [reconciler] = [c for c in components(Home(tmp_path), settings) if c.name == "reconciler"]
    parsed = parse_args(list(reconciler.argv[3:]))
    assert parsed.shared_runtime is wanted and parsed.models_per_process == (7 if wanted else 100)


def test_a_hung_shared_process_is_killed_once_and_its_models_come_back(running: Platform, client: httpx.Client,
                                                                       iris_model: Path) -> None:
    deploy(running, "iris", iris_model)
    running.wait_ready("iris")
    [process] = shared_pids(running)
    os.kill(process, signal.SIGSTOP)  # liveness fails; the unload order gets no answer: one bounded wait, then a kill
    wait_for(lambda: process not in shared_pids(running), timeout=60, what="the hung process killed")
    wait_for(lambda: answered(client, "iris"), timeout=60, what="iris served again")
    assert len(shared_pids(running)) == 1, "from a new shared process"
    assert f"shared process sklearn-1 (pid {process}) did not answer an unload" in \
        (running.home.root / "engine.log").read_text()


def test_the_runtime_s_handles_of_shared_models(tmp_path: Path, iris_model: Path, model_dir: Path) -> None:
    """`LocalRuntime` in shared mode as the reconciler drives it: start, ready, memory, exit diagnosis, stop."""
    from neuroscale.engine.limits import rss_bytes
    from neuroscale.engine.runtime import LocalRuntime, probe, stop_all
    from neuroscale.status.reasons import Reason
    from tests.engine.test_spares import NO_CGROUP, spec_of

    home = Home(tmp_path / "home")
    runtime = LocalRuntime(home, model_roots=(iris_model.parent, model_dir), enforcement=NO_CGROUP,
                           shared_capacity=10)
    broken = model_dir / "model.joblib"
    broken.write_bytes(b"not a model")
    try:
        spec = spec_of(iris_model)
        wait_for(lambda: not runtime.warming(spec), timeout=60, what="the shared process imported")
        first, second = (runtime.start(spec, revision=f"iris-predictor-0000{n}") for n in (1, 2))
        assert first.host is second.host is not None and first.pid == second.pid and first.port != second.port
        for handle in (first, second):
            wait_for(lambda: runtime.ready(handle), timeout=30, what="a shared model ready")  # noqa: B023
        used, whole = runtime.memory(first), rss_bytes(first.pid)
        assert used is not None and whole is not None and used <= whole // 2 + (8 << 20), "a share, not the whole"
        failed = runtime.start(spec_of(broken), revision="iris-predictor-00003")
        info = wait_for(lambda: runtime.exited(failed), timeout=30, what="the failed load read")
        assert info.reason == Reason.ModelLoadFailed
        runtime.signal(first, signal.SIGTERM)
        assert wait_for(lambda: runtime.exited(first), timeout=30, what="unloaded").reason == Reason.ProcessExited
        assert runtime.exited(second) is None, "the others serve on"
        assert probe(second.upstream, "/v2/health/live", timeout=10)  # the engine's 0.5 s bound is for a hang
    finally:
        runtime.close()
        stop_all(home)


def test_a_restarted_reconciler_loads_shared_models_again(running: Platform, client: httpx.Client,
                                                          iris_model: Path) -> None:
    deploy(running, "iris", iris_model)
    running.wait_ready("iris")
    [before] = shared_pids(running)
    running.stop_engine()  # its shared processes read EOF: they unload their models and exit
    wait_for(lambda: shared_pids(running) == [], timeout=30, what="the old shared process gone")
    running.start_engine("--shared-runtime")
    wait_for(lambda: answered(client, "iris"), timeout=60, what="iris served again")
    assert shared_pids(running) != [before]
