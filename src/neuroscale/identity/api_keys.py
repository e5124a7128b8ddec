"""Endpoint API keys in the platform's SQLite database, and the file that tells the gateway about them.

Why apart from personal tokens: a key belongs to an endpoint, not to a person.
It admits calls to that endpoint's model at the gateway and signs in to nothing
else, and it outlives the user who made it (a team's service keeps calling
after its author leaves). Like every secret here (`credential`), a key is shown
once and only its SHA-256 is kept.

The gateway never opens the database: after every change, `publish` rewrites
`<home>/run/api-keys.json` (owner-only, replaced atomically) with each
endpoint's key ids and hashes, and the gateway re-reads it when it changes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from neuroscale.identity.credential import digest, new_secret
from neuroscale.atomic_file import write_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    endpoint    TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS api_keys_endpoint ON api_keys (endpoint);
"""

#: Recognisable (and redactable) as a NeuroScale endpoint key, like `nst_` for personal tokens.
KEY_PREFIX = "nsk_"
KEY_FILE_VERSION = 1


@dataclass(frozen=True)
class ApiKey:
    """What is known about a key once it was shown: never the key itself."""

    id: str
    endpoint: str
    description: str
    created_at: str
    created_by: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(row["id"], row["endpoint"], row["description"], row["created_at"], row["created_by"])


class ApiKeyStore:
    """Keys by endpoint over the platform's SQLite connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def add(self, endpoint: str, *, description: str, created_by: str) -> tuple[ApiKey, str]:
        """A new key for `endpoint`: its record and the key (the only time it exists outside the caller)."""
        secret = new_secret(KEY_PREFIX)
        key = ApiKey(secrets.token_hex(6), endpoint, description, datetime.now(UTC).isoformat(timespec="seconds"),
                     created_by)
        self.db.execute("INSERT INTO api_keys (id, endpoint, hash, description, created_at, created_by) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (key.id, endpoint, digest(secret), description, key.created_at, created_by))
        return key, secret

    def keys(self, endpoint: str) -> list[ApiKey]:
        return [_key(row) for row in self.db.execute(
            "SELECT * FROM api_keys WHERE endpoint = ? ORDER BY rowid", (endpoint,))]

    def remove(self, endpoint: str, key_id: str) -> ApiKey | None:
        """Delete one key of `endpoint`; None when it has no key with that id."""
        rows = self.db.execute("DELETE FROM api_keys WHERE endpoint = ? AND id = ? RETURNING *",
                               (endpoint, key_id)).fetchall()  # fetched to the end: the statement is done
        return _key(rows[0]) if rows else None

    def remove_all(self, endpoint: str) -> int:
        """Delete every key of `endpoint` (it was deleted); how many there were."""
        return len(self.db.execute("DELETE FROM api_keys WHERE endpoint = ? RETURNING id", (endpoint,)).fetchall())

    def publish(self, path: Path) -> None:
        """Write what the gateway checks: per endpoint, each key's id and SHA-256."""
        endpoints: dict[str, list[dict[str, str]]] = {}
        for row in self.db.execute("SELECT endpoint, id, hash FROM api_keys ORDER BY endpoint, rowid"):
            endpoints.setdefault(row["endpoint"], []).append({"id": row["id"], "sha256": row["hash"]})
        write_private(path, json.dumps({"version": KEY_FILE_VERSION, "endpoints": endpoints}, indent=2))
