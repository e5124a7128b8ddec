"""The portal's trust boundary over real HTTP: credentials, roles, Host, Origin, CSRF and media types."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from tests.portal.conftest import Portal


def test_nothing_but_sign_in_and_health_answers_without_a_credential(portal: Portal) -> None:
    with httpx.Client(base_url=portal.url, timeout=30.0) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/login").status_code == 200
        assert anonymous.get("/static/portal.css").status_code == 200
        for path in ("/api/endpoints", "/api/pulls/1", "/api/events", "/api/openapi.json", "/api/me"):
            refused = anonymous.get(path)
            assert refused.status_code == 401 and refused.json()["reason"] == "Unauthenticated", path
            assert refused.headers["www-authenticate"].startswith("Bearer")
        page = anonymous.get("/pulls?state=open")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fpulls%3Fstate%3Dopen"
        assert anonymous.post("/api/endpoints", json=portal.spec("anon")).status_code == 401
        for token in ("Bearer nst_forged", "Bearer", "Basic YWRtaW46YWRtaW4=", "nst_no_scheme"):
            answer = anonymous.get("/api/endpoints", headers={"Authorization": token})
            assert answer.status_code == 401 and answer.json()["reason"] == "Unauthenticated", token


def test_roles_on_the_api(portal: Portal, client: httpx.Client) -> None:
    viewer, author, approver = (portal.add_user(f"guard-{role}", role) for role in ("viewer", "author", "approver"))
    with portal.bearer(viewer) as as_viewer, portal.bearer(author) as as_author, \
            portal.bearer(approver) as as_approver:
        assert as_viewer.get("/api/me").json() == {"name": "guard-viewer", "role": "viewer"}
        assert as_viewer.get("/api/pulls").status_code == 200
        refused = as_viewer.post("/api/endpoints", json=portal.spec("guard-roles"))
        assert refused.status_code == 403 and "may not propose" in refused.json()["error"]

        created = as_author.post("/api/endpoints", json=portal.spec("guard-roles"))
        assert created.status_code == 201 and created.json()["author"] == "guard-author"
        number = created.json()["number"]
        assert as_author.post(f"/api/pulls/{number}/approve").status_code == 403
        mine = client.post("/api/endpoints", json=portal.spec("guard-admins"))
        assert as_author.post(f"/api/pulls/{mine.json()['number']}/merge").status_code == 403

        approved = as_approver.post(f"/api/pulls/{number}/approve")
        assert approved.status_code == 200 and approved.json()["review"]["approvedBy"] == ["guard-approver"]
        merged = as_author.post(f"/api/pulls/{number}/merge")
        assert merged.status_code == 200 and merged.json()["mergedBy"] == "guard-author"


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "localhost.evil.example",
                                  "10.0.0.1", "bad:port"])
def test_foreign_host_names_get_421(client: httpx.Client, host: str) -> None:
    for path in ("/healthz", "/api/endpoints", "/login"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 421 and "MisdirectedRequest" in response.text, (host, path)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2", "[::1]", "iris.default.localhost"])
def test_loopback_host_names_are_served(client: httpx.Client, portal: Portal, host: str) -> None:
    port = urlsplit(portal.url).port
    assert client.get("/api/me", headers={"Host": f"{host}:{port}"}).status_code == 200


def test_a_request_without_host_gets_421(portal: Portal) -> None:
    parts = urlsplit(portal.url)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert sock.recv(200).startswith(b"HTTP/1.1 421")


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://127.0.0.1:1"},
    {"Referer": "http://evil.example/page"}, {"Origin": "https://127.0.0.1"},
])
def test_cross_origin_changes_are_refused_even_with_a_token(client: httpx.Client, portal: Portal,
                                                            headers: dict[str, str]) -> None:
    before = portal.git_state()
    response = client.post("/api/endpoints", json=portal.spec("cross-origin"), headers=headers)
    assert response.status_code == 403 and "cross-site request refused" in response.json()["error"]
    assert portal.git_state() == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonx"])
def test_the_api_takes_changes_only_as_json(client: httpx.Client, portal: Portal, content_type: str) -> None:
    before = portal.git_state()
    response = client.post("/api/endpoints", content=b'{"name": "typed"}', headers={"Content-Type": content_type})
    assert response.status_code == 415 and response.json()["reason"] == "UnsupportedMediaType"
    untyped = client.post("/api/pulls/1/merge", content=b"{}", headers={"Content-Type": ""})
    assert untyped.status_code == 415
    assert portal.git_state() == before
    typed = client.post("/api/endpoints", content=b'{"name": "x"}',
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert typed.status_code == 422  # past the guard: now the spec is judged


def test_session_changes_need_the_csrf_token_and_api_changes_a_bearer(portal: Portal, session: httpx.Client) -> None:
    before = portal.git_state()
    token = session.headers.pop("X-CSRF-Token")
    try:
        assert session.post("/new", data=portal.spec("csrf-none")).status_code == 403
        assert session.post("/new", data={**portal.spec("csrf-bad"), "csrf_token": token[:-1] + "x"}).status_code == 403
        assert session.post("/new", json=portal.spec("csrf-json")).status_code == 403
        other = portal.signed_in()
        foreign = re.search(r'name="csrf_token" value="([^"]+)"', other.get("/new").text)
        other.close()
        assert foreign and session.post("/new", data={**portal.spec("csrf-other"),
                                                      "csrf_token": foreign.group(1)}).status_code == 403
        api = session.post("/api/endpoints", json=portal.spec("csrf-api"))
        assert api.status_code == 403 and "bearer token" in api.json()["error"]
        origin = session.headers.pop("Origin")
        try:  # a browser always names the origin of a POST; a session change that does not is refused
            assert session.post("/new", data={**portal.spec("csrf-origin"), "csrf_token": token}).status_code == 403
        finally:
            session.headers["Origin"] = origin
        assert portal.git_state() == before
        created = session.post("/new", data={**portal.spec("csrf-good"), "csrf_token": token})
        assert created.status_code == 303 and created.headers["location"].startswith("/pulls/")
    finally:
        session.headers["X-CSRF-Token"] = token


def test_sign_in_with_a_token_and_out(portal: Portal) -> None:
    with httpx.Client(base_url=portal.url, timeout=30.0, headers={"Origin": portal.url}) as browser:
        wrong = browser.post("/login", data={"token": "nst_wrong", "next": "/pulls"})
        assert wrong.status_code == 401 and "ns_session" not in browser.cookies
        signed = browser.post("/login", data={"token": portal.admin_token, "next": "//evil.example/x"})
        assert signed.status_code == 200 and 'url=/endpoints"' in signed.text  # no open redirect
        cookie = signed.headers["set-cookie"].lower()
        assert all(flag in cookie for flag in ("httponly", "samesite=strict", "path=/")) and "secure" not in cookie
        assert browser.get("/pulls").status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/pulls").text)
        assert csrf and browser.post("/logout", data={"csrf_token": csrf.group(1)}).status_code == 303
        browser.cookies.clear()
        assert browser.get("/pulls").status_code == 303
    with httpx.Client(base_url=portal.url, timeout=30.0) as forged:
        refused = forged.post("/login", data={"token": portal.admin_token}, headers={"Origin": "http://evil.example"})
        assert refused.status_code == 403  # no login CSRF either


def test_removing_a_user_ends_their_sessions_and_tokens(portal: Portal) -> None:
    token = portal.add_user("guard-leaver", "author")
    browser = portal.signed_in(token)
    try:
        assert browser.get("/pulls").status_code == 200
        portal.remove_user("guard-leaver")
        assert browser.get("/pulls").status_code == 303
        with portal.bearer(token) as gone:
            assert gone.get("/api/me").status_code == 401
    finally:
        browser.close()
