"""Admins at the gateway: does a request carry the token of a user who may administer the platform?

Only the model repository's load and unload ask (`repository`). The identity store writes the SHA-256
of every admin's personal tokens to `<home>/run/admin-tokens.json` whenever users or tokens change;
the gateway re-reads it when it changes (`filewatch`, polled with the routes), so a new admin token
works, and a revoked one or a removed admin's stops working, within one reload tick. No file means
no admin: the check fails closed. As with API keys (`api_keys`), exactly one `Authorization: Bearer`
is looked up by its SHA-256, a missing and a wrong token get the same 401, and the header is never
logged. What an admin token admits here is also what it signs in to elsewhere, so it is never
forwarded anywhere either: repository requests are answered by the gateway itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from neuroscale.gateway.api_keys import bearer
from neuroscale.gateway.filewatch import WatchedValue
from neuroscale.identity.credential import digest


class AdminRing(WatchedValue[dict[str, str]]):
    """The SHA-256 of every admin's tokens and whose each is, as the identity store last wrote them."""

    def __init__(self, path: Path | None) -> None:
        super().__init__(path, parse=_read, empty={})

    def admin(self, credentials: Sequence[str]) -> str | None:
        """The admin whose token `credentials` (every Authorization value sent) is; None when it is no admin's."""
        token = bearer(credentials)
        return self.value.get(digest(token)) if token is not None else None


def _read(document: dict[str, Any]) -> dict[str, str]:
    admins = document.get("admins")
    return {str(entry["sha256"]): str(entry.get("user") or "admin token")
            for entry in (admins if isinstance(admins, list) else ())
            if isinstance(entry, dict) and isinstance(entry.get("sha256"), str)}
