"""The home's own admin credential: how the person who runs `neuroscale up` is known.

Why a file in the home: whoever can read the home can already rewrite its
git repository and database, so holding the home *is* being its admin. The
first process that opens a home (usually `neuroscale up`) creates user
`admin` and writes its API token to `admin.token`, readable by the owner only
(0600); the CLI signs in with it when no `NEUROSCALE_TOKEN` is given. A token
file that was deleted, or no longer verifies, is replaced the same way.
"""

from __future__ import annotations

from pathlib import Path

from neuroscale.home import Home
from neuroscale.identity.roles import Role
from neuroscale.identity.store import IdentityStore, Kind
from neuroscale.atomic_file import write_private

ADMIN = "admin"
ADMIN_LABEL = "local admin credential"


class UnreadableCredential(OSError):
    """The credential file exists but this process may not read it (another OS user's home)."""


def read_secret(path: Path) -> str | None:
    """The secret stored at `path`; None when there is no such file."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnreadableCredential(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def _admin_token_works(home: Home, store: IdentityStore) -> bool:
    try:
        token = read_secret(home.admin_token_file)
    except UnreadableCredential:
        return True  # not ours to replace: the CLI reports it when it needs the credential
    found = store.resolve(token, Kind.token) if token else None
    return found is not None and found.user.role is Role.admin


def ensure_admin(home: Home, store: IdentityStore) -> bool:
    """Make sure the home holds a working admin credential; True when one was written just now."""
    if _admin_token_works(home, store):
        return False
    with store.transaction():
        if _admin_token_works(home, store):  # another process wrote it meanwhile
            return False
        if store.user(ADMIN) is None:
            store.add_user(ADMIN, Role.admin, created_by="platform home")
        store.revoke_labelled(ADMIN, ADMIN_LABEL)
        write_private(home.admin_token_file, store.issue(ADMIN, Kind.token, label=ADMIN_LABEL).secret)
    return True
