"""`neuroscale user …`, `pr approve|protection`, `login-link` through the real CLI, and old homes upgraded in place."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from neuroscale.errors import Unauthenticated
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.services.identity import sign_in_with_link

from .test_cli import CREATE, run


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    root = tmp_path / "home"
    monkeypatch.setenv("NEUROSCALE_HOME", str(root))
    monkeypatch.delenv("NEUROSCALE_TOKEN", raising=False)
    return Home(root)


def test_the_admin_credential_is_private_and_used_without_asking(home: Home,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *CREATE)[0] == 0
    token = home.admin_token_file
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    secret = token.read_text().strip()
    assert secret.startswith("nst_") and len(secret) > 40
    with sqlite3.connect(home.state_db) as db:  # only a hash is stored
        assert not db.execute("SELECT 1 FROM credentials WHERE hash = ?", (secret,)).fetchone()
        assert secret not in Path(home.state_db).read_bytes().decode("latin-1")
    token.unlink()  # a lost credential file is replaced by the next command, the old token revoked
    assert run(capsys, "pr", "merge", "1")[0] == 0 and token.read_text().strip() != secret


def test_users_tokens_and_review_through_the_cli(home: Home, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(capsys, *CREATE)[0] == 0
    code, out, err = run(capsys, "user", "add", "pam", "--role", "approver")
    assert code == 0 and "shown once" in err
    pam = out.strip()
    assert pam.startswith("nst_") and pam not in err
    code, _, err = run(capsys, "user", "add", "bob", "--role", "owner")
    assert code == 1 and "unknown role 'owner'" in err and "viewer, author, approver, admin" in err

    code, out, _ = run(capsys, "pr", "protection", "-o", "json")
    assert json.loads(out) == {"requiredApprovals": 1, "automatic": True}
    code, _, err = run(capsys, "pr", "merge", "1")
    assert code == 1 and "needs 1 more approval" in err and "neuroscale pr approve 1" in err
    code, _, err = run(capsys, "pr", "approve", "1")
    assert code == 1 and "cannot approve it" in err

    monkeypatch.setenv("NEUROSCALE_TOKEN", pam)
    code, out, _ = run(capsys, "pr", "approve", "1")
    assert code == 0 and "approvals: 1 of 1 required (pam)" in out
    code, _, err = run(capsys, "user", "add", "eve", "--role", "admin")
    assert code == 1 and "pam (approver) may not add users" in err
    code, _, err = run(capsys, "pr", "protection", "--required-approvals", "0")
    assert code == 1 and "may not change the review rules" in err

    monkeypatch.delenv("NEUROSCALE_TOKEN")
    code, out, _ = run(capsys, "pr", "merge", "1")
    assert code == 0 and "merged:" in out and "by admin" in out
    code, out, _ = run(capsys, "endpoint", "update", "demo-iris", "--cpu-limit", "2")
    code, out, _ = run(capsys, "endpoint", "update", "demo-iris", "--cpu-limit", "3")
    assert code == 0 and "earlier head" in out

    code, out, _ = run(capsys, "user", "list", "-o", "json")
    assert code == 0 and {(u["name"], u["role"], u["tokens"]) for u in json.loads(out)} == {
        ("admin", "admin", 1), ("pam", "approver", 1)}
    assert run(capsys, "user", "remove", "pam")[0] == 0
    monkeypatch.setenv("NEUROSCALE_TOKEN", pam)
    code, _, err = run(capsys, "pr", "approve", "2")
    assert code == 1 and "unknown, revoked or belongs to a removed user" in err and "NEUROSCALE_TOKEN" in err
    code, _, err = run(capsys, "endpoint", "delete", "demo-iris")
    assert code == 1 and "Traceback" not in err


def test_login_link_is_one_time_for_the_portal(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, *CREATE)[0] == 0
    code, out, _ = run(capsys, "login-link")
    assert code == 0 and out.startswith("http://127.0.0.1:7010/login?token=nsl_")
    secret = out.strip().rsplit("=", 1)[1]
    with PlatformContext.open(home) as ctx:
        session = sign_in_with_link(ctx, secret)
        assert session.user == "admin" and session.csrf
        with pytest.raises(Unauthenticated, match="already used"):
            sign_in_with_link(ctx, secret)


def test_a_home_from_before_identity_is_upgraded_in_place(tmp_path: Path) -> None:
    """Old events (no actor column) and pull requests (no merged_by) stay readable; new ones carry both."""
    home = Home(tmp_path / "old")
    with PlatformContext.open(home, create=True):
        pass
    with sqlite3.connect(home.state_db) as db:
        db.executescript("""
            DROP TABLE engine_events;
            CREATE TABLE engine_events (id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL,
                endpoint TEXT NOT NULL, type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL);
            INSERT INTO engine_events (time, endpoint, type, reason, message)
                VALUES ('2026-01-01T00:00:00+00:00', 'old', 'Normal', 'Deployed', 'before actors');
            ALTER TABLE pull_requests DROP COLUMN merged_by;
        """)
    with PlatformContext.open(home) as ctx:
        [old] = ctx.events.events(name="old")
        assert (old.message, old.actor) == ("before actors", "")
        columns = {row["name"] for row in ctx.db.execute("PRAGMA table_info(pull_requests)")}
        assert "merged_by" in columns
