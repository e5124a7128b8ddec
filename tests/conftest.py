"""Fixtures every layer shares: free loopback ports, a trained iris model, the reference data."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from neuroscale.home import MODEL_ROOTS_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Upstream CRDs, configs and charts, read from the shared folder beside the checkout.
REFERENCE = REPO_ROOT.parent / "shared" / "reference"
IRIS_ROWS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]
#: Where tests that never load a model point their storage URIs (an allowed root; nothing is there).
PLACEHOLDER_MODELS = "/models"
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float = 20.0, what: str = "condition",
             step: float = 0.02) -> T:
    """Poll `probe` every `step` seconds until it returns something truthy (a bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def alias_bomb(levels: int = 9) -> str:
    """A YAML "billion laughs": each of `levels` anchors lists the previous one nine times (9**levels leaves)."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


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
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory the tests' trained models live under: an allowed model root for every test platform."""
    return tmp_path_factory.mktemp("models").resolve()


@pytest.fixture(scope="session", autouse=True)
def _test_models_are_allowed(models_root: Path) -> Iterator[None]:
    """Every platform home the tests start allows `models_root` (`NEUROSCALE_MODEL_ROOTS`, as a user would set),
    and `/models`, where tests that only open pull requests point at placeholder model files."""
    previous = os.environ.get(MODEL_ROOTS_ENV)
    os.environ[MODEL_ROOTS_ENV] = os.pathsep.join([str(models_root), PLACEHOLDER_MODELS])
    yield
    if previous is None:
        os.environ.pop(MODEL_ROOTS_ENV, None)
    else:
        os.environ[MODEL_ROOTS_ENV] = previous


@pytest.fixture()
def subreaper() -> Iterator[None]:
    """The test process plays the engine for one test: servers a warm spare forks become its children."""
    from neuroscale.engine import subreaper

    assert subreaper.mark(), "the kernel refused PR_SET_CHILD_SUBREAPER"
    yield
    subreaper.mark(False)


@pytest.fixture()
def model_dir(models_root: Path) -> Path:
    """A fresh directory under the test model root, for model files a test writes itself."""
    return Path(tempfile.mkdtemp(dir=models_root, prefix="test-"))


@pytest.fixture(scope="session")
def iris_model(models_root: Path) -> Path:
    """A LogisticRegression on scikit-learn's bundled iris data, saved with joblib under the test model root."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    model = LogisticRegression(max_iter=1000, random_state=0).fit(data.data, data.target)
    path = models_root / "iris" / "model.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


@pytest.fixture(scope="session")
def constant_model(models_root: Path) -> Path:
    """A classifier that always answers 0 (iris answers [1, 1] for IRIS_ROWS): a model change whose share of
    agreement with iris on a sample is known in advance."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier

    data = load_iris()
    path = models_root / "constant" / "model.joblib"
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(DummyClassifier(strategy="constant", constant=0).fit(data.data, data.target), path)
    return path


def wait_for_http(url: str, *, timeout: float = 30.0, process: "subprocess.Popen[bytes] | None" = None,
                  output: Callable[[], str] | None = None) -> None:
    """Poll `url` until it answers 200; fail with the process's output if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            said = output() if output else (process.stdout.read().decode(errors="replace") if process.stdout else "")
            pytest.fail(f"process exited with {process.returncode} before {url} answered:\n{said}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def running(argv: list[str], *, ready_url: str, env: dict[str, str] | None = None,
            also_ready: tuple[str, ...] = (), stop: signal.Signals = signal.SIGTERM,
            grace: float = 10.0, log_path: Path | None = None) -> Iterator["subprocess.Popen[bytes]"]:
    """Start a real process, wait until it serves `ready_url` (and `also_ready`), always stop it afterwards.

    Output goes to a file, not a pipe: a chatty server must never block on a full pipe (an unread
    pipe once hung `neuroscale up` at Ctrl-C on a busy CI machine). With `log_path` the file stays
    for the test to read; otherwise it is a temporary one.
    """
    log = log_path.open("w+b") if log_path is not None else tempfile.TemporaryFile()

    def output() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")

    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        for url in (ready_url, *also_ready):
            wait_for_http(url, process=process, output=output, timeout=60)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(stop)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def platform_up(home: Path, *, portal: int, gateway: int) -> contextlib.AbstractContextManager["subprocess.Popen[bytes]"]:
    """`neuroscale up` as a real process, ready when portal and gateway answer; stopped with Ctrl-C (SIGINT)."""
    argv = [sys.executable, "-m", "neuroscale", "up", "--home", str(home), "--portal-port", str(portal),
            "--gateway-port", str(gateway)]
    return running(argv, ready_url=f"http://127.0.0.1:{portal}/healthz",
                   also_ready=(f"http://127.0.0.1:{gateway}/healthz",), stop=signal.SIGINT, grace=30)


@pytest.fixture()
def iris_server(iris_model: Path) -> Iterator[tuple[int, "subprocess.Popen[bytes]"]]:
    """A real `python -m neuroscale.serving` process serving the iris model as `iris`."""
    port = free_port()
    argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
            "--storage-uri", str(iris_model), "--port", str(port), "--model-root", str(iris_model.parent)]
    with running(argv, ready_url=f"http://127.0.0.1:{port}/v2/health/ready") as process:
        yield port, process
