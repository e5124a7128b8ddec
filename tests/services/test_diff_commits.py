"""`neuroscale prediction-diff`: the CI prediction diff between two commits, with real model servers.

Iris answers [1, 1] for IRIS_ROWS and [0, 0] for SETOSA; the proposed constant model always answers 0,
so a sample of 4 SETOSA and 6 IRIS_ROWS bodies agrees on exactly 40 %. The other side of each comparison
is the platform's own model server, started by the command on loopback from the committed model files;
"running endpoints" are two more model servers answering under the names a preview would have.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from neuroscale.cli.main import main
from neuroscale.ports import free_port
from neuroscale.spec import extensions
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.yamlio import dump
from tests.check.helpers import git
from tests.conftest import IRIS_ROWS, wait_for_http
from tests.engine.conftest import iris_spec
from tests.engine.test_engine_previews import SAMPLE


def manifest(model: str, annotations: dict[str, str] | None = None) -> bytes:
    document = to_manifest(iris_spec(Path("/models/iris/model.joblib")))
    document["spec"]["predictor"]["model"]["storageUri"] = model
    if annotations:
        document["metadata"]["annotations"] = annotations
    return dump(document).encode()


def commit(root: Path, files: dict[str, bytes], message: str) -> None:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path: Path, iris_model: Path) -> Path:
    """`main` serves iris with a committed sample; the branch `proposal` is checked out, unchanged so far."""
    root = tmp_path / "gitops"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    sample = "".join(json.dumps(body) + "\n" for body in SAMPLE).encode()
    commit(root, {manifest_path("iris"): manifest(f"file://{iris_model}"),
                  "apps/iris/sample-requests.jsonl": sample}, "iris")
    git(root, "checkout", "-qb", "proposal")
    return root


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["prediction-diff", str(root), "--base", "main", "-o", "json", *args])
    captured = capsys.readouterr()
    assert captured.out, captured.err
    return code, json.loads(captured.out)


def test_a_gated_model_change_fails_with_the_agreement_of_the_model_files(
        repo: Path, constant_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {manifest_path("iris"): manifest(f"file://{constant_model}", {extensions.MIN_AGREEMENT: "0.95"})},
           "constant")
    code, [row] = run(repo, capsys)
    assert code == 1 and row["endpoint"] == "iris" and row["against"] == "model files"
    summary = row["check"]["findings"][0]
    assert summary["extra"]["agreement"] == pytest.approx(0.4) and "4 of 10 compared" in summary["message"]
    assert [f["line"] for f in row["check"]["findings"] if f["severity"] == "warning"] == [5, 6, 7, 8, 9, 10]
    assert "below the 95.0%" in row["check"]["findings"][-1]["message"]
    # Without the gate the same numbers are a report, not a failure; the markdown is what CI posts.
    commit(repo, {manifest_path("iris"): manifest(f"file://{constant_model}")}, "ungated")
    assert main(["prediction-diff", str(repo), "--base", "main", "-o", "markdown"]) == 0
    report = capsys.readouterr().out
    assert report.startswith("### Prediction diff") and "agreement 40.0%" in report


def test_a_proposed_model_that_does_not_load_fails_with_the_servers_reason(
        repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = repo / "models" / "broken.joblib"
    commit(repo, {"models/broken.joblib": b"not a model", manifest_path("iris"): manifest(f"file://{broken}")},
           "broken")
    code, [row] = run(repo, capsys)
    [finding] = row["check"]["findings"]
    assert code == 1 and row["check"]["status"] == "fail"
    assert finding["message"].startswith("the proposed model of iris does not load: ") and "broken.joblib" in \
        finding["message"]


def test_a_model_this_machine_cannot_read_is_an_error_never_a_pass(repo: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {manifest_path("iris"): manifest("gs://models/iris/v2")}, "gcs")
    code, [row] = run(repo, capsys)
    assert code == 2 and row["check"]["status"] == "error"
    assert "gs://models/iris/v2 cannot be read here" in row["check"]["findings"][0]["message"]


def test_no_model_change_compares_nothing_and_says_so(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {"README.md": b"docs\n"}, "docs")
    assert main(["prediction-diff", str(repo), "--base", "main"]) == 0
    assert "nothing to compare" in capsys.readouterr().out


def test_running_endpoints_are_compared_when_both_answer(repo: Path, iris_model: Path, constant_model: Path,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {manifest_path("iris"): manifest("gs://models/iris/v2")}, "gcs")  # unreadable here: URLs only
    servers = []
    try:
        ports = {}
        for name, model in (("iris", iris_model), ("iris-pr-7", constant_model)):
            port = free_port()
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "neuroscale.serving", "--model-name", name, "--model-format", "sklearn",
                 "--storage-uri", str(model), "--port", str(port), "--model-root", str(model.parent)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for_http(f"http://127.0.0.1:{port}/v2/health/ready", timeout=60, process=servers[-1])
            ports[name] = port
        code, [row] = run(repo, capsys, "--serving-url", f"http://127.0.0.1:{ports['iris']}",
                          "--preview-url", f"http://127.0.0.1:{ports['iris-pr-7']}", "--pull-request", "7")
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
    assert code == 0 and row["against"] == "running endpoints"
    assert row["check"]["findings"][0]["extra"]["agreement"] == pytest.approx(0.4)


def test_serving_and_preview_urls_go_together(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prediction-diff", str(repo), "--base", "main", "--preview-url", "http://x"]) == 1
    assert "--serving-url and --preview-url go together" in capsys.readouterr().err


def test_a_directory_that_is_not_a_checkout_is_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prediction-diff", str(tmp_path), "--base", "main"]) == 2
    assert "is not a git checkout" in capsys.readouterr().err


def test_a_sample_written_by_tritons_client_is_replayed_as_written(repo: Path, constant_model: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """V2 bodies as `tritonclient.http` builds them (request id, `outputs` selection, flat data): shapes our
    own code never writes."""
    import numpy as np
    import tritonclient.http as triton

    lines = []
    for rows in ([[5.1, 3.5, 1.4, 0.2]], IRIS_ROWS):  # iris answers 0 then [1, 1]; the constant model always 0
        tensor = triton.InferInput("input-0", [len(rows), 4], "FP64")
        tensor.set_data_from_numpy(np.array(rows), binary_data=False)
        body, _ = triton.InferenceServerClient.generate_request_body(
            [tensor], outputs=[triton.InferRequestedOutput("output-0", binary_data=False)], request_id="r1")
        lines.append(body)
    commit(repo, {"apps/iris/sample-requests.jsonl": b"\n".join(lines) + b"\n",
                  manifest_path("iris"): manifest(f"file://{constant_model}")}, "triton sample")
    code, [row] = run(repo, capsys)
    summary = row["check"]["findings"][0]
    assert code == 0 and summary["extra"]["compared"] == 2 and summary["extra"]["agreement"] == pytest.approx(0.5)


@pytest.mark.parametrize(("template", "said"), [
    ("http://{nam}.ml.example.dev", "{nam}"),
    ("http://{0}.ml.example.dev", "{0}"),
    ("http://{name!r}.ml.example.dev", "{name!r}"),
    ("http://{name.upper}.ml.example.dev", "{name.upper}"),
    ("http://{name:>9}.ml.example.dev", "{name:>9}"),
    ("http://{name.ml.example.dev", "unbalanced"),
    ("{name}.ml.example.dev", "http:// or https://"),
])
def test_a_url_template_naming_anything_but_its_placeholders_is_refused_before_any_work(
        repo: Path, constant_model: Path, template: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {manifest_path("iris"): manifest(f"file://{constant_model}")}, "constant")
    code = main(["prediction-diff", str(repo), "--base", "main", "--serving-url", template,
                 "--preview-url", "http://{name}-pr-{number}.previews.ml.example.dev", "--pull-request", "7"])
    err = capsys.readouterr().err
    assert code == 1 and "--serving-url" in err and said in err, err
    assert "Traceback" not in err


class _Answering(ThreadingHTTPServer):
    """A web server on loopback answering every GET with `ready` and every POST with `predicted`."""

    def __init__(self, ready: tuple[int, str, bytes], predicted: tuple[int, str, bytes]) -> None:
        replies = {"GET": ready, "POST": predicted}

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                status, content_type, body = replies[self.command]
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _reply

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()


HTML = (200, "text/html", b"<html><body>Sign in to continue</body></html>")
READY = (200, "application/json", b'{"name": "iris", "ready": true}')


@pytest.mark.parametrize("ready", [HTML, (200, "application/json", b'{"status": "ok"}')], ids=["html", "json"])
def test_a_page_answering_200_to_everything_is_no_endpoint_the_model_files_are_compared(
        repo: Path, constant_model: Path, ready: tuple[int, str, bytes], capsys: pytest.CaptureFixture[str]) -> None:
    """A wildcard DNS name in front of a sign-in page or a health proxy answers 200 to any path: that is
    not a ready model, so the diff falls back to the model files."""
    commit(repo, {manifest_path("iris"): manifest(f"file://{constant_model}")}, "constant")
    page = _Answering(ready, HTML)
    try:
        code, [row] = run(repo, capsys, "--serving-url", page.url, "--preview-url", page.url, "--pull-request", "7")
    finally:
        page.shutdown()
    assert code == 0 and row["against"] == "model files"
    assert row["check"]["findings"][0]["extra"]["agreement"] == pytest.approx(0.4)


def test_a_200_answer_without_predictions_is_an_error_of_that_side_never_a_comparison(
        repo: Path, constant_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, {manifest_path("iris"): manifest("gs://models/iris/v2", {extensions.MIN_AGREEMENT: "0.5"})},
           "gcs")
    endpoint = _Answering(READY, HTML)
    try:
        code, [row] = run(repo, capsys, "--serving-url", endpoint.url, "--preview-url", endpoint.url,
                          "--pull-request", "7")
    finally:
        endpoint.shutdown()
    summary, *rest = row["check"]["findings"]
    assert row["against"] == "running endpoints" and summary["extra"]["compared"] == 0
    assert "errors: 10 serving" in summary["message"]
    assert code == 1 and "none could be measured" in rest[-1]["message"]


def _model_servers_of(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "neuroscale.serving" in cmdline and any(marker in arg for arg in cmdline):
            found.append(process)
    return found


@pytest.mark.parametrize("signals", [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGTERM]],
                         ids=["SIGINT", "SIGTERM", "SIGINT-then-SIGTERM"])
def test_a_diff_stopped_mid_run_leaves_no_model_server_behind(
        repo: Path, constant_model: Path, signals: list[signal.Signals]) -> None:
    """What a CI runner does to a cancelled job (SIGINT, then SIGTERM while it is still stopping), or
    `timeout` does: the model servers the command started are stopped with it."""
    commit(repo, {manifest_path("iris"): manifest(f"file://{constant_model}")}, "constant")
    command = subprocess.Popen([sys.executable, "-m", "neuroscale.cli.main", "prediction-diff", str(repo),
                                "--base", "main"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(_model_servers_of(str(repo))) < 2 and command.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        started = _model_servers_of(str(repo))
        assert len(started) == 2, "the two model servers were not started"
        for signum in signals:
            command.send_signal(signum)
            time.sleep(0.001)
        assert command.wait(30) != 0
        gone, alive = psutil.wait_procs(started, timeout=15)
        assert not alive, [p.info["cmdline"] for p in alive]
    finally:
        if command.poll() is None:
            command.kill()
        for leftover in _model_servers_of(str(repo)):
            leftover.kill()
