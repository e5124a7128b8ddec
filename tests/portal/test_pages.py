"""Server-rendered pages over real HTTP: the generated form, field errors, PR, endpoint and event pages."""

from __future__ import annotations

import json
import re
from html import unescape

import httpx
import pytest

from neuroscale.engine.store import EngineStore
from neuroscale.gitops.repo import Author
from neuroscale.services.context import PlatformContext
from neuroscale.spec import extensions
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.fields import FIELDS, LABEL_OWNER
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.status.conditions import ConditionType, false, true
from neuroscale.status.heartbeat import Heartbeat
from neuroscale.status.model import EndpointStatus, Event, EventType, Health, RevisionTraffic, Sync
from neuroscale.yamlio import dump
from tests.portal.conftest import Portal


def _input_tag(page: str, key: str) -> str:
    match = re.search(rf'<(input|select)[^>]*\bname="{key}"[^>]*>', page)
    assert match, f"no control for {key}"
    return match.group(0)


def test_form_is_generated_from_the_field_table(session: httpx.Client) -> None:
    page = session.get("/new").text
    for field in FIELDS:
        tag = _input_tag(page, field.key)
        assert f'<label for="{field.key}">{field.title}' in page
        assert unescape(field.description) in unescape(page)
        assert ("required" in tag) is field.required, tag
        if field.kind == "enum":
            assert tag.startswith("<select")
            assert all(f'<option value="{choice}"' in page for choice in field.choices)
        if field.kind == "integer":
            assert 'type="number"' in tag
        if field.max_length:
            assert f'maxlength="{field.max_length}"' in tag
        if field.pattern:
            assert "pattern=" in tag


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("cpuRequest", "plenty", "not a Kubernetes quantity"),
    ("cpuLimit", "1e9999999", "too large for a Kubernetes quantity"),
    ("cpuRequest", "1e-1000000000", "smaller than 1n"),
    ("memoryLimit", "١٠٠Mi", "not a Kubernetes quantity"),
    ("storageUri", "pvc://models/../../", "climbs out of claim 'models'"),
    ("storageUri", "file://../other-team/model", "names the host '..'"),
    ("storageUri", "/models/%2e%2e/%2e%2e/etc/passwd", "has a '..' segment"),
])
def test_bad_form_value_is_shown_next_to_its_field_and_keeps_the_input(session: httpx.Client, portal: Portal,
                                                                       field: str, value: str, problem: str) -> None:
    before = portal.git_state()
    values = {**portal.spec("form-bad", **{field: value}), "owner": "team-keep"}
    response = session.post("/new", data=values)
    assert response.status_code == 422
    page = response.text
    assert 'class="field invalid"' in page and f'id="{field}-error"' in page
    error = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
    assert error and problem in unescape(error.group(1))
    assert 'value="team-keep"' in _input_tag(page, "owner") and f'value="{value}"' in _input_tag(page, field)
    assert portal.git_state() == before


def test_field_and_cross_field_errors_come_in_one_round(session: httpx.Client, portal: Portal) -> None:
    values = portal.spec("Form_Bad", minReplicas="3", maxReplicas="1", cpuRequest="2", cpuLimit="1")
    page = session.post("/new", data=values).text
    errors = {field: unescape(found.group(1)) for field in ("name", "maxReplicas", "cpuRequest")
              if (found := re.search(rf'id="{field}-error">(.*?)</p>', page, re.S))}
    assert "not a DNS-1123 label" in errors["name"]
    assert "maxReplicas (1) is below minReplicas (3)" in errors["maxReplicas"]
    assert "cpuRequest 2 is above cpuLimit 1" in errors["cpuRequest"]


def test_form_submission_redirects_to_the_pull_request_page(session: httpx.Client, portal: Portal) -> None:
    response = session.post("/new", data=portal.spec("form-good"))
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/pulls/\d+", location)
    page = session.get(location).text
    assert "Create endpoint form-good" in page and "endpoint/form-good" in page
    assert 'data-check="manifest-parses" data-status="pass"' in page
    assert "apps/form-good/inference-service.yaml" in page
    assert location in session.get("/pulls").text


def test_endpoint_and_event_pages_show_engine_status(client: httpx.Client, session: httpx.Client,
                                                    portal: Portal) -> None:
    conditions = (
        false(ConditionType.Ready, "ModelLoadFailed", "model file is corrupted"),
        false(ConditionType.PredictorReady, "ModelLoadFailed", "model file is corrupted"),
        true(ConditionType.IngressReady, "RouteReady", "route installed"),
    )
    status = EndpointStatus(name="seen-status", namespace="default", url="http://seen-status.default.localhost:8080",
                            sync=Sync.OutOfSync, health=Health.Degraded, revision="seen-status-predictor-00001",
                            conditions=conditions, updated_at="2026-01-02T03:04:05+00:00")
    with PlatformContext.open(portal.home) as ctx:
        store = EngineStore(ctx.db)
        store.save_status(status)
        store.record_event(Event(time="2026-01-02T03:04:05+00:00", endpoint="seen-status", type=EventType.Warning,
                                 reason="ModelLoadFailed", message="model file is corrupted"))
    page = session.get("/endpoints").text
    card = page[page.index('id="ep-seen-status"'):]
    for expected in ("Degraded", "OutOfSync", "http://seen-status.default.localhost:8080",
                     "seen-status-predictor-00001", "ModelLoadFailed", "model file is corrupted", "RouteReady"):
        assert expected in card, expected
    assert 'data-condition="IngressReady"' in card
    events = session.get("/events", params={"endpoint": "seen-status"}).text
    assert "ModelLoadFailed" in events and "model file is corrupted" in events
    api = client.get("/api/endpoints/seen-status").json()
    assert api["onMain"] is False and api["status"]["health"] == "Degraded"
    assert api["status"]["conditions"][2]["lastTransition"] == ""


def test_the_endpoint_page_shows_the_shadow_comparison_the_gateway_publishes(session: httpx.Client,
                                                                             portal: Portal) -> None:
    traffic = (RevisionTraffic("shadowed-predictor-00001", 100, False, 1, 1),
               RevisionTraffic("shadowed-predictor-00002", 0, True, 1, 1))
    manifest = to_manifest(EndpointSpec.from_input(portal.spec("shadowed")))
    manifest["metadata"]["annotations"] = {extensions.SHADOW_PERCENT: "100"}  # main asks for shadow traffic
    with PlatformContext.open(portal.home) as ctx:
        ctx.repo.commit(branch="main", files={manifest_path("shadowed"): dump(manifest).encode()},
                        message="plain push", author=Author("someone", "someone@example.com"))
        EngineStore(ctx.db).save_status(EndpointStatus(
            name="shadowed", namespace="default", url="http://shadowed.default.localhost:8080", sync=Sync.Synced,
            health=Health.Healthy, revision="shadowed-predictor-00001", traffic=traffic,
            updated_at="2026-01-02T03:04:05+00:00"))
    portal.home.shadow_file.parent.mkdir(parents=True, exist_ok=True)
    portal.home.shadow_file.write_text(json.dumps({"shadowed": {
        "revision": "shadowed-predictor-00002", "agree": 30, "disagree": 10, "error": 2, "skipped": 0,
        "agreement": 0.75, "primary_ms": {"p50": 1.25, "p99": 4.0}, "shadow_ms": {"p50": 2.5, "p99": 9.0}}}))
    page = session.get("/endpoints/shadowed").text
    section = page[page.index('id="shadow-h"'):page.index('id="conditions-h"')]
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", section)).split())
    assert "copied to shadowed-predictor-00002" in text
    assert "75.0% 30 10 2 0 p50 1.2 ms · p99 4.0 ms p50 2.5 ms · p99 9.0 ms" in text


def test_unknown_page_is_an_html_404(session: httpx.Client) -> None:
    response = session.get("/no-such-page")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "nothing at GET /no-such-page" in response.text


def test_failing_checks_disable_merge_and_explain_each_failure(client: httpx.Client, session: httpx.Client,
                                                              portal: Portal) -> None:
    created = client.post("/api/endpoints", json=portal.spec("page-ftp", storageUri="ftp://models/iris.joblib"))
    number = created.json()["number"]
    failing = [c for c in created.json()["checks"] if c["status"] != "pass"]
    assert failing
    page = session.get(f"/pulls/{number}").text
    button = re.search(r'<button[^>]*id="merge-button"[^>]*>', page)
    assert button and "disabled" in button.group(0)
    assert "Merging is blocked" in page
    for check in failing:
        assert f'data-check="{check["name"]}" data-status="{check["status"]}"' in page
        for finding in check["findings"]:
            assert unescape(finding["message"]) in unescape(page)
            assert finding["rule"] in page
            if finding.get("fix"):
                assert unescape(finding["fix"]) in unescape(page)
            if finding.get("fieldPath"):
                assert finding["fieldPath"] in page
    refused = session.post(f"/pulls/{number}/merge")
    assert refused.status_code == 409 and 'id="action-error"' in refused.text
    assert client.get(f"/api/pulls/{number}").json()["state"] == "open"

    assert 'href="/endpoints/page-ftp/edit"' in page
    form = session.get("/endpoints/page-ftp/edit").text
    assert 'value="ftp://models/iris.joblib"' in _input_tag(form, "storageUri")
    fixed = session.post("/endpoints/page-ftp/edit", data=portal.spec("page-ftp"))
    assert fixed.headers["location"] == f"/pulls/{number}"
    resubmitted = client.get(f"/api/pulls/{number}").json()
    assert resubmitted["checksPassed"] is True and resubmitted["action"] == "create"


def test_a_model_file_outside_the_model_roots_fails_the_checks_on_the_page(client: httpx.Client,
                                                                           session: httpx.Client,
                                                                           portal: Portal) -> None:
    """A well-formed `file://` URI outside every model root is the policy's call: the pull request shows it."""
    created = client.post("/api/endpoints", json=portal.spec("page-passwd", storageUri="file:///etc/passwd")).json()
    findings = [f for c in created["checks"] if c["status"] == "fail" for f in c["findings"]]
    assert [f["fieldPath"] for f in findings] == ["spec.predictor.model.storageUri"], findings
    assert "under" in findings[0]["message"] and findings[0]["fix"]
    page = unescape(session.get(f"/pulls/{created['number']}").text)
    assert findings[0]["message"] in page and findings[0]["fix"] in page


def test_edit_and_delete_from_the_pages_open_pull_requests(client: httpx.Client, session: httpx.Client,
                                                           portal: Portal) -> None:
    created = client.post("/api/endpoints", json=portal.spec("page-edit", memoryLimit="768Mi")).json()
    merged = client.post(f"/api/pulls/{created['number']}/merge")
    assert merged.status_code == 200, merged.text

    again = session.post("/new", data=portal.spec("page-edit"))
    assert again.status_code == 409 and "already exists on main" in unescape(again.text)
    assert 'value="page-edit"' in _input_tag(again.text, "name")

    form = session.get("/endpoints/page-edit/edit").text
    assert "readonly" in _input_tag(form, "name") and 'value="768Mi"' in _input_tag(form, "memoryLimit")
    values = {**portal.spec("page-edit"), "memoryLimit": "1Gi"}
    edited = session.post("/endpoints/page-edit/edit", data=values)
    assert edited.status_code == 303
    update = client.get(f"/api{edited.headers['location']}").json()
    assert update["action"] == "update" and 'memory: "1Gi"' in update["files"][0]["content"]

    refused = session.post("/endpoints/page-edit/delete")
    assert refused.status_code == 409 and "is open for endpoint page-edit" in unescape(refused.text)
    assert session.post(f"/pulls/{update['number']}/close").status_code == 303
    deleted = session.post("/endpoints/page-edit/delete")
    assert deleted.status_code == 303
    assert client.get(f"/api{deleted.headers['location']}").json()["action"] == "delete"


def test_denied_on_main_shows_the_denial_and_stays_editable(client: httpx.Client, session: httpx.Client,
                                                           portal: Portal) -> None:
    """Issue 10 item 4: a manifest on main without `owner` keeps its last good revision serving, and is fixable."""
    manifest = to_manifest(EndpointSpec.from_input(portal.spec("denied-card")))
    del manifest["metadata"]["labels"][LABEL_OWNER]
    denial = ("denied by neuroscale-require-labels-inferenceservice/owner-label at metadata.labels.owner: label "
              "'owner' must be set and non-empty")
    with PlatformContext.open(portal.home) as ctx:
        ctx.repo.commit(branch="main", files={manifest_path("denied-card"): dump(manifest).encode()},
                        message="plain push", author=Author("someone", "someone@example.com"))
        EngineStore(ctx.db).save_status(EndpointStatus(
            name="denied-card", namespace="default", url="http://denied-card.default.localhost:8080",
            sync=Sync.OutOfSync, health=Health.Degraded, revision="denied-card-predictor-00001",
            conditions=(false(ConditionType.Ready, "AdmissionDenied", denial),
                        true(ConditionType.PredictorReady, "PreviousRevisionServing", "serves"))))
    page = session.get("/endpoints").text
    card = page[page.index('id="ep-denied-card"'):]
    card = card[:card.index("</article>")]
    assert "Denied on <code>main</code> — serving last good revision <code>denied-card-predictor-00001</code>" in card
    assert denial.replace("'", "&#39;") in card and "pruning" not in card
    assert 'href="/endpoints/denied-card/edit"' in card and "/endpoints/denied-card/delete" in card
    form = session.get("/endpoints/denied-card/edit")
    assert form.status_code == 200 and 'value="team-ml"' not in form.text  # the owner is what is missing
    api = client.get("/api/endpoints/denied-card").json()
    assert api["onMain"] is True and api["refused"]["reason"] == "AdmissionDenied"
    assert api["spec"]["costCenter"] == "cc-42" and "owner" not in api["spec"]
    fixed = session.post("/endpoints/denied-card/edit", data={**portal.spec("denied-card"), "owner": "team-growth"})
    assert fixed.status_code == 303  # the fix doctor suggests opens a pull request


def test_a_reconciler_that_stopped_observing_shows_as_unknown(session: httpx.Client, portal: Portal) -> None:
    """Issue 10 item 3: the portal says statuses are stale instead of showing the last Healthy."""
    with PlatformContext.open(portal.home) as ctx:
        store = EngineStore(ctx.db)
        store.save_status(EndpointStatus(
            name="unobserved", namespace="default", url="http://unobserved.default.localhost:8080",
            sync=Sync.Synced, health=Health.Healthy, revision="unobserved-predictor-00001",
            conditions=(true(ConditionType.Ready, "Deployed", "serves main"),)))
        store.beat(Heartbeat(pid=4242, started_at="2026-01-02T03:00:00+00:00",
                             observed_at="2026-01-02T03:04:05+00:00", interval=1.0))
        try:
            page = session.get("/endpoints").text
        finally:
            ctx.db.execute("DELETE FROM engine_heartbeat")  # the portal fixture is shared
    card = page[page.index('id="ep-unobserved"'):]
    card = card[:card.index("</article>")]
    assert ">Unknown<" in card and "ReconcilerNotObserving" in card
    assert "the reconciler (pid 4242) last observed this endpoint" in card and "hung, stopped or dead" in card
    assert 'data-refresh="5"' in page  # it keeps looking until the reconciler is back


def test_a_pushed_sample_of_megabytes_keeps_the_pull_request_page_small(client: httpx.Client, session: httpx.Client,
                                                                        portal: Portal) -> None:
    """Whatever a push puts beside the manifest (a sample file of 20,000 requests, a model file) is read whole by
    the page: the page and the API show about a megabyte of changes at most and name what they left out."""
    created = client.post("/api/endpoints", json=portal.spec("bigsample"))
    assert created.status_code == 201, created.text
    pull = created.json()
    line = json.dumps({"instances": [[6.8, 2.8, 4.8, 1.4]] * 20})
    sample = "".join(f"{line}\n" for _ in range(20_000)).encode()
    with PlatformContext.open(portal.home) as ctx:
        ctx.repo.commit(branch=pull["branch"], files={"apps/bigsample/sample-requests.jsonl": sample,
                                                      "apps/bigsample/model.bin": bytes(range(256)) * 40_000,
                                                      "apps/bigsample/notes.txt": b"small, after the big ones\n"},
                        message="add a sample and a model", author=Author("Alice", "alice@example.com"),
                        start_from=pull["headSha"])
    page = session.get(f"/pulls/{pull['number']}")
    shown = client.get(f"/api/pulls/{pull['number']}").json()
    assert page.status_code == 200 and len(page.content) < 3_000_000, f"{len(page.content):,} bytes"
    assert len(json.dumps(shown)) < 4_000_000
    files = {f["path"]: f for f in shown["files"]}
    assert "+kind: InferenceService" in files["apps/bigsample/inference-service.yaml"]["diff"], "small files shown"
    assert "+small, after the big ones" in files["apps/bigsample/notes.txt"]["diff"], "also past the big ones"
    left_out = files["apps/bigsample/sample-requests.jsonl"]
    assert left_out["diff"] == [] and left_out["content"] == "" and f"{len(sample):,} bytes" in left_out["omitted"]
    assert f"{len(sample):,} bytes" in unescape(page.text) and "git show" in unescape(page.text)
