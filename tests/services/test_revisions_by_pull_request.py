"""Canary, promotion and rollback go through pull requests like every change (real git, real SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neuroscale.errors import Conflict, NotFound
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import create_endpoint, current_values, rollback_endpoint, update_endpoint
from neuroscale.services.pulls import merge_pull_request
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path
from neuroscale.yamlio import load_one

from .conftest import ALICE, make_spec, push_to_main

PATH = manifest_path("demo-iris")


def merged(ctx: PlatformContext, spec: EndpointSpec, *, create: bool = False) -> str:
    pr = (create_endpoint if create else update_endpoint)(ctx, spec, actor=ALICE)
    merge_pull_request(ctx, pr.number, actor=ALICE)
    return ctx.repo.read_files("main", PATH)[PATH].decode()


def test_rollback_restores_the_manifest_before_the_last_model_change(ctx: PlatformContext) -> None:
    first = merged(ctx, make_spec(), create=True)
    merged(ctx, make_spec(storageUri="file:///models/iris/v2.joblib", canaryTrafficPercent=20))
    merged(ctx, make_spec(storageUri="file:///models/iris/v2.joblib", owner="team-b"))  # a relabel: not a revision
    pr = rollback_endpoint(ctx, "demo-iris", actor=ALICE)
    assert pr.title.startswith("Roll back endpoint demo-iris") and pr.checks_passed
    assert ctx.repo.read_files(pr.head_sha, PATH)[PATH].decode() == first
    merge_pull_request(ctx, pr.number, actor=ALICE)
    assert current_values(ctx, "demo-iris")["storageUri"] == "file:///models/iris/model.joblib"


def test_promotion_is_an_update_of_the_canary_field(ctx: PlatformContext) -> None:
    merged(ctx, make_spec(), create=True)
    canary = merged(ctx, make_spec(storageUri="file:///models/iris/v2.joblib", canaryTrafficPercent=20))
    assert load_one(canary)["spec"]["predictor"]["canaryTrafficPercent"] == 20
    values = {**current_values(ctx, "demo-iris"), "canaryTrafficPercent": None}
    promoted = merged(ctx, EndpointSpec.from_input(values))
    assert "canaryTrafficPercent" not in load_one(promoted)["spec"]["predictor"]


def test_rollback_needs_an_earlier_revision_and_no_open_pull_request(ctx: PlatformContext, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="not on main"):
        rollback_endpoint(ctx, "demo-iris", actor=ALICE)
    merged(ctx, make_spec(), create=True)
    with pytest.raises(NotFound, match="no earlier revision"):
        rollback_endpoint(ctx, "demo-iris", actor=ALICE)
    update_endpoint(ctx, make_spec(storageUri="file:///models/iris/v2.joblib"), actor=ALICE)
    with pytest.raises(Conflict, match="is open"):
        rollback_endpoint(ctx, "demo-iris", actor=ALICE)


def test_rollback_skips_versions_that_cannot_be_served(ctx: PlatformContext, tmp_path: Path) -> None:
    first = merged(ctx, make_spec(), create=True)
    broken = first.replace('name: "sklearn"', 'name: "tensorflow"')
    push_to_main(ctx, {PATH: broken}, work=tmp_path / "work", message="unservable")
    push_to_main(ctx, {PATH: first.replace("model.joblib", "v3.joblib")}, work=tmp_path / "work", message="v3")
    pr = rollback_endpoint(ctx, "demo-iris", actor=ALICE)
    assert ctx.repo.read_files(pr.head_sha, PATH)[PATH].decode() == first
