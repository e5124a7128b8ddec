"""Review the model, not only the YAML: previews, prediction diffs, recorded requests and shadow traffic.

On a real platform: the engine and gateway processes, real model servers, the services opening pull
requests on the real bare repository. Iris answers [1, 1] for IRIS_ROWS; the proposed model is a
constant classifier that always answers 0, so the share of a sample it agrees on is known in advance.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from neuroscale.errors import Conflict
from neuroscale.gitops.provider import CheckResult
from neuroscale.services.context import PlatformContext
from neuroscale.cli.main import main
from neuroscale.services.endpoints import RawManifest, update_endpoint
from neuroscale.services.observe import endpoint_detail
from neuroscale.services.previews import preview_info
from neuroscale.engine.previews import preview_name
from neuroscale.identity.roles import Actor, Role
from neuroscale.services.prediction_diff import CHECK_PREDICTIONS, waiting
from neuroscale.services.pulls import close_pull_request, get_pull_request, merge_pull_request
from neuroscale.spec import extensions
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.supervisor.settings import PlatformSettings, save_settings
from neuroscale.yamlio import dump
from tests.conftest import IRIS_ROWS, wait_for
from tests.engine.conftest import Platform, iris_spec, server_pids

ALICE = Actor("alice", Role.admin, "alice@example.com")
SETOSA = [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]]  # iris answers [0, 0]: the constant model agrees
SAMPLE = [{"instances": SETOSA}] * 4 + [{"instances": IRIS_ROWS}] * 6  # agreement 40 %


def manifest(model: Path, *, annotations: dict[str, str] | None = None, **predictor: Any) -> str:
    document = to_manifest(iris_spec(model))
    document["spec"]["predictor"].update(predictor)
    if annotations:
        document["metadata"]["annotations"] = annotations
    return dump(document)


@pytest.fixture
def ctx_of() -> Iterator[Callable[[Platform], PlatformContext]]:
    """Opens the services' context on a platform whose engine runs (closed after the test)."""
    opened: list[PlatformContext] = []

    def open_on(platform: Platform) -> PlatformContext:
        save_settings(platform.home, PlatformSettings(gateway_port=platform.gateway_port))
        wait_for(lambda: platform.home.state_db.exists(), what="the engine's database")
        opened.append(PlatformContext.open(platform.home))
        return opened[-1]
    yield open_on
    for context in opened:
        context.close()


@pytest.fixture
def ctx(running: Platform, gateway: str, ctx_of: Callable[[Platform], PlatformContext]) -> PlatformContext:
    return ctx_of(running)


def diff_of(ctx: PlatformContext, number: int) -> CheckResult:
    """The pull request's prediction-diff once it is final (its preview served and the sample was replayed)."""
    def final() -> CheckResult | None:
        check = next(c for c in get_pull_request(ctx, number).checks if c.name == CHECK_PREDICTIONS)
        return None if waiting(check) else check
    return wait_for(final, timeout=60, what="a final prediction diff")


def test_preview_serves_the_proposal_and_the_gated_diff_blocks_the_merge(running: Platform, ctx: PlatformContext,
                                                                          gateway: str, iris_model: Path,
                                                                          constant_model: Path) -> None:
    sample = "".join(json.dumps(body) + "\n" for body in SAMPLE)
    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": sample.encode()})
    running.wait_ready("iris")
    gated = manifest(constant_model, annotations={extensions.MIN_AGREEMENT: "0.95"})
    pr = update_endpoint(ctx, RawManifest.parse(gated), actor=ALICE)
    check = diff_of(ctx, pr.number)
    summary = check.findings[0]
    assert check.status == "fail" and summary["extra"]["agreement"] == pytest.approx(0.4)
    assert "agreement 40.0% (4 of 10 compared)" in summary["message"]
    assert sum(1 for f in check.findings if f["severity"] == "warning") == 6, "each changed prediction, with input"
    with pytest.raises(Conflict, match="prediction-diff"):
        merge_pull_request(ctx, pr.number, actor=ALICE)

    preview = f"iris-pr-{pr.number}"
    with httpx.Client(base_url=gateway, timeout=30) as client:
        assert client.post(f"/v1/models/{preview}:predict", json={"instances": IRIS_ROWS}).json() == {
            "predictions": [0, 0]}
        by_host = client.post(f"/v1/models/{preview}:predict", json={"instances": IRIS_ROWS},
                              headers={"Host": f"{preview}.default.localhost:{running.gateway_port}"})
        assert by_host.json() == {"predictions": [0, 0]}
        answers = Counter(tuple(client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS}).json()[
            "predictions"]) for _ in range(20))
        assert answers == {(1, 1): 20}, "a preview never receives the endpoint's traffic"
    status = running.status(preview)
    assert status is not None and status.preview_of == pr.number

    close_pull_request(ctx, pr.number, actor=ALICE)
    wait_for(lambda: running.status(preview) is None and not [p for p in server_pids(running.home)
                                                             if p not in server_pids(running.home, "iris-predictor-00001")],
             timeout=30, what="the preview removed with its pull request")


def test_beyond_the_platforms_limit_the_longest_idle_preview_stops_and_its_pull_request_says_so(
        platform: Platform, ctx_of: Callable[[Platform], PlatformContext], iris_model: Path,
        constant_model: Path) -> None:
    platform.start_engine("--max-previews", "1")
    ctx = ctx_of(platform)
    platform.commit({manifest_path("iris"): manifest(iris_model).encode(),
                     manifest_path("setosa"): dump(to_manifest(iris_spec(iris_model, name="setosa"))).encode()})
    platform.wait_ready("iris")
    platform.wait_ready("setosa")
    first = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    platform.wait_ready(preview_name("iris", first.number))
    second = update_endpoint(ctx, RawManifest.parse(dump(to_manifest(iris_spec(constant_model, name="setosa")))),
                             actor=ALICE)
    platform.wait_ready(preview_name("setosa", second.number))
    stopped = wait_for(lambda: (info := preview_info(ctx, get_pull_request(ctx, first.number))) and
                       "more than 1 previews were running" in info.message and info, what="the idle preview stopped")
    assert "its next request starts it again" in stopped.message
    wait_for(lambda: not server_pids(platform.home, f"{preview_name('iris', first.number)}-predictor-00001"),
             what="the idle preview's server drained and stopped")
    assert server_pids(platform.home, f"{preview_name('setosa', second.number)}-predictor-00001")


def test_up_hands_its_preview_limit_to_the_reconciler(tmp_path: Path) -> None:
    from neuroscale.home import Home
    from neuroscale.supervisor.platform import components

    [reconciler] = [c for c in components(Home(tmp_path), PlatformSettings(max_previews=2)) if c.name == "reconciler"]
    assert reconciler.argv[-2:] == ("--max-previews", "2")


def record_sample(platform: Platform, gateway: str, model: Path, annotations: dict[str, str]) -> Path:
    """iris serving `model` with recording on, SAMPLE sent through the gateway; the recording once written."""
    platform.commit({manifest_path("iris"): manifest(model, annotations=annotations).encode()})
    platform.wait_ready("iris")
    with httpx.Client(base_url=gateway, timeout=30) as client:
        for body in SAMPLE:
            assert client.post("/v1/models/iris:predict", json=body).status_code == 200
    recorded = platform.home.samples_dir / "iris.jsonl"
    wait_for(lambda: recorded.exists() and len(recorded.read_text().splitlines()) == len(SAMPLE),
             what="the recorded sample")
    return recorded


def test_recorded_requests_feed_an_informational_diff(running: Platform, ctx: PlatformContext, gateway: str,
                                                      iris_model: Path, constant_model: Path) -> None:
    recorded = record_sample(running, gateway, iris_model, {extensions.RECORD: "true"})
    assert [json.loads(line) for line in recorded.read_text().splitlines()] == SAMPLE
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    check = diff_of(ctx, pr.number)
    assert check.status == "pass" and check.findings[0]["extra"]["agreement"] == pytest.approx(0.4)
    assert str(recorded) in check.findings[0]["message"]
    assert merge_pull_request(ctx, pr.number, actor=ALICE).state == "merged", "without a gate it only reports"


def test_a_preview_that_cannot_load_fails_the_check_with_the_load_error(running: Platform, ctx: PlatformContext,
                                                                       iris_model: Path, model_dir: Path) -> None:
    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": (json.dumps(SAMPLE[0]) + "\n").encode()})
    running.wait_ready("iris")
    corrupt = model_dir / "corrupt.joblib"
    corrupt.write_bytes(b"not a model")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(corrupt)), actor=ALICE)
    check = diff_of(ctx, pr.number)
    assert check.status == "fail" and "ModelLoadFailed" in check.findings[0]["message"]


def test_shadow_traffic_never_fails_the_primary_even_when_the_shadow_dies(running: Platform, gateway: str,
                                                                          ctx: PlatformContext, iris_model: Path,
                                                                          constant_model: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    running.commit({manifest_path("iris"): manifest(iris_model).encode()})
    running.wait_ready("iris", revision="iris-predictor-00001")
    running.commit({manifest_path("iris"): manifest(
        constant_model, canaryTrafficPercent=0, annotations={extensions.SHADOW_PERCENT: "100"}).encode()})
    wait_for(lambda: (s := running.status("iris")) and {t.revision: t.percent for t in s.traffic} == {
        "iris-predictor-00002": 0, "iris-predictor-00001": 100}, timeout=60, what="the canary at 0 %")
    stop = threading.Event()
    codes: Counter[int] = Counter()

    def hammer() -> None:
        with httpx.Client(base_url=gateway, timeout=30) as client:
            while not stop.is_set():
                answer = client.post("/v1/models/iris:predict", json={"instances": IRIS_ROWS})
                codes[answer.status_code] += 1
                assert answer.json() == {"predictions": [1, 1]}, "the client always gets the serving model's answer"

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        # Copies are compared in batches within 0.1 s; the latency pair comes from the one copy sent alone every
        # 0.25 s (the first may find the shadow's replica not yet free): wait for both.
        wait_for(lambda: _shadow(running).get("disagree", 0) >= 20 and _shadow(running).get("shadow_ms"),
                 what="shadow comparisons and a latency pair")
        # The endpoint page and `endpoint show` carry the comparison while the revision is shadowed.
        shown = endpoint_detail(ctx, "iris", fetch_metadata=False).shadow
        assert shown is not None and shown["revision"] == "iris-predictor-00002" and shown["disagree"] >= 20
        assert main(["endpoint", "show", "iris", "--home", str(running.home.root)]) == 0
        assert "Shadow traffic to iris-predictor-00002" in capsys.readouterr().out
        for pid in server_pids(running.home, "iris-predictor-00002"):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _shadow(running).get("error", 0) + _shadow(running).get("skipped", 0) > 0,
                 what="the dead shadow counted")
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert set(codes) == {200} and codes[200] > 50
    stats = _shadow(running)
    assert stats["revision"] == "iris-predictor-00002" and stats["agree"] == 0 and stats["agreement"] == 0.0
    assert stats["primary_ms"] and stats["shadow_ms"]
    families = list(text_string_to_metric_families(httpx.get(f"{gateway}/metrics").text))
    scraped = {sample.labels["outcome"]: sample.value
               for family in families if family.name == "neuroscale_gateway_shadow_requests"
               for sample in family.samples
               if sample.name.endswith("_total") and sample.labels["revision"] == "iris-predictor-00002"}
    latency = {(s.labels["side"], s.labels["quantile"]): s.value for family in families
               if family.name == "neuroscale_gateway_shadow_latency_seconds" for s in family.samples}
    assert set(latency) == {(side, q) for side in ("serving", "shadow") for q in ("0.5", "0.99")}
    assert all(0 < seconds < 60 for seconds in latency.values())
    assert scraped["disagree"] >= stats["disagree"] and scraped["agree"] == 0
    assert scraped["error"] + scraped["skipped"] > 0, "Prometheus sees the dead shadow too"


def _shadow(platform: Platform) -> dict[str, Any]:
    try:
        return json.loads(platform.home.shadow_file.read_text()).get("iris", {})  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def test_merging_the_last_open_pull_request_removes_its_preview(running: Platform, ctx: PlatformContext,
                                                                iris_model: Path, constant_model: Path) -> None:
    """The merge changes main and closes the pull request in one step: the previews must be read again then
    (once, the engine took "main changed" to mean "no preview applied yet" and "none open" to mean "as before",
    and the merged pull request's preview kept running with its process)."""
    running.commit({manifest_path("iris"): manifest(iris_model).encode()})
    running.wait_ready("iris")
    pr = update_endpoint(ctx, RawManifest.parse(manifest(constant_model)), actor=ALICE)
    preview = f"iris-pr-{pr.number}"
    wait_for(lambda: running.status(preview) is not None, timeout=30, what="the preview")
    merge_pull_request(ctx, pr.number, actor=ALICE)
    wait_for(lambda: running.status(preview) is None and not server_pids(running.home, f"{preview}-predictor-00001"),
             timeout=30, what="the preview removed with its merged pull request")
