"""Previews and their prediction diff under lifecycles nobody planned, on a real platform.

The pull request moves while its diff replays, or its branch is deleted with plain git: the checks,
pages and previews must follow what the repository says.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from neuroscale.engine.previews import preview_name
from neuroscale.errors import Conflict
from neuroscale.gitops.provider import CheckResult
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import RawManifest, update_endpoint
from neuroscale.services.prediction_diff import CHECK_PREDICTIONS, prediction_check
from neuroscale.services.previews import preview_state
from neuroscale.services.pulls import get_pull_request, merge_pull_request
from neuroscale.spec.manifest import manifest_path
from tests.conftest import wait_for
from tests.engine.conftest import Platform, server_pids
from tests.engine.test_engine_previews import ALICE, SAMPLE, ctx, ctx_of, manifest  # noqa: F401
from tests.engine.test_engine_previews_redteam import GATE

#: Long enough a replay that a push lands, is checked and previewed while it runs.
LONG_SAMPLE = "".join(json.dumps(body) + "\n" for body in SAMPLE * 300)


def test_a_push_during_the_diff_never_gives_the_old_head_the_new_models_answers(
        running: Platform, ctx: PlatformContext, ctx_of: Callable[[Platform], PlatformContext],
        iris_model: Path, constant_model: Path, model_dir: Path) -> None:
    running.commit({manifest_path("iris"): manifest(iris_model).encode(),
                    "apps/iris/sample-requests.jsonl": LONG_SAMPLE.encode()})
    running.wait_ready("iris")
    twin = model_dir / "twin.joblib"
    shutil.copy(iris_model, twin)
    first = update_endpoint(ctx, RawManifest.parse(manifest(twin, annotations=GATE)), actor=ALICE)
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
