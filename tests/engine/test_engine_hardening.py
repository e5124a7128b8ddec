"""The reconciler against hostile input and outside interference (real git, processes, /proc and SQLite).

- A model server starts with a minimal environment and the allowed model roots, read back from
  `/proc/<pid>/environ` and `/proc/<pid>/cmdline` of the real process.
- A server that had been ready a while and is killed from outside restarts at once, every time.
- A 9-level alias bomb pushed to main is rejected (naming its file) while another endpoint's killed
  model server is restarted as usual.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from neuroscale.spec.manifest import manifest_path
from neuroscale.status.reasons import Reason
from tests.conftest import IRIS_ROWS, alias_bomb
from tests.engine.conftest import Platform, iris_spec, predict, ready_of, served_upstream, server_pids, wait_for

R1 = "iris-predictor-00001"
SECRET = "ghp_" + "x" * 36
ISVC_HEAD = b"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: bomb\n"


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_model_servers_get_a_minimal_environment_and_the_model_roots(platform: Platform, iris_model: Path,
                                                                    tmp_path: Path) -> None:
    extra_root = tmp_path / "more-models"
    extra_root.mkdir()
    env = {**os.environ, "NEUROSCALE_GITHUB_TOKEN": SECRET, "AWS_SECRET_ACCESS_KEY": "not-for-file-models",
           "DATABASE_URL": "postgres://user:pw@db/x", "NEUROSCALE_MODEL_ROOTS": f"{iris_model.parent}:{extra_root}"}
    # Cold, so the flags show on the command line; a server forked by a warm spare gets the same
    # `server_flags` through its spare, which was started with this same environment.
    platform.start_engine("--no-warm-spares", env=env)
    platform.deploy(iris_spec(iris_model))
    platform.wait_ready("iris", revision=R1)
    [pid] = server_pids(platform.home)
    environ = _environ(pid)
    assert SECRET not in Path(f"/proc/{pid}/environ").read_text(errors="replace")
    allowed = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ"}
    assert {key for key in environ if key not in allowed and not key.startswith("PYTHON")} == set(), environ
    assert environ["PYTHONUNBUFFERED"] == "1" and environ["PATH"] == os.environ["PATH"]
    command = _cmdline(pid)
    roots = [command[i + 1] for i, arg in enumerate(command) if arg == "--model-root"]
    assert roots == [str(platform.home.models_dir.resolve()), str(iris_model.parent), str(extra_root.resolve())]


def test_a_server_killed_after_serving_a_while_restarts_at_once_every_time(platform: Platform,
                                                                          iris_model: Path) -> None:
    platform.start_engine("--stable-after", "0.3")
    platform.deploy(iris_spec(iris_model))
    platform.wait_ready("iris", revision=R1)
    for kill in range(1, 6):  # five external SIGKILLs within seconds, each of a server that served > 0.3 s
        time.sleep(0.4)
        [pid] = server_pids(platform.home)
        readies = _count(platform, Reason.RevisionReady)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _count(platform, Reason.RevisionReady) > readies, timeout=10,
                 what=f"ready again after kill {kill}")
        assert server_pids(platform.home) not in ([], [pid])
    reasons = [e.reason for e in platform.events("iris")]
    assert reasons.count(Reason.Restarted) == 5 and Reason.CrashLoopBackOff not in reasons
    assert predict(served_upstream(platform.home, "iris"), IRIS_ROWS) == {"predictions": [1, 1]}


def _count(platform: Platform, reason: str) -> int:
    return sum(e.reason == reason for e in platform.events("iris"))


def _answer(upstream: str) -> object:
    try:
        return predict(upstream, IRIS_ROWS)
    except httpx.HTTPError:
        return None


def test_an_alias_bomb_on_main_is_rejected_while_another_endpoint_heals(running: Platform,
                                                                       iris_model: Path) -> None:
    running.deploy(iris_spec(iris_model))
    running.wait_ready("iris", revision=R1)
    [pid] = server_pids(running.home)
    running.commit({manifest_path("bomb"): ISVC_HEAD + alias_bomb(9).encode()}, "push a billion laughs")
    os.kill(pid, signal.SIGKILL)
    bomb = running.wait_reason("bomb", "InvalidManifest")
    assert "apps/bomb/inference-service.yaml" in ready_of(bomb).message and "alias bomb" in ready_of(bomb).message
    wait_for(lambda: server_pids(running.home) not in ([], [pid]), timeout=10, what="iris restarted")
    running.wait_ready("iris", revision=R1)
    # The route may still name the killed server until the tick that noticed ends: ask until the new one answers.
    assert wait_for(lambda: _answer(served_upstream(running.home, "iris")), what="iris answering again") == {
        "predictions": [1, 1]}
    assert running.engine is not None and running.engine.poll() is None  # the reconciler did not die
