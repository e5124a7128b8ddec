"""Which pull requests get a preview, and what a preview runs (pure over pull-request records)."""

from __future__ import annotations

import json

from neuroscale.engine.desired import Admitted
from neuroscale.engine.previews import PreviewSource, desired_previews, preview_name, sources
from neuroscale.gitops.provider import CheckResult, PullRequest
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.extensions import REQUIRE_API_KEY
from neuroscale.spec.manifest import manifest_path, to_manifest

PASSED = (CheckResult("manifest-parses", "pass"), CheckResult("policies", "pass"), CheckResult("lints", "fail"))


def pull(number: int, *, state: str = "open", action: str = "update", checks: tuple[CheckResult, ...] = PASSED,
         endpoint: str = "iris") -> PullRequest:
    return PullRequest(number=number, title="t", branch=f"endpoint/{endpoint}", author="a", state=state,  # type: ignore[arg-type]
                       head_sha=f"{number:040d}", base_sha="0" * 40, merged_sha=None, created_at="", updated_at="",
                       endpoint=endpoint, action=action, checks=checks)  # type: ignore[arg-type]


def test_open_changes_whose_gating_checks_passed_are_previewed() -> None:
    found = sources([
        pull(1), pull(2, state="merged"), pull(3, action="delete"), pull(4, action="create"),
        pull(5, checks=(CheckResult("manifest-parses", "pass"), CheckResult("policies", "fail"))),
        pull(6, checks=()), pull(7, endpoint="e" * 60)])
    assert [(s.number, s.name) for s in found] == [(1, "iris-pr-1"), (4, "iris-pr-4")]
    assert preview_name("iris", 12) == "iris-pr-12"


def test_beyond_the_limit_the_longest_idle_previews_stop() -> None:
    from neuroscale.engine.previews import longest_idle

    running = [("a-pr-1", 50.0), ("b-pr-2", 10.0), ("c-pr-3", 99.0), ("d-pr-4", 20.0)]
    assert longest_idle(running, limit=2) == ["b-pr-2", "d-pr-4"]
    assert longest_idle(running, limit=4) == [] and longest_idle([], limit=0) == []


class OneManifest:
    """A source repository holding one endpoint's manifest at every ref."""

    def __init__(self, manifest: dict[str, object]) -> None:
        self.files = {manifest_path("iris"): json.dumps(manifest).encode()}

    def resolve(self, ref: str) -> str | None:
        return ref

    def read_files(self, ref: str, prefix: str = "") -> dict[str, bytes]:
        return {path: data for path, data in self.files.items() if path.startswith(prefix)}


def test_a_preview_asks_for_its_endpoints_keys_when_the_endpoint_does() -> None:
    manifest = to_manifest(EndpointSpec(name="iris", owner="team-a", cost_center="cc-1",
                                        storage_uri="file:///models/iris.joblib"))
    source = [PreviewSource(7, "iris", "0" * 40)]
    [open_preview] = desired_previews(OneManifest(manifest), source).values()
    assert isinstance(open_preview, Admitted) and open_preview.spec.api_keys_of == ""
    manifest["metadata"]["annotations"] = {REQUIRE_API_KEY: "true"}
    [keyed] = desired_previews(OneManifest(manifest), source).values()
    assert isinstance(keyed, Admitted) and (keyed.name, keyed.spec.name) == ("iris-pr-7", "iris-pr-7")
    assert keyed.spec.api_keys_of == "iris", "the preview inherits the opt-in, and answers to iris's keys"
