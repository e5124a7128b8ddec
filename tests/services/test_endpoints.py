"""Endpoint and pull-request use cases end to end over a real bare repository and real SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from neuroscale.errors import Conflict, InvalidInput, NotFound
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import (
    RawManifest,
    create_endpoint,
    current_spec,
    delete_endpoint,
    list_endpoints_on_main,
    manifests_on_main,
    update_endpoint,
)
from neuroscale.services.pr_checks import CHECK_COST, CHECK_DIFF, CHECK_MANIFEST, CHECK_POLICIES, PIPELINE_CHECKS

ALL_CHECKS = (CHECK_MANIFEST, *PIPELINE_CHECKS)
from neuroscale.services.pulls import (
    close_pull_request,
    get_pull_request,
    list_pull_requests,
    merge_pull_request,
)
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, render

from .conftest import ALICE, BASE_INPUT, git, make_spec, push_to_main, snapshot

MANIFEST = manifest_path("demo-iris")


def test_open_creates_home_once(home: Home) -> None:
    with pytest.raises(NotFound) as caught:
        PlatformContext.open(home)
    assert "neuroscale up" in caught.value.fix and not home.root.exists()
    with PlatformContext.open(home, create=True) as ctx:
        main = ctx.repo.resolve("main")
        assert set(ctx.repo.read_files("main")) == {"apps/.gitkeep", "README.md"}
    with PlatformContext.open(home, create=True) as ctx, PlatformContext.open(home) as again:
        assert ctx.repo.resolve("main") == main == again.repo.resolve("main")


def test_golden_path_create_check_merge(ctx: PlatformContext) -> None:
    spec = make_spec()
    pr = create_endpoint(ctx, spec, actor=ALICE)
    assert (pr.number, pr.branch, pr.state, pr.action, pr.endpoint) == (1, "endpoint/demo-iris", "open", "create",
                                                                        "demo-iris")
    assert [(c.name, c.status) for c in pr.checks] == [(name, "pass") for name in ALL_CHECKS]
    # The same pipeline as CI: the cost delta and the rendered diff of the merge are on the pull request.
    checks = {c.name: c for c in pr.checks}
    assert checks[CHECK_COST].findings[0]["file"] == MANIFEST
    assert "demo-iris added" in checks[CHECK_COST].findings[0]["message"]
    assert [f["message"] for f in checks[CHECK_DIFF].findings] == ["added InferenceService default/demo-iris"]
    assert ctx.repo.read_files(pr.head_sha, MANIFEST) == {MANIFEST: render(spec).encode()}
    assert list_endpoints_on_main(ctx) == [], "nothing reaches main before the merge"

    merged = merge_pull_request(ctx, pr.number, actor=ALICE)
    assert merged.state == "merged" and merged.merged_sha == ctx.repo.resolve("main")
    assert ctx.repo.read_files("main", MANIFEST) == {MANIFEST: render(spec).encode()}
    assert list_endpoints_on_main(ctx) == [spec]
    assert ctx.repo.branches() == ["main"]
    assert [p.state for p in list_pull_requests(ctx)] == ["merged"]


def test_create_twice_updates_the_open_pull_request(ctx: PlatformContext) -> None:
    first = create_endpoint(ctx, make_spec(), actor=ALICE)
    second = create_endpoint(ctx, make_spec(cpuLimit="2"), actor=ALICE)
    assert second.number == first.number and second.head_sha != first.head_sha
    assert len(list_pull_requests(ctx)) == 1 and ctx.repo.branches() == ["endpoint/demo-iris", "main"]
    assert b'cpu: "2"' in ctx.repo.read_files(second.head_sha, MANIFEST)[MANIFEST]
    assert second.checks_passed, "checks ran again on the new head"
    assert current_spec(ctx, "demo-iris").cpu_limit == "2"


def test_create_existing_endpoint_is_a_conflict(ctx: PlatformContext) -> None:
    merge_pull_request(ctx, create_endpoint(ctx, make_spec(), actor=ALICE).number, actor=ALICE)
    before = snapshot(ctx)
    with pytest.raises(Conflict) as caught:
        create_endpoint(ctx, make_spec(cpuLimit="2"), actor=ALICE)
    assert "endpoint update demo-iris" in caught.value.fix
    assert snapshot(ctx) == before


def test_update_and_delete_go_through_pull_requests(ctx: PlatformContext) -> None:
    with pytest.raises(NotFound):
        update_endpoint(ctx, make_spec(), actor=ALICE)
    with pytest.raises(NotFound):
        delete_endpoint(ctx, "demo-iris", actor=ALICE)
    merge_pull_request(ctx, create_endpoint(ctx, make_spec(), actor=ALICE).number, actor=ALICE)

    update = update_endpoint(ctx, make_spec(memoryLimit="2Gi"), actor=ALICE)
    assert (update.action, update.title, update.checks_passed) == ("update", "Update endpoint demo-iris", True)
    assert list_endpoints_on_main(ctx)[0].memory_limit == "1Gi", "main unchanged until merged"
    with pytest.raises(Conflict):
        delete_endpoint(ctx, "demo-iris", actor=ALICE)
    merge_pull_request(ctx, update.number, actor=ALICE)
    assert list_endpoints_on_main(ctx)[0].memory_limit == "2Gi"

    delete = delete_endpoint(ctx, "demo-iris", actor=ALICE)
    assert delete.action == "delete" and delete.checks_passed
    assert ctx.repo.read_files(delete.head_sha, "apps/demo-iris/") == {}
    merge_pull_request(ctx, delete.number, actor=ALICE)
    assert list_endpoints_on_main(ctx) == [] and ctx.repo.read_files("main", "apps/") == {"apps/.gitkeep": b""}


def test_update_while_create_is_open_updates_that_pull_request(ctx: PlatformContext) -> None:
    pr = create_endpoint(ctx, make_spec(), actor=ALICE)
    again = update_endpoint(ctx, make_spec(minReplicas=2, maxReplicas=3), actor=ALICE)
    assert again.number == pr.number and again.action == "create"


MISSING_COST_CENTER = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: demo-iris
  labels:
    owner: team-ml
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: file:///models/iris/model.joblib
      resources:
        requests: {cpu: 100m, memory: 256Mi}
        limits: {cpu: "1", memory: 1Gi}
"""
NO_RESOURCES = """\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: demo-iris
  labels: {owner: team-ml, cost-center: cc-1234}
spec:
  predictor:
    model:
      modelFormat: {name: sklearn}
      storageUri: file:///models/iris/model.joblib
"""


@pytest.mark.parametrize(("text", "failing", "field"), [
    (MISSING_COST_CENTER, {CHECK_POLICIES}, "metadata.labels.cost-center"),
    (NO_RESOURCES, {CHECK_POLICIES}, "spec.predictor.model.resources"),
])
def test_merge_refused_while_checks_fail(ctx: PlatformContext, text: str, failing: set[str], field: str) -> None:
    pr = create_endpoint(ctx, RawManifest.parse(text), actor=ALICE)
    assert ctx.repo.read_files(pr.head_sha, MANIFEST) == {MANIFEST: text.encode()}, "committed as written"
    assert {c.name for c in pr.failing_checks} == failing
    policy = next(c for c in pr.checks if c.name == CHECK_POLICIES)
    assert any(f.get("field_path", "").startswith(field) and f.get("fix") and f.get("file") == MANIFEST
               for f in policy.findings), policy.findings
    main = ctx.repo.resolve("main")
    with pytest.raises(Conflict) as caught:
        merge_pull_request(ctx, pr.number, actor=ALICE)
    assert all(name in caught.value.message for name in failing)
    assert field.split(".")[-1] in caught.value.fix
    assert ctx.repo.resolve("main") == main and get_pull_request(ctx, pr.number).state == "open"

    fixed = create_endpoint(ctx, make_spec(), actor=ALICE)
    assert fixed.number == pr.number and fixed.checks_passed
    assert merge_pull_request(ctx, pr.number, actor=ALICE).state == "merged"


def test_close_deletes_the_branch(ctx: PlatformContext) -> None:
    pr = create_endpoint(ctx, make_spec(), actor=ALICE)
    closed = close_pull_request(ctx, pr.number, actor=ALICE)
    assert closed.state == "closed" and ctx.repo.branches() == ["main"]
    assert [p.number for p in list_pull_requests(ctx, state="closed")] == [pr.number]
    assert list_pull_requests(ctx, state="open") == []
    with pytest.raises(InvalidInput):
        list_pull_requests(ctx, state="weird")


def test_merge_conflicts_when_main_moved(ctx: PlatformContext, tmp_path: Path) -> None:
    pr = create_endpoint(ctx, make_spec(), actor=ALICE)
    pushed = push_to_main(ctx, {MANIFEST: render(make_spec(cpuLimit="3"))}, work=tmp_path / "clone")
    with pytest.raises(Conflict) as caught:
        merge_pull_request(ctx, pr.number, actor=ALICE)
    assert MANIFEST in caught.value.message and "close" in caught.value.fix
    assert ctx.repo.resolve("main") == pushed
    assert get_pull_request(ctx, pr.number).state == "open"


def test_plain_git_push_to_main_is_seen(ctx: PlatformContext, tmp_path: Path) -> None:
    spec = make_spec(name="pushed")
    push_to_main(ctx, {manifest_path("pushed"): render(spec), "apps/broken/inference-service.yaml": "kind: Pod\n"},
                 work=tmp_path / "clone")
    assert list_endpoints_on_main(ctx) == [spec]
    broken = [e for e in manifests_on_main(ctx) if e.spec is None]
    assert [e.path for e in broken] == ["apps/broken/inference-service.yaml"] and "InferenceService" in broken[0].error
    with pytest.raises(Conflict):
        create_endpoint(ctx, spec, actor=ALICE)
    assert update_endpoint(ctx, make_spec(name="pushed", cpuLimit="2"), actor=ALICE).checks_passed


def test_commit_pushed_to_the_branch_is_followed_and_checked(ctx: PlatformContext, tmp_path: Path) -> None:
    pr = create_endpoint(ctx, make_spec(), actor=ALICE)
    work = tmp_path / "clone"
    git("clone", "--quiet", "--branch", pr.branch, str(ctx.repo.path), str(work), cwd=tmp_path)
    (work / MANIFEST).write_text("kind: NotAnIsvc\n")
    git("commit", "--quiet", "-am", "break it", cwd=work)
    git("push", "--quiet", "origin", pr.branch, cwd=work)

    [listed] = list_pull_requests(ctx, state="open")
    assert listed.head_sha == git("rev-parse", "HEAD", cwd=work)  # the list follows the branch too
    followed = get_pull_request(ctx, pr.number)
    assert followed.head_sha == git("rev-parse", "HEAD", cwd=work)
    assert {c.name for c in followed.failing_checks} >= {CHECK_MANIFEST}
    with pytest.raises(Conflict):
        merge_pull_request(ctx, pr.number, actor=ALICE)


def test_concurrent_proposals_get_sequential_numbers(home: Home) -> None:
    PlatformContext.open(home, create=True).close()
    errors: list[BaseException] = []

    def propose(name: str) -> None:
        try:
            with PlatformContext.open(home) as own:
                create_endpoint(own, make_spec(name=name), actor=ALICE)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=propose, args=(f"ep-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with PlatformContext.open(home) as ctx:
        assert sorted(p.number for p in list_pull_requests(ctx)) == [1, 2, 3, 4]
        assert len(ctx.repo.branches()) == 5


NOT_ISVC = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
ISVC = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: {name}\n"


@pytest.mark.parametrize("data", [
    {"name": "../x"}, {"name": "Demo"}, {"name": "a" * 64}, {"name": "-x"},
    {"owner": ""}, {"costCenter": None}, {"owner": "bad owner"},
    {"cpuRequest": "lots"}, {"memoryLimit": "1GB"}, {"cpuRequest": "2", "cpuLimit": "1"},
    {"modelFormat": "tensorflow"}, {"storageUri": ""}, {"minReplicas": 3, "maxReplicas": 1},
    {"unknownField": "x"},
], ids=str)
def test_invalid_spec_leaves_nothing_behind(ctx: PlatformContext, data: dict[str, object]) -> None:
    before = snapshot(ctx)
    with pytest.raises(InvalidInput):
        create_endpoint(ctx, EndpointSpec.from_input({**BASE_INPUT, **data}), actor=ALICE)
    assert snapshot(ctx) == before


@pytest.mark.parametrize("text", [
    NOT_ISVC, "just text\n", "- a\n- b\n", "key: [unclosed\n", "", ISVC.format(name="x") + "---\n" + NOT_ISVC,
    ISVC.format(name="../x"), ISVC.format(name="Upper"), ISVC.format(name="a" * 64),
    "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {}\n",
], ids=["configmap", "scalar", "list", "broken-yaml", "empty", "two-docs", "dotdot", "upper", "too-long", "no-name"])
def test_yaml_that_is_not_a_usable_inference_service_leaves_nothing(ctx: PlatformContext, text: str) -> None:
    before = snapshot(ctx)
    with pytest.raises(InvalidInput):
        create_endpoint(ctx, RawManifest.parse(text, where="file.yaml"), actor=ALICE)
    assert snapshot(ctx) == before


@pytest.mark.parametrize("name", ["../x", "UPPER", "a" * 64, ""])
def test_invalid_names_elsewhere(ctx: PlatformContext, name: str) -> None:
    before = snapshot(ctx)
    with pytest.raises(InvalidInput):
        delete_endpoint(ctx, name, actor=ALICE)
    with pytest.raises(InvalidInput):
        current_spec(ctx, name)
    assert snapshot(ctx) == before


def test_failed_insert_after_push_removes_the_branch(ctx: PlatformContext) -> None:
    before = snapshot(ctx)
    ctx.db.execute("CREATE TEMP TRIGGER boom BEFORE INSERT ON pull_requests BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(Exception, match="no"):
        create_endpoint(ctx, make_spec(), actor=ALICE)
    assert snapshot(ctx) == before


def test_sample_request_is_committed_beside_the_manifest(ctx: PlatformContext) -> None:
    bad = b'{"instances": []}'
    with pytest.raises(InvalidInput) as caught:
        create_endpoint(ctx, make_spec(name="sampled"), actor=ALICE, sample_request=bad)
    assert '"instances" must be a non-empty list' in caught.value.message
    assert ctx.provider.find_open("sampled") is None and "endpoint/sampled" not in ctx.repo.branches()
    good = b'{"instances": [[1, 2, 3, 4]]}\n'
    pr = create_endpoint(ctx, make_spec(name="sampled"), actor=ALICE, sample_request=good)
    files = ctx.repo.read_files(pr.head_sha, "apps/sampled/")
    assert files["apps/sampled/sample-request.json"] == good and pr.checks_passed
