"""Previews and their prediction diff attacked with inputs the team did not write, on a real platform.

Each test opens pull requests through the services against the real engine, gateway and model
servers (`tests.engine.test_engine_previews` has the happy paths): a name that collides with an
endpoint on main, a push the engine has not seen yet, an engine restart, a name too long for a
DNS label, an unquoted annotation, and a sample line that breaks a shell command.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from neuroscale.cli.main import main
from neuroscale.engine.previews import preview_name
from neuroscale.gitops.provider import PullRequest
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import RawManifest, update_endpoint
from neuroscale.services.previews import preview_info
from neuroscale.services.pulls import close_pull_request, get_pull_request
from neuroscale.spec import extensions
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.yamlio import dump
from tests.conftest import IRIS_ROWS, wait_for
from tests.engine.conftest import Platform, gateway_of, iris_spec
from tests.engine.test_engine_previews import ALICE, SAMPLE, ctx, ctx_of, diff_of, manifest  # noqa: F401

GATE = {extensions.MIN_AGREEMENT: "0.95"}


def named(model: Path, name: str, **annotations: str) -> bytes:
    document = to_manifest(iris_spec(model, name=name))
    if annotations:
        document["metadata"]["annotations"] = annotations
    return dump(document).encode()


def answers(gateway: str, name: str) -> list[int]:
    reply = httpx.post(f"{gateway}/v1/models/{name}:predict", json={"instances": IRIS_ROWS}, timeout=30)
    return reply.json()["predictions"]  # type: ignore[no-any-return]


@contextmanager
def engine_paused(platform: Platform) -> Iterator[None]:
    """A busy engine: it sees nothing new until the block ends (the gateway keeps serving)."""
    assert platform.engine is not None
    os.kill(platform.engine.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(platform.engine.pid, signal.SIGCONT)


def test_an_endpoint_named_like_a_preview_keeps_its_own_model(running: Platform, ctx: PlatformContext, gateway: str,
                                                               iris_model: Path, constant_model: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    manifest_path("setosa"): named(iris_model, "setosa"),
                    manifest_path("iris-pr-1"): named(iris_model, "iris-pr-1"),
                    "apps/iris/sample-requests.jsonl": (json.dumps(SAMPLE[0]) + "\n").encode()})
    for name in ("iris", "setosa", "iris-pr-1"):
        running.wait_ready(name)
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model, annotations=GATE)), actor=ALICE)
    assert pr.number == 1
    other = update_endpoint(ctx, RawManifest.parse(named(constant_model, "setosa").decode()), actor=ALICE)
    running.wait_ready(preview_name("setosa", other.number))  # the engine has taken both pull requests
    assert answers(gateway, "iris-pr-1") == [1, 1], "an open pull request on iris replaced endpoint iris-pr-1's model"
    info = preview_info(ctx, get_pull_request(ctx, pr.number))
    assert info is not None and info.state == "Unavailable" and "runs from main" in info.message
    assert main(["pr", "show", str(pr.number), "--home", str(running.home.root)]) == 0
    shown = capsys.readouterr().out
    assert "iris-pr-1 Unavailable: no preview: an endpoint named iris-pr-1 runs from main" in shown
    assert "try it" not in shown, "no request to run against someone else's endpoint"
    check = diff_of(ctx, pr.number)
    assert check.status == "fail" and "has no preview" in check.findings[0]["message"], "never diffed against main"
    close_pull_request(ctx, pr.number, actor=ALICE)
    close_pull_request(ctx, other.number, actor=ALICE)
    wait_for(lambda: running.status(preview_name("setosa", other.number)) is None, what="the other preview removed")
    assert answers(gateway, "iris-pr-1") == [1, 1] and running.status("iris-pr-1") is not None


def twin_proposed(platform: Platform, ctx: PlatformContext, iris_model: Path, model_dir: Path, *,
                  sample: list[dict[str, Any]]) -> PullRequest:
    """Iris on main with `sample` committed, and a gated pull request proposing a copy of its model (agreement 100 %)."""
    platform.commit({manifest_path("iris"): manifest(iris_model).encode(),
                     "apps/iris/sample-requests.jsonl": "".join(json.dumps(body) + "\n" for body in sample).encode()})
    platform.wait_ready("iris")
    twin = model_dir / "twin.joblib"
    shutil.copy(iris_model, twin)
    return update_endpoint(ctx, RawManifest.parse(manifest(twin, annotations=GATE)), actor=ALICE)


def test_a_push_is_diffed_against_its_own_model_not_the_previous_heads(running: Platform, ctx: PlatformContext,
                                                                        gateway: str, iris_model: Path,
                                                                        constant_model: Path, model_dir: Path) -> None:
    pr = twin_proposed(running, ctx, iris_model, model_dir, sample=SAMPLE)
    first = diff_of(ctx, pr.number)
    assert first.status == "pass" and first.findings[0]["extra"]["agreement"] == 1.0
    with engine_paused(running):
        pushed = update_endpoint(ctx, RawManifest.parse(manifest(constant_model, annotations=GATE)), actor=ALICE)
        early = get_pull_request(ctx, pr.number)
        assert pushed.head_sha != pr.head_sha and early.head_sha == pushed.head_sha
        info = preview_info(ctx, early)
    assert info is not None and info.state == "Pending" and pushed.head_sha[:7] in info.message
    second = diff_of(ctx, pr.number)
    assert second.status == "fail" and second.findings[0]["extra"]["agreement"] == pytest.approx(0.4), \
        "the diff of the new head compared the previous head's model"


def test_a_preview_outlives_an_engine_restart_as_a_preview(platform: Platform, iris_model: Path,
                                                            constant_model: Path, ctx_of: object) -> None:
    platform.start_engine()
    context = ctx_of(platform)  # type: ignore[operator]
    platform.commit({manifest_path("iris"): manifest(iris_model).encode()})
    platform.wait_ready("iris")
    pr = update_endpoint(context, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    preview = preview_name("iris", pr.number)
    platform.wait_ready(preview)
    platform.stop_engine()
    platform.start_engine()
    platform.wait_ready("iris", commit=platform.repo.resolve("main"))
    close_pull_request(context, pr.number, actor=ALICE)
    wait_for(lambda: platform.status(preview) is None, timeout=30, what="the preview removed with its pull request")


def test_a_preview_name_too_long_for_a_dns_label_is_said_not_waited_for(running: Platform, ctx: PlatformContext,
                                                                         iris_model: Path,
                                                                         constant_model: Path) -> None:
    name = "iris-" + "x" * 55  # 60 characters: its preview `-pr-1` would be 65
    running.commit({manifest_path(name): named(iris_model, name)})
    running.wait_ready(name)
    pr = update_endpoint(ctx, RawManifest.parse(named(constant_model, name, **GATE).decode()), actor=ALICE)
    check = diff_of(ctx, pr.number)
    assert check.status == "fail" and "over the 63 of a DNS label" in check.findings[0]["message"]
    info = preview_info(ctx, get_pull_request(ctx, pr.number))
    assert info is not None and info.state == "Unavailable" and "at most 58 characters" in info.message


def test_an_unquoted_annotation_is_refused_by_name(running: Platform, iris_model: Path) -> None:
    document = to_manifest(iris_spec(iris_model))
    document["metadata"]["annotations"] = {extensions.SHADOW_PERCENT: 100}
    running.commit({manifest_path("iris"): dump(document).encode()})
    status = running.wait_reason("iris", "InvalidManifest")
    assert any(extensions.SHADOW_PERCENT in c.message and "not a string" in c.message for c in status.conditions)


def test_the_ready_to_run_request_survives_a_quote_in_the_sample(running: Platform, ctx: PlatformContext,
                                                                 iris_model: Path, constant_model: Path) -> None:
    body = {"instances": IRIS_ROWS, "note": "it's $(touch pwned) `x`"}
    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": (json.dumps(body) + "\n").encode()})
    running.wait_ready("iris")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    info = preview_info(ctx, get_pull_request(ctx, pr.number))
    assert info is not None
    argv = shlex.split(info.request)
    assert argv[0] == "curl" and json.loads(argv[argv.index("-d") + 1]) == body


def test_a_pull_request_that_also_changes_another_gated_model_cannot_merge_undiffed(
        running: Platform, ctx: PlatformContext, iris_model: Path, constant_model: Path) -> None:
    from neuroscale.errors import Conflict
    from neuroscale.services.pulls import merge_pull_request
    from tests.engine.conftest import AUTHOR

    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    manifest_path("setosa"): named(iris_model, "setosa", **GATE)})
    running.wait_ready("setosa")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    running.repo.commit(branch=pr.branch, files={manifest_path("setosa"): named(constant_model, "setosa", **GATE)},
                        message="and setosa too", author=AUTHOR)  # pushed with plain git
    check = diff_of(ctx, pr.number)
    assert check.status == "fail"
    assert any("also changes the model of setosa" in f["message"] and f["severity"] == "error"
               for f in check.findings)
    with pytest.raises(Conflict, match="prediction-diff"):
        merge_pull_request(ctx, pr.number, actor=ALICE)


class _Hangs:
    """Unpickling it sleeps for an hour: a model whose load never finishes."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        import time

        return time.sleep, (3600,)


def test_a_preview_whose_model_hangs_fails_the_check_at_the_startup_timeout(running: Platform, ctx: PlatformContext,
                                                                             iris_model: Path, model_dir: Path) -> None:
    import joblib

    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": (json.dumps(SAMPLE[0]) + "\n").encode()})
    running.wait_ready("iris")
    hangs = model_dir / "hangs.joblib"
    joblib.dump(_Hangs(), hangs)
    pr = update_endpoint(ctx, RawManifest.parse(manifest(hangs, annotations=GATE)), actor=ALICE)

    def final() -> object:
        check = next(c for c in get_pull_request(ctx, pr.number).checks if c.name == "prediction-diff")
        return check if check.status != "pending" else None
    check = wait_for(final, timeout=120, what="the check of a preview that never loads")
    assert check.status == "fail" and "not ready 60s after start" in check.findings[0]["message"]  # type: ignore[attr-defined]


def test_previews_opened_and_closed_quickly_stay_within_the_limit_and_leave_nothing(
        platform: Platform, iris_model: Path, constant_model: Path, ctx_of: object) -> None:
    from tests.engine.conftest import server_pids

    platform.start_engine("--max-previews", "1")
    context = ctx_of(platform)  # type: ignore[operator]
    names = ["iris", "setosa", "virginica"]
    platform.commit({manifest_path(name): named(iris_model, name) for name in names})
    for name in names:
        platform.wait_ready(name)
    serving = {pid for name in names for pid in server_pids(platform.home, f"{name}-predictor-00001")}
    pulls = [update_endpoint(context, RawManifest.parse(named(constant_model, name).decode()), actor=ALICE)
             for name in names]
    close_pull_request(context, pulls[1].number, actor=ALICE)  # closed before its preview could start
    last = preview_name(names[2], pulls[2].number)
    platform.wait_ready(last)
    wait_for(lambda: len({p for p in server_pids(platform.home) if p not in serving}) <= 1 or None,
             timeout=30, what="at most one preview server left running")
    for pr in (pulls[0], pulls[2]):
        close_pull_request(context, pr.number, actor=ALICE)
    wait_for(lambda: not [p for p in server_pids(platform.home) if p not in serving]
             and all(platform.status(preview_name(n, p.number)) is None for n, p in zip(names, pulls)) or None,
             timeout=30, what="every preview and its server gone")


def test_promoting_the_shadowed_canary_changes_no_answer_and_ends_the_shadow(running: Platform, ctx: PlatformContext,
                                                                           gateway: str, iris_model: Path,
                                                                           constant_model: Path) -> None:
    import threading
    from collections import Counter

    from neuroscale.services.observe import endpoint_detail
    from tests.engine.test_engine_previews import _shadow

    shadowing = {extensions.SHADOW_PERCENT: "100"}
    running.commit({manifest_path("iris"): manifest(iris_model).encode()})
    running.wait_ready("iris", revision="iris-predictor-00001")
    running.commit({manifest_path("iris"): manifest(constant_model, canaryTrafficPercent=0,
                                                    annotations=shadowing).encode()})
    wait_for(lambda: (s := running.status("iris")) and {t.revision: t.percent for t in s.traffic} == {
        "iris-predictor-00002": 0, "iris-predictor-00001": 100}, timeout=60, what="the canary at 0 %")
    stop, seen = threading.Event(), Counter[tuple[int, str]]()

    def hammer() -> None:
        with httpx.Client(base_url=gateway, timeout=30) as client:
            while not stop.is_set():
                answer = client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS})
                seen[(answer.status_code, json.dumps(answer.json()))] += 1

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: _shadow(running).get("disagree", 0) >= 10, what="shadow comparisons")
        running.commit({manifest_path("iris"): manifest(constant_model, annotations=shadowing).encode()})
        wait_for(lambda: (s := running.status("iris")) and {t.revision: t.percent for t in s.traffic} == {
            "iris-predictor-00002": 100}, timeout=60, what="the canary promoted")
        wait_for(lambda: seen[(200, '{"predictions": [0, 0]}')] >= 20, what="the promoted model answering")
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert set(seen) <= {(200, '{"predictions": [1, 1]}'), (200, '{"predictions": [0, 0]}')}, seen
    assert endpoint_detail(ctx, "iris", fetch_metadata=False).shadow is None, "no comparison shown once promoted"


def test_the_diff_of_a_preview_stopped_at_the_limit_still_finishes(platform: Platform, iris_model: Path,
                                                                   constant_model: Path, ctx_of: object) -> None:
    platform.start_engine("--max-previews", "1")
    with gateway_of(platform):
        _diff_after_eviction(platform, ctx_of(platform), iris_model, constant_model)  # type: ignore[operator]


def _diff_after_eviction(platform: Platform, context: PlatformContext, iris_model: Path,
                         constant_model: Path) -> None:
    sample = "".join(json.dumps(body) + "\n" for body in SAMPLE)
    platform.commit({manifest_path("iris"): manifest(iris_model).encode(), manifest_path("setosa"): named(
        iris_model, "setosa"), "apps/iris/sample-requests.jsonl": sample.encode()})
    platform.wait_ready("iris")
    platform.wait_ready("setosa")
    first = update_endpoint(context, RawManifest.parse(manifest(constant_model, annotations=GATE)), actor=ALICE)
    platform.wait_ready(preview_name("iris", first.number))  # nobody reads the pull request meanwhile
    second = update_endpoint(context, RawManifest.parse(named(constant_model, "setosa").decode()), actor=ALICE)
    platform.wait_ready(preview_name("setosa", second.number))
    wait_for(lambda: "previews were running" in ((s := platform.status(preview_name("iris", first.number)))
                                                 and s.note or ""), what="the first preview stopped at the limit")
    check = diff_of(context, first.number)
    assert check.status == "fail" and check.findings[0]["extra"]["agreement"] == pytest.approx(0.4)


class _Talks:
    """Unpickling writes a progress line naming a URL with a password to stderr (the server's log), then hangs
    or fails: a model whose last words say where its load stopped."""

    LINE = "fetching weights from https://loader:hunter2@weights.example/w.bin"

    def __init__(self, then: str) -> None:
        self.then = then

    def __reduce__(self) -> tuple[object, tuple[str]]:
        last = "time.sleep(3600)" if self.then == "hang" else "raise RuntimeError('weights.example refused: 403')"
        return exec, (f"import sys, time; print({self.LINE!r}, file=sys.stderr, flush=True); {last}",)


@pytest.mark.parametrize("then", ["fail", "hang"])
def test_a_preview_that_cannot_load_shows_the_load_error_and_the_servers_last_log_line(
        running: Platform, ctx: PlatformContext, iris_model: Path, model_dir: Path, then: str) -> None:
    """Once, a hang said only "see <log path>" and a failure only the loader's own record; the reviewer needs
    what the server wrote last (secrets in it redacted)."""
    import joblib

    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": (json.dumps(SAMPLE[0]) + "\n").encode()})
    running.wait_ready("iris")
    broken = model_dir / f"talks-then-{then}.joblib"
    joblib.dump(_Talks(then), broken)
    pr = update_endpoint(ctx, RawManifest.parse(manifest(broken, annotations=GATE)), actor=ALICE)

    def final() -> object:
        check = next(c for c in get_pull_request(ctx, pr.number).checks if c.name == "prediction-diff")
        return check if check.status != "pending" else None
    check = wait_for(final, timeout=120, what="the check of a preview that cannot load")
    message = str(check.findings[0]["message"])  # type: ignore[attr-defined]
    assert check.status == "fail", message  # type: ignore[attr-defined]
    assert "fetching weights from https://loader:<redacted" in message and "hunter2" not in message, message
    if then == "hang":
        assert "not ready 60s after start" in message and "the model never finished loading" in message, message
    else:
        assert "ModelLoadFailed" in message and "weights.example refused: 403" in message, message


def test_the_ready_to_run_request_stays_short_and_runs_in_bash_exactly_as_shown(
        running: Platform, ctx: PlatformContext, gateway: str, iris_model: Path, constant_model: Path,
        tmp_path: Path) -> None:
    """A sample's first line can be megabytes (the file may hold 8 MiB): the PR page and `pr show` print the
    request, so it comes from the first request short enough to read; and the printed command, run by bash,
    sends that body unchanged whatever shell metacharacters it holds."""
    huge = {"instances": [[6.8, 2.8, 4.8, 1.4]] * 50_000}
    hostile = {"instances": IRIS_ROWS, "note": "it's $(touch pwned) `touch pwned` \\\" !! \n ; | & > pwned"}
    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": f"{json.dumps(huge)}\n{json.dumps(hostile)}\n".encode()})
    running.wait_ready("iris")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    running.wait_ready(preview_name("iris", pr.number))
    info = preview_info(ctx, get_pull_request(ctx, pr.number))
    assert info is not None and len(info.request) < 4096, f"{len(info.request):,} characters"
    argv = shlex.split(info.request)
    assert json.loads(argv[argv.index("-d") + 1]) == hostile
    shell_dir = tmp_path / "shell"
    shell_dir.mkdir()
    ran = subprocess.run(["bash", "-c", info.request], cwd=shell_dir, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and json.loads(ran.stdout) == {"predictions": [0, 0]}, ran
    assert not list(shell_dir.iterdir()), "the shell ran nothing of the body"


class _RaisesOnLoad:
    """A model file whose loading raises an error of the author's choosing (a joblib file is a pickle)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"raise ValueError({self.message!r})",)


def test_a_models_load_error_cannot_drive_the_reviewers_terminal(running: Platform, ctx: PlatformContext,
                                                                iris_model: Path, model_dir: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The load error of the proposed model reaches `pr show` (preview and check) and `endpoint show` (conditions):
    its escape sequences (an OSC 8 link, clearing the screen, BEL) and rich markup are shown, never obeyed."""
    import pickle

    hostile = ("\x1b]8;;http://osc.example/\x07click\x1b]8;;\x07\x1b[2J\x07 "
               "[link=http://markup.example]here[/link] [reverse]x[/reverse]")
    model = model_dir / "hostile.joblib"
    model.write_bytes(pickle.dumps(_RaisesOnLoad(hostile)))
    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": (json.dumps({"instances": IRIS_ROWS}) + "\n").encode()})
    running.wait_ready("iris")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(model)), actor=ALICE)
    assert diff_of(ctx, pr.number).status == "fail"
    capsys.readouterr()
    home = str(running.home.root)
    assert main(["pr", "show", str(pr.number), "--home", home]) == 0
    assert main(["endpoint", "show", preview_name("iris", pr.number), "--home", home]) == 0
    out = capsys.readouterr().out
    assert not {"\x1b", "\x07"} & set(out), "no control character reaches the terminal"
    assert "\\x1b]8;;http://osc.example/" in out, "it is shown escaped"
    assert "http://markup.example" in "".join(out.split()), "markup is shown as text, not made a link"


def test_the_endpoint_pages_curl_survives_a_models_own_input_name(running: Platform, ctx: PlatformContext,
                                                                   gateway: str, model_dir: Path,
                                                                   tmp_path: Path) -> None:
    """The V2 curl of the endpoint page and `endpoint show` takes its input name from the model's metadata, which
    the model file decides (an ONNX graph names its inputs): run by bash, it must send that name, nothing more."""
    from onnx import TensorProto, helper

    from neuroscale.services.observe import endpoint_detail

    name = "x'; touch pwned; ' $(touch pwned) `touch pwned` \\ \""
    graph = helper.make_graph([helper.make_node("Identity", [name], ["same"])], "echo",
                              [helper.make_tensor_value_info(name, TensorProto.DOUBLE, ["N", 4])],
                              [helper.make_tensor_value_info("same", TensorProto.DOUBLE, ["N", 4])])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    model = model_dir / "echo.onnx"
    model.write_bytes(onnx_model.SerializeToString())
    document = to_manifest(iris_spec(model))
    document["spec"]["predictor"]["model"]["modelFormat"] = {"name": "onnx", "version": "1"}
    document["spec"]["predictor"]["model"]["protocolVersion"] = "v2"
    running.commit({manifest_path("iris"): dump(document).encode()})
    running.wait_ready("iris")
    call = endpoint_detail(ctx, "iris").call
    assert call.metadata_error == "" and call.metadata is not None and call.metadata["inputs"][0]["name"] == name
    shell_dir = tmp_path / "shell"
    shell_dir.mkdir()
    ran = subprocess.run(["bash", "-c", call.curl_v2], cwd=shell_dir, capture_output=True, text=True, timeout=60)
    assert not list(shell_dir.iterdir()), "the shell ran nothing of the input name"
    assert ran.returncode == 0 and json.loads(ran.stdout)["outputs"][0]["data"] == [0.0] * 4, ran
