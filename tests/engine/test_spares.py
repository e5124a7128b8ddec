"""Warm spares with the real local runtime: a spare becomes the server a cold start would have been.

Real processes, no reconciler: the runtime's `keep_warm`/`start` as the loop calls them, checked
through what the engine itself looks at (/proc identity, the log, the exit diagnosis).
"""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuroscale.engine import procfs
from neuroscale.engine.limits import Enforcement
from neuroscale.engine.runtime import LocalRuntime, log_tail, server_environment, stop_all
from neuroscale.home import Home
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import to_manifest
from neuroscale.spec.serving import ServingSpec, serving_spec
from neuroscale.status.reasons import Reason
from tests.engine.conftest import wait_for

R1 = "iris-predictor-00001"
NO_CGROUP = Enforcement(memory="RSS watchdog", cpu="not enforced")


def spec_of(model: Path, *, memory_limit: str | None = None) -> ServingSpec:
    spec = serving_spec(to_manifest(EndpointSpec(name="iris", owner="team-a", cost_center="cc-1",
                                                 storage_uri=str(model))))
    return spec.model_copy(update={"resources": spec.resources.model_copy(update={"memory_limit": memory_limit})})


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    home = Home(tmp_path / "home")
    yield home
    stop_all(home)


def idle_spares(home: Home) -> list[int]:
    return [p.pid for p in procfs.serving_processes(home.root) if not p.revision]


def test_a_warm_start_is_the_revision_s_server_in_every_way_the_engine_looks(home: Home, iris_model: Path) -> None:
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,), enforcement=NO_CGROUP)
    spec = spec_of(iris_model, memory_limit="1Gi")
    try:
        runtime.keep_warm([spec], spawn=True)
        [spare] = wait_for(lambda: idle_spares(home), what="an idle spare")
        cold = runtime.start(spec, revision=R1)  # not asked to be warm (a new revision): the spare waits on
        assert not cold.warm and idle_spares(home) == [spare]
        handle = runtime.start(spec, revision=R1, replica=1, warm=True)
        assert handle.warm and handle.pid == spare and handle.popen is not None
        wait_for(lambda: runtime.ready(handle), timeout=60, what="the warm server ready")
        assert sorted((p.pid, p.revision) for p in procfs.serving_processes(home.root)) == sorted(
            [(cold.pid, R1), (spare, R1)])
        assert handle.log_path == home.server_logs_dir / f"{R1}.r1.log"
        assert log_tail(handle.log_path, handle.log_offset)[0].startswith("ModelLoaded: iris ")
        assert environment_of(spare) == server_environment("", parent=os.environ)
        assert resource.prlimit(spare, resource.RLIMIT_DATA) == (2 << 30, 2 << 30)  # the 1Gi limit's backstop
        runtime.keep_warm([spec], spawn=False)  # a server is starting: no new spare yet
        assert idle_spares(home) == []
        for started in (cold, handle):
            runtime.signal(started, signal.SIGKILL)
        info = wait_for(lambda: runtime.exited(handle), what="the exit")
        assert info.reason == Reason.KilledBySignal and "after loading its model" in info.message
        wait_for(lambda: runtime.exited(cold), what="the cold server's exit")
    finally:
        runtime.close()
    assert list(procfs.serving_processes(home.root)) == []


def environment_of(pid: int) -> dict[str, str]:
    raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)


def test_unwanted_spares_stop_and_a_dead_one_means_cold_starts_for_a_while(home: Home, iris_model: Path) -> None:
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,), enforcement=NO_CGROUP)
    spec = spec_of(iris_model)
    try:
        runtime.keep_warm([spec], spawn=True)
        wait_for(lambda: idle_spares(home), what="an idle spare")
        runtime.keep_warm([], spawn=True)
        wait_for(lambda: not idle_spares(home), what="the unwanted spare stopped")
        runtime.keep_warm([spec], spawn=True)
        [spare] = wait_for(lambda: idle_spares(home), what="a spare again")
        os.kill(spare, signal.SIGKILL)
        wait_for(lambda: not procfs.start_time(spare), what="the spare gone")
        handle = runtime.start(spec, revision=R1, warm=True)
        assert not handle.warm and handle.pid != spare
        wait_for(lambda: runtime.ready(handle), timeout=60, what="the cold server ready")
        runtime.keep_warm([spec], spawn=True)
        assert idle_spares(home) == [], "a kind whose spare died stays cold for the retry period"
    finally:
        runtime.close()


def test_no_spare_where_a_cgroup_enforces_the_memory_limit(home: Home, iris_model: Path, tmp_path: Path) -> None:
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,),
                           enforcement=Enforcement(memory="cgroup v2", cpu="cgroup v2", cgroup=cgroup))
    try:
        runtime.keep_warm([spec_of(iris_model, memory_limit="1Gi")], spawn=True)
        assert idle_spares(home) == []
        handle = runtime.start(spec_of(iris_model, memory_limit="1Gi"), revision=R1, warm=True)
        assert not handle.warm
        assert (cgroup / f"{R1}.r0" / "cgroup.procs").read_text() == str(handle.pid)
    finally:
        runtime.close()
