"""What one portal process needs to know, passed explicitly to `create_app`."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field

from neuroscale.home import DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home

#: Largest request body the portal reads; a spec is a few hundred bytes.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a minimal container
        return "portal"


@dataclass(frozen=True)
class PortalSettings:
    home: Home
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORTAL_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Commit author for pull requests opened from the portal (loopback, single user).
    author_name: str = field(default_factory=_os_user)

    @property
    def author_email(self) -> str:
        return f"{self.author_name}@localhost"
