"""Users and their credentials in the platform's SQLite database.

Why only hashes: a token is shown once, when it is issued; the database keeps
its SHA-256 (`credential.digest`), so a copied `state.db` (or a support
bundle) signs nobody in, and the lookup stays one indexed read per request.

Three kinds of credential share one table: personal API tokens (no expiry),
one-time login links (short-lived, consumed on use) and browser sessions
(which also carry the session's CSRF token).

The gateway never opens the database, yet admits the model repository's load
and unload for admins only: so after every change of tokens or users, the
store itself rewrites `<home>/run/admin-tokens.json` (owner-only, replaced
atomically; `publish_admins`) with the SHA-256 of each token whose user holds
`Permission.administer`. Being the one writer, no use case can forget it.
Sessions and login links are never in it, so signing in writes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from neuroscale.db import write_transaction
from neuroscale.errors import Conflict, NotFound
from neuroscale.identity.credential import digest, new_secret
from neuroscale.identity.roles import Actor, Permission, Role, roles_with
from neuroscale.atomic_file import write_private

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL CHECK (role IN ('viewer', 'author', 'approver', 'admin')),
    email      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS credentials (
    hash       TEXT PRIMARY KEY,
    user       TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('token', 'login', 'session')),
    label      TEXT NOT NULL DEFAULT '',
    csrf       TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS credentials_user ON credentials (user, kind);
CREATE TABLE IF NOT EXISTS access_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: Prefixes make a leaked secret recognisable (and redactable) as a NeuroScale one.
TOKEN_PREFIX = "nst_"
LOGIN_PREFIX = "nsl_"
ADMIN_TOKENS_VERSION = 1


class Kind(StrEnum):
    token = "token"
    login = "login"
    session = "session"


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    email: str
    created_at: str
    created_by: str

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role, self.email)

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "role": self.role.value, "email": self.email, "created_at": self.created_at,
                "created_by": self.created_by}


@dataclass(frozen=True)
class Issued:
    """A credential just made: the secret (shown once, never stored) and, for sessions, the CSRF token."""

    secret: str
    user: str
    csrf: str = ""


@dataclass(frozen=True)
class Resolved:
    """A credential that checked out: whose it is, and the session's CSRF token."""

    user: User
    csrf: str = ""


def _user(row: sqlite3.Row) -> User:
    return User(row["name"], Role(row["role"]), row["email"], row["created_at"], row["created_by"])


class IdentityStore:
    """Users, hashed credentials and access settings over one SQLite connection.

    With `admins_file`, every change of tokens or users rewrites it (`publish_admins`).
    """

    def __init__(self, db: sqlite3.Connection, *, admins_file: Path | None = None) -> None:
        self.db = db
        self.admins_file = admins_file
        db.executescript(SCHEMA)

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction (the portal, CLI and supervisor may write at the same time)."""
        return write_transaction(self.db)

    # -- users -----------------------------------------------------------------------------

    def count_users(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM users").fetchone()[0])

    def user(self, name: str) -> User | None:
        row = self.db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def users(self) -> list[User]:
        return [_user(row) for row in self.db.execute("SELECT * FROM users ORDER BY name")]

    def add_user(self, name: str, role: Role, *, email: str = "", created_by: str = "") -> User:
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            self.db.execute("INSERT INTO users (name, role, email, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
                            (name, role.value, email, created_at, created_by))
        except sqlite3.IntegrityError:
            raise Conflict(f"user {name} already exists", where="users",
                           fix=f"choose another name, or `neuroscale user remove {name}` first") from None
        return User(name, role, email, created_at, created_by)

    def remove_user(self, name: str) -> None:
        """Remove the user and, with them, every token and session they hold."""
        if self.db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
            raise NotFound(f"no user named {name}", where="users", fix="list users with `neuroscale user list`")
        self.publish_admins()

    # -- credentials -----------------------------------------------------------------------

    def issue(self, user: str, kind: Kind, *, ttl_s: float | None = None, label: str = "") -> Issued:
        prefix = {Kind.token: TOKEN_PREFIX, Kind.login: LOGIN_PREFIX}.get(kind, "")
        secret = new_secret(prefix)
        csrf = new_secret() if kind is Kind.session else ""
        now = time.time()
        self.db.execute(
            "INSERT INTO credentials (hash, user, kind, label, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (digest(secret), user, kind.value, label, csrf, now, None if ttl_s is None else now + ttl_s))
        if kind is Kind.token:
            self.publish_admins()
        return Issued(secret, user, csrf)

    def resolve(self, secret: str, kind: Kind) -> Resolved | None:
        """The user holding this unexpired credential, or None."""
        row = self.db.execute(
            "SELECT u.*, c.csrf, c.expires_at FROM credentials c JOIN users u ON u.name = c.user "
            "WHERE c.hash = ? AND c.kind = ?", (digest(secret), kind.value)).fetchone()
        if row is None:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= time.time():
            self.revoke(secret, kind)
            return None
        return Resolved(_user(row), row["csrf"])

    def consume(self, secret: str, kind: Kind) -> Resolved | None:
        """Resolve a one-time credential and delete it, so a second use finds nothing."""
        with self.transaction():
            found = self.resolve(secret, kind)
            if found is not None:
                self.revoke(secret, kind)
            return found

    def revoke(self, secret: str, kind: Kind) -> None:
        self.db.execute("DELETE FROM credentials WHERE hash = ? AND kind = ?", (digest(secret), kind.value))
        if kind is Kind.token:
            self.publish_admins()

    def revoke_labelled(self, user: str, label: str) -> None:
        self.db.execute("DELETE FROM credentials WHERE user = ? AND label = ?", (user, label))
        self.publish_admins()

    def token_count(self, user: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM credentials WHERE user = ? AND kind = 'token'",
                                   (user,)).fetchone()[0])

    def purge_expired(self) -> None:
        self.db.execute("DELETE FROM credentials WHERE expires_at IS NOT NULL AND expires_at <= ?", (time.time(),))

    # -- the gateway's admin file ---------------------------------------------------------

    def publish_admins(self) -> None:
        """Rewrite the gateway's admin file: each token of a user who may administer, as its user and SHA-256."""
        if self.admins_file is None:
            return
        if self.db.in_transaction:  # the caller's write transaction: the file follows what it commits
            self._write_admins(self.admins_file)
            return
        with self.transaction():  # a lone change was committed already: read and write under the write lock,
            self._write_admins(self.admins_file)  # so an older view never overwrites a concurrent writer's file

    def _write_admins(self, path: Path) -> None:
        roles = [role.value for role in roles_with(Permission.administer)]
        rows = self.db.execute(
            "SELECT c.user, c.hash FROM credentials c JOIN users u ON u.name = c.user WHERE c.kind = 'token' "
            f"AND u.role IN ({', '.join('?' for _ in roles)}) ORDER BY c.user, c.created_at", roles)
        admins = [{"user": row["user"], "sha256": row["hash"]} for row in rows]
        write_private(path, json.dumps({"version": ADMIN_TOKENS_VERSION, "admins": admins}, indent=2))

    # -- settings --------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM access_settings WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row else None

    def set_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM access_settings WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT INTO access_settings (key, value) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))
