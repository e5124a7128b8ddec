"""Previews, prediction diffs, shadow traffic and doctor under lifecycles nobody planned, on a real platform.

The pull request moves while its diff replays, or its branch is deleted with plain git; the shadow
annotation goes under load; a preview cannot load, then a push fixes it; the gateway is started by
hand as doctor says. Each verdict (check, page, status, doctor) must follow what is true now.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.cli.main import main
from neuroscale.engine.previews import preview_name
from neuroscale.errors import Conflict
from neuroscale.gitops.provider import CheckResult
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import RawManifest, update_endpoint
from neuroscale.services.observe import endpoint_detail
from neuroscale.services.prediction_diff import prediction_check
from neuroscale.services.previews import preview_state
from neuroscale.services.pulls import get_pull_request, merge_pull_request
from neuroscale.spec import extensions
from neuroscale.spec.manifest import manifest_path
from tests.conftest import IRIS_ROWS, wait_for
from tests.engine.conftest import Platform, ready_of, routes, server_pids
from tests.engine.test_engine_previews import ALICE, SAMPLE, ctx, ctx_of, manifest  # noqa: F401
from tests.engine.test_engine_previews_redteam import GATE, twin_proposed


def test_a_push_during_the_diff_never_gives_the_old_head_the_new_models_answers(
        running: Platform, ctx: PlatformContext, ctx_of: Callable[[Platform], PlatformContext],
        iris_model: Path, constant_model: Path, model_dir: Path) -> None:
    # A replay long enough (1,000 requests, the sample's cap) that a push lands, is checked and previewed meanwhile.
    first = twin_proposed(running, ctx, iris_model, model_dir, sample=SAMPLE * 300)
    wait_for(lambda: preview_state(ctx, first).serves_head or None, timeout=40, what="the first head previewed")
    results: list[CheckResult] = []
    diffing = threading.Thread(target=lambda: results.append(prediction_check(ctx_of(running), first)))
    diffing.start()
    try:
        pushed = update_endpoint(ctx_of(running), RawManifest.parse(manifest(constant_model, annotations=GATE)),
                                 actor=ALICE)
        later = get_pull_request(ctx_of(running), first.number)
        assert later.head_sha == pushed.head_sha != first.head_sha
        wait_for(lambda: preview_state(ctx, later).serves_head or None, timeout=40, what="the pushed head previewed")
    finally:
        diffing.join(timeout=60)
    assert results, "the diff of the first head never finished"
    check = results[0]
    extra = check.findings[0].get("extra", {})
    assert extra.get("waiting") or extra.get("agreement") == 1.0, \
        f"the first head's diff counted answers of the pushed model: {check.status} {check.findings[0]['message']}"


def test_a_branch_deleted_with_plain_git_closes_its_pull_request_and_ends_its_preview(
        running: Platform, ctx: PlatformContext, iris_model: Path, constant_model: Path) -> None:
    running.commit({manifest_path("iris"): manifest(iris_model).encode()})
    running.wait_ready("iris")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    preview = preview_name("iris", pr.number)
    served = running.wait_ready(preview)
    subprocess.run(["git", "-C", str(running.home.remote), "branch", "-D", pr.branch], check=True,
                   capture_output=True)
    assert get_pull_request(ctx, pr.number).state == "closed", "a pull request whose branch is gone stayed open"
    with pytest.raises(Conflict, match="already closed"):
        merge_pull_request(ctx, pr.number, actor=ALICE)
    assert "constant" not in running.repo.read_files("main", manifest_path("iris"))[manifest_path("iris")].decode()
    wait_for(lambda: running.status(preview) is None and not server_pids(running.home, served.revision) or None,
             timeout=30, what="the preview and its server gone with the branch")


def test_removing_the_shadow_annotation_under_load_stops_the_copies_and_their_comparison(
        running: Platform, gateway: str, ctx: PlatformContext, iris_model: Path, constant_model: Path) -> None:
    running.commit({manifest_path("iris"): manifest(iris_model).encode()})
    running.wait_ready("iris", revision="iris-predictor-00001")
    canary = {"canaryTrafficPercent": 0}
    running.commit({manifest_path("iris"): manifest(
        constant_model, annotations={extensions.SHADOW_PERCENT: "100"}, **canary).encode()})
    with hammered(gateway) as codes:
        wait_for(lambda: (endpoint_detail(ctx, "iris", fetch_metadata=False).shadow or {}).get("disagree", 0) >= 5
                 or None, timeout=60, what="the canary shadowed")
        running.commit({manifest_path("iris"): manifest(constant_model, **canary).encode()})
        wait_for(lambda: "shadow" not in routes(running.home)["endpoints"]["iris"] or None, what="the shadow unrouted")
        time.sleep(2)  # the worker publishes once a second
        shown = endpoint_detail(ctx, "iris", fetch_metadata=False).shadow
        assert shown is None, f"the endpoint page still shows a shadow comparison after the annotation went: {shown}"
    assert set(codes) == {200}


@contextmanager
def hammered(gateway: str) -> Iterator[Counter[int]]:
    """Two clients calling iris until the block ends: the status codes they got."""
    stop, codes = threading.Event(), Counter[int]()

    def hammer() -> None:
        with httpx.Client(base_url=gateway, timeout=30) as client:
            while not stop.is_set():
                codes[client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS}).status_code] += 1

    workers = [threading.Thread(target=hammer) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        yield codes
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def test_doctor_tells_how_to_fix_a_preview_that_cannot_load_and_forgets_it_once_fixed(
        running: Platform, ctx: PlatformContext, iris_model: Path, constant_model: Path, model_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    broken = model_dir / "broken.joblib"
    broken.write_bytes(b"not a pickle")
    running.commit({manifest_path("iris"): manifest(iris_model).encode()})
    running.wait_ready("iris")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(broken)), actor=ALICE)
    preview = preview_name("iris", pr.number)
    found = wait_for(lambda: crashes(running, capsys).get(preview), timeout=40,
                     what="doctor names the preview's load failure")
    assert "neuroscale endpoint update iris " in found["fix"] and preview not in found["fix"], found["fix"]
    assert f"#{pr.number}" in found["fix"] and "merge" not in found["fix"], found["fix"]
    update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    wait_for(lambda: preview_state(ctx, get_pull_request(ctx, pr.number)).serves_head or None, timeout=40,
             what="the fixed head previewed")
    assert preview not in crashes(running, capsys), "doctor still reports the load failure the push fixed"


def crashes(platform: Platform, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    """`neuroscale doctor`'s model-server findings, by endpoint."""
    return {name.rsplit("/", 1)[-1]: f for name, f in doctor_findings(platform, capsys).items()
            if f["rule"] == "model-server-crash"}


def test_a_preview_says_it_serves_its_pull_request_not_main(running: Platform, ctx: PlatformContext,
                                                             iris_model: Path, constant_model: Path) -> None:
    running.commit({manifest_path("iris"): manifest(iris_model).encode()})
    running.wait_ready("iris")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    preview = preview_name("iris", pr.number)
    message = ready_of(running.wait_ready(preview)).message
    assert f"serves pull request #{pr.number}" in message and "main@" not in message, message
    created = [e.message for e in running.events(preview) if e.reason == "RevisionCreated"]
    assert created == [f"{preview}-predictor-00001 for pull request #{pr.number}"], created


def test_a_gateway_started_as_doctor_says_clears_doctors_finding(
        running: Platform, ctx_of: Callable[[Platform], PlatformContext], capsys: pytest.CaptureFixture[str]) -> None:
    ctx_of(running)  # the platform's settings: the gateway port doctor checks
    found = wait_for(lambda: doctor_findings(running, capsys).get("Process/gateway"), what="the gateway missed")
    command = shlex.split(found["fix"].split("&")[0])
    gateway = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: running.home.routes_applied_file.exists() or None, what="the gateway up")
        left = {name: f["message"] for name, f in doctor_findings(running, capsys).items()
                if name == "Process/gateway" or name.startswith("Port/")}
        assert not left, f"doctor still reports the gateway its own fix started: {left}"
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)


def doctor_findings(platform: Platform, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    """`neuroscale doctor`'s findings by object (`Kind/name`)."""
    main(["doctor", "--home", str(platform.home.root), "-o", "json"])
    return {f["object"]: f for f in json.loads(capsys.readouterr().out)["findings"]}
