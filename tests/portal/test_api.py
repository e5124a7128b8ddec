"""REST API over real HTTP against the real portal process: the pull-request flow and bad input."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from neuroscale.spec.fields import FIELDS
from tests.portal.conftest import Portal


def _create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/endpoints", json=body)
    assert response.status_code == 201, response.text
    pull: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/pulls/{pull['number']}"
    return pull


def test_health_and_fields_come_from_the_spec_table(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    fields = client.get("/api/fields").json()
    assert [f["key"] for f in fields] == [f.key for f in FIELDS]
    by_key = {f["key"]: f for f in fields}
    assert by_key["modelFormat"]["choices"] == ["sklearn", "xgboost", "lightgbm"]
    assert by_key["name"]["required"] is True and by_key["name"]["maxLength"] == 63


def test_create_check_merge_then_update_and_delete_through_pull_requests(client: httpx.Client,
                                                                          portal: Portal) -> None:
    pull = _create(client, portal.spec("flow-iris"))
    assert (pull["state"], pull["action"], pull["branch"]) == ("open", "create", "endpoint/flow-iris")
    assert pull["checks"] and all(check["status"] == "pass" for check in pull["checks"]), pull["checks"]

    shown = client.get(f"/api/pulls/{pull['number']}").json()
    assert shown["headSha"] == pull["headSha"]
    kustomization, change = shown["files"]
    assert kustomization["path"] == "apps/flow-iris/Kustomization" and any("inference-service.yaml" in line for line in kustomization["diff"])
    assert change["path"] == "apps/flow-iris/inference-service.yaml" and change["change"] == "added"
    assert "+kind: InferenceService" in change["diff"]

    again = _create(client, portal.spec("flow-iris", cpuLimit="2"))
    assert again["number"] == pull["number"] and again["headSha"] != pull["headSha"]
    assert 'cpu: "2"' in client.get(f"/api/pulls/{pull['number']}").json()["files"][1]["content"]
    assert [p["number"] for p in client.get("/api/pulls", params={"state": "open"}).json()].count(pull["number"]) == 1

    merged = client.post(f"/api/pulls/{pull['number']}/merge").json()
    assert merged["state"] == "merged" and merged["mergedSha"]
    endpoint = client.get("/api/endpoints/flow-iris").json()
    assert endpoint["onMain"] is True and endpoint["spec"]["cpuLimit"] == "2"
    assert "flow-iris" in [e["name"] for e in client.get("/api/endpoints").json()]

    update = client.put("/api/endpoints/flow-iris", json=portal.spec("flow-iris", memoryLimit="1Gi"))
    assert update.status_code == 201 and update.json()["action"] == "update"
    closed = client.post(f"/api/pulls/{update.json()['number']}/close").json()
    assert closed["state"] == "closed"
    refused = client.post(f"/api/pulls/{update.json()['number']}/merge")
    assert refused.status_code == 409 and refused.json()["reason"] == "Conflict"

    delete = client.delete("/api/endpoints/flow-iris")
    assert delete.status_code == 201 and delete.json()["action"] == "delete"
    removal = client.get(f"/api/pulls/{delete.json()['number']}").json()
    assert removal["files"][0]["change"] == "deleted"


def test_merge_is_refused_with_the_failing_checks(client: httpx.Client, portal: Portal) -> None:
    pull = _create(client, portal.spec("ftp-model", storageUri="ftp://models/iris.joblib"))
    failing = [check for check in pull["checks"] if check["status"] != "pass"]
    assert failing, pull["checks"]
    refused = client.post(f"/api/pulls/{pull['number']}/merge")
    assert refused.status_code == 409
    body = refused.json()
    assert body["reason"] == "Conflict" and body["fix"]
    reported = {check["name"] for check in body["details"]["checks"] if check["status"] != "pass"}
    assert reported == {check["name"] for check in failing}
    assert client.get(f"/api/pulls/{pull['number']}").json()["state"] == "open"


#: (label, spec overrides or a raw body, expected status, field named in the error)
BAD_INPUTS: list[tuple[str, dict[str, Any] | bytes, int, str]] = [
    ("path traversal name", {"name": "../x"}, 422, "name"),
    ("uppercase name", {"name": "Fraud"}, 422, "name"),
    ("64-character name", {"name": "a" * 64}, 422, "name"),
    ("missing owner label", {"owner": None}, 422, "owner"),
    ("missing cost-center label", {"costCenter": None}, 422, "costCenter"),
    ("bad quantity", {"cpuRequest": "lots"}, 422, "cpuRequest"),
    ("overflowing quantity", {"cpuLimit": "1e9999999"}, 422, "cpuLimit"),
    ("vanishing quantity", {"cpuRequest": "1e-1000000000"}, 422, "cpuRequest"),
    ("non-ASCII digits", {"memoryLimit": "١٠٠Mi"}, 422, "memoryLimit"),
    ("huge JSON number", b'{"name": "bad-input", "owner": "o", "costCenter": "cc-1", "storageUri": "/m/model.joblib", '
                         b'"cpuLimit": 1e308}', 422, "cpuLimit"),
    ("unknown model format", {"modelFormat": "pytorch"}, 422, "modelFormat"),
    ("unknown field", {"gpu": 1}, 422, "gpu"),
    ("malformed JSON", b'{"name": "bad-input",', 400, ""),
    ("JSON that is not an object", b'["bad-input"]', 400, ""),
    ("empty body", b"", 400, ""),
    ("oversized body", b'{"name": "' + b"a" * 70_000 + b'"}', 413, ""),
]


@pytest.mark.parametrize(("label", "sent", "status", "field"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_a_4xx_json_reason_and_leaves_nothing_behind(
        client: httpx.Client, portal: Portal, label: str, sent: dict[str, Any] | bytes, status: int,
        field: str) -> None:
    content = sent if isinstance(sent, bytes) else orjson.dumps(portal.spec("bad-input", **sent))
    before = portal.git_state()
    response = client.post("/api/endpoints", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["reason"] and body["error"]
    if field:
        assert field in [item["field"] for item in body["details"]["fields"]], body
    assert portal.git_state() == before


def test_streamed_body_over_the_limit_is_refused_without_content_length(client: httpx.Client,
                                                                         portal: Portal) -> None:
    before = portal.git_state()
    chunks = (b'{"name": "' + b"a" * 8192 for _ in range(12))
    response = client.post("/api/endpoints", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["reason"] == "PayloadTooLarge"
    assert portal.git_state() == before


@pytest.mark.parametrize(("method", "path", "status", "reason"), [
    ("GET", "/api/nothing-here", 404, "NotFound"),
    ("PATCH", "/api/endpoints", 405, "MethodNotAllowed"),
    ("GET", "/api/pulls/9999", 404, "NotFound"),
    ("GET", "/api/pulls?state=pending", 422, "InvalidInput"),
    ("GET", "/api/events?limit=lots", 422, "InvalidInput"),
    ("GET", "/api/endpoints/never-created", 404, "NotFound"),
    ("GET", "/api/endpoints/UPPER", 422, "InvalidInput"),
    ("DELETE", "/api/endpoints/never-created", 404, "NotFound"),
    ("POST", "/api/pulls/9999/merge", 404, "NotFound"),
    ("GET", "/api/pulls/99999999999999999999", 404, "NotFound"),
])
def test_client_mistakes_are_json_errors_not_500(client: httpx.Client, method: str, path: str, status: int,
                                                 reason: str) -> None:
    response = client.request(method, path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["reason"] == reason


def test_put_refuses_a_body_naming_another_endpoint(client: httpx.Client, portal: Portal) -> None:
    before = portal.git_state()
    response = client.put("/api/endpoints/some-endpoint", json=portal.spec("other-endpoint"))
    assert response.status_code == 422 and response.json()["details"]["fields"][0]["field"] == "name"
    assert portal.git_state() == before


def test_api_keys_are_an_endpoint_sub_resource(client: httpx.Client, portal: Portal) -> None:
    _create(client, portal.spec("keyed-iris"))
    made = client.post("/api/endpoints/keyed-iris/keys", json={"description": "batch job"})
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key"].startswith("nsk_") and key["enforced"] is False and key["createdBy"] == "admin"
    listed = client.get("/api/endpoints/keyed-iris/keys")
    assert listed.status_code == 200 and [k["id"] for k in listed.json()] == [key["id"]]
    assert key["key"] not in listed.text and "nsk_" not in listed.text
    assert json.loads(portal.home.api_keys_file.read_text())["endpoints"]["keyed-iris"][0]["id"] == key["id"]

    for body in ({"description": 7}, {"description": "x", "role": "admin"}, {"description": "x" * 201}):
        assert client.post("/api/endpoints/keyed-iris/keys", json=body).status_code == 422, body
    viewer = portal.bearer(portal.add_user("keys-viewer", "viewer"))
    assert viewer.post("/api/endpoints/keyed-iris/keys", json={}).status_code == 403
    assert viewer.delete(f"/api/endpoints/keyed-iris/keys/{key['id']}").status_code == 403
    assert viewer.get("/api/endpoints/keyed-iris/keys").status_code == 200
    viewer.close()
    assert client.post("/api/endpoints/never-created/keys", json={}).status_code == 404

    revoked = client.delete(f"/api/endpoints/keyed-iris/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["id"] == key["id"]
    again = client.delete(f"/api/endpoints/keyed-iris/keys/{key['id']}")
    assert again.status_code == 404 and again.json()["reason"] == "NotFound"
    assert client.get("/api/endpoints/keyed-iris/keys").json() == []
