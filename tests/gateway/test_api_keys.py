"""The gateway's key check on its own: what counts as carrying a key, and the key file read as it changes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from neuroscale.gateway.api_keys import KeyRing, admitted_headers, unauthorized
from neuroscale.gateway.grpc_proxy import read_table

KEY, OTHER = "nsk_" + "k" * 43, "nsk_" + "o" * 43


def write_keys(path: Path, endpoints: dict[str, list[str]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "endpoints": {
        name: [{"id": f"id{i}", "sha256": hashlib.sha256(key.encode()).hexdigest()} for i, key in enumerate(keys)]
        for name, keys in endpoints.items()}}))
    os.replace(tmp, path)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    path = tmp_path / "api-keys.json"
    write_keys(path, {"iris": [KEY], "rose": [OTHER]})
    keys = KeyRing(path)
    assert keys.refresh() and not keys.refresh(), "read once, then only when the file changes"
    return keys


@pytest.mark.parametrize(("sent", "admitted"), [
    ([f"Bearer {KEY}"], True),
    ([f"bearer {KEY}"], True),
    ([f"  BEARER \t {KEY}  "], True),
    ([], False),
    ([f"Bearer {OTHER}"], False),  # another endpoint's key
    ([f"Bearer {KEY}", f"Bearer {KEY}"], False),  # one credential, not several
    ([KEY], False),
    ([f"Basic {KEY}"], False),
    (["Bearer "], False),
    ([f"Bearer {KEY[:-1]}"], False),
    ([f"Bearer {KEY} {KEY}"], False),
])
def test_exactly_one_bearer_key_of_the_endpoint_admits(ring: KeyRing, sent: list[str], admitted: bool) -> None:
    assert ring.admits("iris", sent) is admitted


def test_the_file_is_followed_and_its_absence_admits_nobody(tmp_path: Path, ring: KeyRing) -> None:
    assert ring.file is not None
    write_keys(ring.file.path, {"rose": [OTHER]})  # iris's key revoked
    assert ring.refresh() and not ring.admits("iris", [f"Bearer {KEY}"])
    ring.file.path.write_text('{"endpoints": {"iris": [{"id": "x", "sha256": ')  # half-written: keep the last
    assert not ring.refresh() and ring.admits("rose", [f"Bearer {OTHER}"])
    nowhere = KeyRing(tmp_path / "missing.json")
    assert not nowhere.refresh() and not nowhere.admits("iris", [f"Bearer {KEY}"])
    assert not KeyRing(None).admits("iris", [f"Bearer {KEY}"])
    write_keys(ring.file.path, {})
    ring.file.path.write_text('["not", "an", "object"]')
    assert ring.refresh() and ring.hashes == {}


def test_the_authorization_header_is_checked_then_dropped(ring: KeyRing) -> None:
    headers = [(b"Content-Type", b"application/json"), (b"AUTHORIZATION", f"Bearer {KEY}".encode()),
               (b"X-Trace", b"7")]
    assert admitted_headers(ring, "iris", headers) == [(b"Content-Type", b"application/json"), (b"X-Trace", b"7")]
    assert admitted_headers(ring, "rose", headers) is None
    assert admitted_headers(ring, "iris", [(b"x-auth", f"Bearer {KEY}".encode())]) is None
    head, _, body = unauthorized("iris", keep_alive=True, head_only=False).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401 Unauthorized") and b'www-authenticate: Bearer realm="neuroscale"' in head
    assert json.loads(body)["reason"] == "Unauthenticated" and json.loads(body)["endpoint"] == "iris"
    assert unauthorized("iris", keep_alive=True, head_only=True).endswith(b"\r\n\r\n"), "HEAD: no body"


def test_the_grpc_table_reads_auth_like_the_http_table() -> None:
    table = read_table({"endpoints": {"iris": {"ready": True, "auth": True},
                                      "iris-pr-2": {"ready": True, "auth": True, "keys_of": "iris"},
                                      "open": {"ready": True}}})
    assert [table[n].auth for n in ("iris", "iris-pr-2", "open")] == ["iris", "iris", ""]
