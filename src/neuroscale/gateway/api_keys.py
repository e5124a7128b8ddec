"""API keys at the gateway: does a request to an endpoint that requires keys carry one of them?

The key service (`neuroscale endpoint key create|revoke`) writes the SHA-256 of
each endpoint's keys to `<home>/run/api-keys.json`; the gateway re-reads that
file when it changes (`filewatch`, polled with the routes), so a new or revoked
key counts within one reload tick, without a restart. No file, or no keys for
an endpoint, means no request to it is admitted: the check fails closed.

A request is admitted with exactly one `Authorization: Bearer <key>` whose
SHA-256 is one of the endpoint's; a missing and a wrong key get the same 401,
which never says which keys exist. Looking the hash up in a set is not a timing
leak worth a constant-time compare: what is compared is SHA-256 of what the
client sent, which the client cannot steer towards a stored hash. The header is
removed before the request goes to the model server (which runs user code), and
neither keys nor the header are ever logged. HTTP and gRPC share this check.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from neuroscale.gateway.filewatch import WatchedJson
from neuroscale.gateway.http1 import Headers, frame
from neuroscale.identity.credential import digest

#: The header (HTTP) and metadata key (gRPC, always lower-case) that carries the key.
AUTHORIZATION = "authorization"
_AUTHORIZATION = AUTHORIZATION.encode()
_CHALLENGE = [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="neuroscale"')]


class KeyRing:
    """The SHA-256 of every endpoint's API keys, as the key service last wrote them."""

    def __init__(self, path: Path | None) -> None:
        self.file = WatchedJson(path) if path is not None else None
        self.hashes: dict[str, frozenset[str]] = {}

    def refresh(self) -> bool:
        document = self.file.changed() if self.file is not None else None
        if document is None:
            return False
        self.hashes = _read(document)
        return True

    def admits(self, endpoint: str, credentials: Sequence[str]) -> bool:
        """Whether `credentials` (every Authorization value sent) is one `Bearer` key of `endpoint`."""
        if len(credentials) != 1:
            return False
        scheme, _, key = credentials[0].strip().partition(" ")
        key = key.strip()
        return scheme.lower() == "bearer" and bool(key) and digest(key) in self.hashes.get(endpoint, ())


def _read(document: dict[str, Any]) -> dict[str, frozenset[str]]:
    endpoints = document.get("endpoints")
    hashes = {}
    for name, keys in (endpoints.items() if isinstance(endpoints, dict) else ()):
        if isinstance(keys, list):
            hashes[str(name)] = frozenset(key["sha256"] for key in keys
                                          if isinstance(key, dict) and isinstance(key.get("sha256"), str))
    return hashes


def key_needed(endpoint: str) -> tuple[str, str]:
    """What a refused caller is told (error, fix): the same words for a missing and a wrong key."""
    return (f"model '{endpoint}' requires a valid API key",
            f"send `Authorization: Bearer <key>` with a key made by `neuroscale endpoint key create {endpoint}` "
            "(revoked keys stop working at once)")


def admitted_headers(keys: KeyRing, endpoint: str, headers: Headers) -> Headers | None:
    """The request's headers without Authorization when it carries a key of `endpoint`; None to refuse it."""
    sent = [value.decode("latin-1") for name, value in headers if name.lower() == _AUTHORIZATION]
    if not keys.admits(endpoint, sent):
        return None
    return [(name, value) for name, value in headers if name.lower() != _AUTHORIZATION]


def unauthorized(endpoint: str, *, keep_alive: bool, head_only: bool) -> bytes:
    """401 in the gateway's JSON error style, with the `WWW-Authenticate` challenge RFC 9110 asks for."""
    error, fix = key_needed(endpoint)
    body = orjson.dumps({"error": error, "reason": "Unauthenticated", "endpoint": endpoint, "fix": fix})
    return frame(401, _CHALLENGE, body, keep_alive=keep_alive, head_only=head_only)
