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

from neuroscale.gateway.filewatch import WatchedValue
from neuroscale.gateway.http1 import Headers, frame
from neuroscale.identity.credential import digest

#: The header (HTTP) and metadata key (gRPC, always lower-case) that carries the key.
AUTHORIZATION = "authorization"
_AUTHORIZATION = AUTHORIZATION.encode()
_CHALLENGE = [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="neuroscale"')]


class KeyRing(WatchedValue[dict[str, frozenset[str]]]):
    """The SHA-256 of every endpoint's API keys, as the key service last wrote them."""

    def __init__(self, path: Path | None) -> None:
        super().__init__(path, parse=_read, empty={})

    @property
    def hashes(self) -> dict[str, frozenset[str]]:
        return self.value

    def admits(self, endpoint: str, credentials: Sequence[str]) -> bool:
        """Whether `credentials` (every Authorization value sent) is one `Bearer` key of `endpoint`."""
        key = bearer(credentials)
        return key is not None and digest(key) in self.hashes.get(endpoint, ())


def bearer(credentials: Sequence[str]) -> str | None:
    """The secret of exactly one `Authorization: Bearer <secret>` (every value sent); None for anything else."""
    if len(credentials) != 1:
        return None
    scheme, _, secret = credentials[0].strip().partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


def authorization(headers: Headers) -> list[str]:
    """Every Authorization value of a request."""
    return [value.decode("latin-1") for name, value in headers if name.lower() == _AUTHORIZATION]


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
    if not keys.admits(endpoint, authorization(headers)):
        return None
    return [(name, value) for name, value in headers if name.lower() != _AUTHORIZATION]


def unauthorized(endpoint: str, *, keep_alive: bool, head_only: bool) -> bytes:
    """401 in the gateway's JSON error style, with the `WWW-Authenticate` challenge RFC 9110 asks for."""
    error, fix = key_needed(endpoint)
    return challenge({"error": error, "reason": "Unauthenticated", "endpoint": endpoint, "fix": fix},
                     keep_alive=keep_alive, head_only=head_only)


def challenge(body: dict[str, str], *, keep_alive: bool, head_only: bool = False) -> bytes:
    """A 401 with `body` and the Bearer challenge (API keys here, admin tokens at the model repository)."""
    return frame(401, _CHALLENGE, orjson.dumps(body), keep_alive=keep_alive, head_only=head_only)
