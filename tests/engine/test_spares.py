"""Warm spares with the real local runtime: a server a spare forks is the server a cold start would have been.

Real processes, no reconciler: the runtime's `keep_warm`/`start` as the loop calls them, checked
through what the engine itself looks at (/proc identity, the log, the exit diagnosis).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from neuroscale.engine import procfs
from neuroscale.engine.limits import Enforcement
from neuroscale.engine.runtime import LocalRuntime, log_tail, server_environment, stop_all
from neuroscale.engine.spares import SpareKind, Spares
from neuroscale.engine.subreaper import ForkedChild
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


def ready_spare(runtime: LocalRuntime, spec: ServingSpec) -> int:
    """Start the spare of `spec`'s kind and wait until it has said its imports are done; its pid."""
    runtime.keep_warm([spec])
    kind = SpareKind(spec.model_format, "")
    spare = wait_for(lambda: runtime.spares.ready(kind), timeout=60, what="a ready spare")
    return spare.popen.pid


def test_a_forked_server_is_the_revision_s_server_in_every_way_the_engine_looks(
        home: Home, iris_model: Path, subreaper: None) -> None:
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,), enforcement=NO_CGROUP)
    spec = spec_of(iris_model, memory_limit="1Gi")
    try:
        spare = ready_spare(runtime, spec)
        first, second = (runtime.start(spec, revision=R1, replica=r) for r in (0, 1))  # back to back
        for handle in (first, second):
            assert handle.warm and handle.pid != spare and isinstance(handle.popen, ForkedChild)
            wait_for(lambda: runtime.ready(handle), timeout=60, what="the forked server ready")
            assert log_tail(handle.log_path, handle.log_offset)[0].startswith("ModelLoaded: iris ")
            assert environment_of(handle.pid) == server_environment("", parent=os.environ)
            assert resource.prlimit(handle.pid, resource.RLIMIT_DATA) == (2 << 30, 2 << 30)  # the 1Gi backstop
        assert second.log_path == home.server_logs_dir / f"{R1}.r1.log"
        assert sorted((p.pid, p.revision) for p in procfs.serving_processes(home.root)) == sorted(
            [(spare, ""), (first.pid, R1), (second.pid, R1)])
        runtime.signal(first, signal.SIGKILL)
        info = wait_for(lambda: runtime.exited(first), what="the exit")
        assert info.reason == Reason.KilledBySignal and "after loading its model" in info.message
    finally:
        runtime.close()
    assert [p.pid for p in procfs.serving_processes(home.root)] == [second.pid], \
        "the spare stopped with the runtime; the server it forked lives on, as a cold one would"


def test_without_the_subreaper_mark_a_forked_server_is_watched_through_proc(home: Home, iris_model: Path) -> None:
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,), enforcement=NO_CGROUP)
    spec = spec_of(iris_model)
    try:
        ready_spare(runtime, spec)
        handle = runtime.start(spec, revision=R1)
        assert handle.warm and handle.popen is None
        wait_for(lambda: runtime.ready(handle), timeout=60, what="the forked server ready")
        assert runtime.exited(handle) is None
        runtime.signal(handle, signal.SIGKILL)
        info = wait_for(lambda: runtime.exited(handle), what="the exit, seen in /proc")
        assert "after loading its model" in info.message
    finally:
        runtime.close()


def test_a_hung_spare_costs_one_bounded_wait_then_its_kind_starts_cold(
        home: Home, iris_model: Path, subreaper: None) -> None:
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,), enforcement=NO_CGROUP)
    spec = spec_of(iris_model)
    try:
        spare = ready_spare(runtime, spec)
        os.kill(spare, signal.SIGSTOP)
        handle = runtime.start(spec, revision=R1)
        assert not handle.warm and isinstance(handle.popen, subprocess.Popen)
        wait_for(lambda: runtime.ready(handle), timeout=60, what="the cold server ready")
        runtime.keep_warm([spec])
        assert idle_spares(home) == [], "the hung spare was stopped and its kind stays cold for the retry period"
    finally:
        runtime.close()


def test_a_start_waits_while_its_kind_s_spare_imports(home: Home, iris_model: Path) -> None:
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,), enforcement=NO_CGROUP)
    spec = spec_of(iris_model)
    try:
        assert runtime.warming(spec), "no spare yet: one is launched and the start waits for it"
        [spare] = wait_for(lambda: idle_spares(home), what="the launched spare")
        wait_for(lambda: not runtime.warming(spec), timeout=60, what="the spare ready")
        assert runtime.start(spec, revision=R1).warm
        os.kill(spare, signal.SIGKILL)
        wait_for(lambda: not procfs.start_time(spare), what="the spare gone")
        assert not runtime.warming(spec), "a kind whose spare died starts cold at once"
    finally:
        runtime.close()


def test_a_spare_that_never_finishes_importing_is_killed_after_the_import_timeout(tmp_path: Path) -> None:
    def never_ready(kind: SpareKind, output: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sleep", "60"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=output)

    spares = Spares(tmp_path, never_ready, import_timeout=0.5)
    kind = SpareKind("sklearn", "")
    try:
        assert spares.importing(kind)
        hung = spares.ready(kind)
        assert hung is None
        wait_for(lambda: not spares.importing(kind), timeout=10, what="the import timeout")
        assert not spares.importing(kind), "its kind stays cold for the retry period"
    finally:
        spares.close()


def environment_of(pid: int) -> dict[str, str]:
    raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)


def test_unwanted_spares_stop_and_a_dead_one_means_cold_starts_for_a_while(home: Home, iris_model: Path) -> None:
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,), enforcement=NO_CGROUP)
    spec = spec_of(iris_model)
    try:
        runtime.keep_warm([spec])
        wait_for(lambda: idle_spares(home), what="an idle spare")
        runtime.keep_warm([])
        wait_for(lambda: not idle_spares(home), what="the unwanted spare stopped")
        runtime.keep_warm([spec])
        [spare] = wait_for(lambda: idle_spares(home), what="a spare again")
        os.kill(spare, signal.SIGKILL)
        wait_for(lambda: not procfs.start_time(spare), what="the spare gone")
        handle = runtime.start(spec, revision=R1)
        assert not handle.warm and handle.pid != spare
        wait_for(lambda: runtime.ready(handle), timeout=60, what="the cold server ready")
        runtime.keep_warm([spec])
        assert idle_spares(home) == [], "a kind whose spare died stays cold for the retry period"
    finally:
        runtime.close()


def test_no_spare_where_a_cgroup_enforces_the_memory_limit(home: Home, iris_model: Path, tmp_path: Path) -> None:
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    runtime = LocalRuntime(home, model_roots=(iris_model.parent,),
                           enforcement=Enforcement(memory="cgroup v2", cpu="cgroup v2", cgroup=cgroup))
    try:
        runtime.keep_warm([spec_of(iris_model, memory_limit="1Gi")])
        assert idle_spares(home) == []
        handle = runtime.start(spec_of(iris_model, memory_limit="1Gi"), revision=R1)
        assert not handle.warm
        assert (cgroup / f"{R1}.r0" / "cgroup.procs").read_text() == str(handle.pid)
    finally:
        runtime.close()


@pytest.mark.parametrize("wanted", [True, False])
def test_up_s_warm_spares_setting_reaches_the_reconciler(tmp_path: Path, wanted: bool) -> None:
    from neuroscale.engine.__main__ import parse_args
    from neuroscale.supervisor.platform import components
    from neuroscale.supervisor.settings import PlatformSettings

    [reconciler] = [c for c in components(Home(tmp_path), PlatformSettings(warm_spares=wanted))
                    if c.name == "reconciler"]
    assert reconciler.argv[:3] == (sys.executable, "-m", "neuroscale.engine")
    assert parse_args(list(reconciler.argv[3:])).warm_spares is wanted
