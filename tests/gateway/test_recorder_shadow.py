"""Recording keeps a bounded, rotating sample; shadowing copies an exact share, evenly spread."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.recorder import Recorder
from neuroscale.gateway.shadow_feed import ShadowFeed
from tests.conftest import IRIS_ROWS, free_port, running, wait_for
from tests.gateway.conftest import StandIn
from tests.gateway.test_gateway_e2e import write_routes
from tests.portal.conftest import CHROMIUM, CHROMIUM_ARGS, Attacker, attacker  # noqa: F401


def test_the_ring_is_bounded_in_requests_and_bytes_and_rotates(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "samples")
    for index in range(10):
        recorder.keep("iris", json.dumps({"instances": [[index]]}).encode(), max_requests=3, max_bytes=1000)
    recorder.keep("iris", b"not json", max_requests=3, max_bytes=1000)
    recorder.keep("iris", b"x" * 2000, max_requests=3, max_bytes=1000)  # larger than the cap: never kept
    assert recorder.flush() == 1 and recorder.flush() == 0, "rewritten only when it changed"
    lines = (tmp_path / "samples" / "iris.jsonl").read_text().splitlines()
    assert [json.loads(line)["instances"] for line in lines] == [[[8]], [[9]]], "oldest out; non-JSON left out"
    small = Recorder(tmp_path / "small")
    for index in range(10):
        small.keep("e", b'{"instances": [[%d]]}' % index, max_requests=100, max_bytes=40)
    small.flush()
    assert len((tmp_path / "small" / "e.jsonl").read_text().splitlines()) == 2


def test_a_recorded_request_is_dropped_once_older_than_the_retention(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    for kept_at in (0.0, 10.0, 20.0):
        recorder.keep("iris", b'{"instances": [[%d]]}' % kept_at, max_requests=10, max_bytes=1000, retention_s=15,
                      now=kept_at)
    assert recorder.flush(now=26.0) == 1
    assert (tmp_path / "iris.jsonl").read_text() == '{"instances":[[20]]}\n', "older than 15 s: gone"
    assert recorder.flush(now=30.0) == 0, "nothing expired, nothing rewritten"
    assert recorder.flush(now=40.0) == 1 and (tmp_path / "iris.jsonl").read_text() == ""


def test_the_shadow_share_is_exact_over_every_hundred_requests(tmp_path: Path) -> None:
    mirror = ShadowFeed(Balancer(lambda: 0.0), routes=tmp_path / "routes.json", shadow_file=None, timeout=1.0)
    for percent in (1, 20, 50, 100):
        picks = [mirror.due(f"e{percent}", percent) for _ in range(1000)]
        assert sum(picks) == 10 * percent and sum(picks[:100]) == percent
    assert not any(mirror.due("zero", 0) for _ in range(100))


def test_a_shadow_that_never_answers_never_delays_the_primary(iris_model: Path, tmp_path: Path) -> None:
    """The shadow revision's replica accepts and holds every copy; clients still get the serving model's answer.

    Every copy reaching the silent replica is proof the shadow was sent and left hanging while the
    primary had already answered: a primary that waited for it would wait for ever (the client's
    timeout would fail the test).
    """
    home = tmp_path / "home"
    server_port, gateway_port = free_port(), free_port()
    silent = StandIn(None)
    write_routes(home / "run" / "routes.json", {"iris": {
        "namespace": "ml", "ready": True, "revision": "iris-predictor-00001",
        "traffic": [{"revision": "iris-predictor-00001", "percent": 100, "upstreams": [f"127.0.0.1:{server_port}"]},
                    {"revision": "iris-predictor-00002", "percent": 0, "upstreams": [f"127.0.0.1:{silent.port}"]}],
        "shadow": {"revision": "iris-predictor-00002", "percent": 100}}})
    server = [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
              "--storage-uri", str(iris_model), "--port", str(server_port), "--model-root", str(iris_model.parent)]
    gateway = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(gateway_port),
               "--upstream-timeout", "2"]
    try:
        with running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready"), \
                running(gateway, ready_url=f"http://127.0.0.1:{gateway_port}/healthz"), \
                httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=20) as client:
            answers = [client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS}) for _ in range(30)]
            assert [(a.status_code, a.json()) for a in answers] == [(200, {"predictions": [1, 1]})] * 30
            wait_for(lambda: silent.received, what="the copies at the shadow replica, which never answers them")
            shadow = wait_for(lambda: json.loads((home / "run" / "shadow.json").read_text()).get("iris")
                              if (home / "run" / "shadow.json").exists() else None, what="the shadow comparison")
            assert shadow["revision"] == "iris-predictor-00002" and shadow["agree"] == shadow["disagree"] == 0
    finally:
        silent.close()


def test_a_write_that_fails_is_retried_and_never_raised_and_samples_are_private(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "samples")
    recorder.keep("iris", b'{"instances": [[0]]}', max_requests=3, max_bytes=1000)
    assert recorder.flush() == 1
    for endpoint in ("blocked", "iris"):
        recorder.keep(endpoint, b'{"instances": [[1]]}', max_requests=3, max_bytes=1000)
    (tmp_path / "samples" / "blocked.jsonl").mkdir()  # the write fails as on a full disk
    assert recorder.flush() == 1, "the other endpoint is still written"
    written = tmp_path / "samples" / "iris.jsonl"
    assert written.stat().st_mode & 0o077 == 0 and (tmp_path / "samples").stat().st_mode & 0o077 == 0, \
        "recorded requests can hold personal data: only their owner reads them"
    (tmp_path / "samples" / "blocked.jsonl").rmdir()
    assert recorder.flush() == 1, "the failed write is retried without a new request"
    assert (tmp_path / "samples" / "blocked.jsonl").read_text() == '{"instances":[[1]]}\n'


def recording_iris(home: Path, iris_model: Path, server_port: int) -> list[str]:
    """Routes of an iris endpoint that records its requests, to a model server on `server_port`; its command."""
    write_routes(home / "run" / "routes.json", {"iris": {
        "namespace": "ml", "ready": True, "revision": "iris-predictor-00001",
        "traffic": [{"revision": "iris-predictor-00001", "percent": 100, "upstreams": [f"127.0.0.1:{server_port}"]}],
        "record": {"max_requests": 1000, "max_bytes": 1 << 20, "retention_s": 0}}})
    return [sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format", "sklearn",
            "--storage-uri", str(iris_model), "--port", str(server_port), "--model-root", str(iris_model.parent)]


def test_a_full_disk_neither_fails_a_request_nor_the_gateways_shutdown(iris_model: Path, tmp_path: Path) -> None:
    """A gateway whose files may not grow past 4 KiB (RLIMIT_FSIZE: writes fail with EFBIG, as on a full disk)."""
    import resource
    import signal
    import subprocess

    home = tmp_path / "home"
    server_port, gateway_port = free_port(), free_port()
    server = recording_iris(home, iris_model, server_port)
    body = {"instances": IRIS_ROWS, "note": "x" * 1000}
    with running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready"):
        gateway = subprocess.Popen(
            [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(gateway_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)))
        try:
            wait_for(lambda: (home / "run" / "routes.applied").exists() or None, what="the gateway's routes")
            with httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=20) as client:
                codes = [client.post("/v1/models/iris:predict", json=body).status_code for _ in range(20)]
            assert codes == [200] * 20
            gateway.send_signal(signal.SIGTERM)
            _, err = gateway.communicate(timeout=20)
        finally:
            gateway.kill()
            gateway.wait()
    assert gateway.returncode == 0 and b"Traceback" not in err, err.decode()[-2000:]
    assert b"cannot write the recorded requests of iris" in err and b"x" * 100 not in err, "said, never quoted"


def test_a_web_page_in_the_users_browser_cannot_plant_requests_in_the_sample(iris_model: Path, tmp_path: Path,
                                                                             attacker: Attacker) -> None:
    """Any page the user opens can make their browser POST to the gateway on 127.0.0.1 (a `no-cors` text/plain
    request needs no preflight): it reads no answer, but what the gateway records feeds the prediction-diff gate
    of the next pull request, so a request a browser sent from a page must not be recorded. Clients (curl,
    SDKs) still are."""
    home = tmp_path / "home"
    server_port, gateway_port = free_port(), free_port()
    server = recording_iris(home, iris_model, server_port)
    gateway = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home), "--port", str(gateway_port)]
    url = f"http://127.0.0.1:{gateway_port}"
    planted = json.dumps({"instances": IRIS_ROWS, "from": "a web page"})
    sample = home / "samples" / "iris.jsonl"
    with running(server, ready_url=f"http://127.0.0.1:{server_port}/v2/health/ready"), \
            running(gateway, ready_url=f"{url}/healthz"), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(attacker.page("/plant", "<title>another site</title>"))
            sent = page.evaluate("""async ([target, body]) => {
                const sends = [];
                for (let i = 0; i < 5; i++) sends.push(fetch(target, {method: "POST", mode: "no-cors", body,
                                                                      headers: {"Content-Type": "text/plain"}}));
                return (await Promise.all(sends)).map(answer => answer.type); }""",
                                 [f"{url}/v1/models/iris:predict", planted])
        finally:
            browser.close()
        assert sent == ["opaque"] * 5, "the browser sent them (and hid the answers from the page)"
        assert httpx.post(f"{url}/v1/models/iris:predict", json={"instances": IRIS_ROWS}, timeout=20).status_code == 200
        wait_for(lambda: sample.exists() and sample.read_text().strip(), what="the recorded sample")
        time.sleep(1.5)  # another flush: the page's requests, answered before the client's, are on disk by now
    assert [json.loads(line) for line in sample.read_text().splitlines()] == [{"instances": IRIS_ROWS}]
