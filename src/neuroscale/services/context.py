"""`PlatformContext`: the opened platform home every use case works on.

Why one object: a use case needs the bare repository, the state database and
the pull-request provider together, and adapters should open them one way
(creating the home on first use when asked) instead of wiring them each time.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from neuroscale.db import connect, write_transaction
from neuroscale.engine.store import EngineStore
from neuroscale.errors import NotFound
from neuroscale.gitops.local_provider import LocalProvider
from neuroscale.gitops.provider import GitProvider
from neuroscale.gitops.repo import MAIN, Author, GitRepo
from neuroscale.home import Home
from neuroscale.identity.api_keys import ApiKeyStore
from neuroscale.identity.local_admin import ensure_admin
from neuroscale.identity.roles import Actor
from neuroscale.identity.store import IdentityStore

__all__ = ["MAIN", "Author", "PlatformContext"]

PLATFORM_AUTHOR = Author("NeuroScale", "neuroscale@localhost")

README = b"""# GitOps repository

Managed by NeuroScale. Each endpoint is one KServe InferenceService at
`apps/<name>/inference-service.yaml`. Propose changes with
`neuroscale endpoint create|update|delete` (or the portal), which opens a pull
request on branch `endpoint/<name>`; whatever reaches `main` is deployed once it
passes the same admission policies as the pull-request checks.
"""


@dataclass
class PlatformContext:
    """The platform home, opened: repository, state database and pull-request provider.

    Use one context per thread (the database connection is shared by its methods).
    """

    home: Home
    repo: GitRepo
    db: sqlite3.Connection
    provider: GitProvider
    identity: IdentityStore = field(init=False)
    #: Endpoint API keys (hashed) for the gateway.
    api_keys: ApiKeyStore = field(init=False)
    #: Where use cases record who changed what (the events the reconciler writes too).
    events: EngineStore = field(init=False)

    def __post_init__(self) -> None:
        self.identity = IdentityStore(self.db, admins_file=self.home.admin_tokens_file)
        self.api_keys = ApiKeyStore(self.db)
        self.events = EngineStore(self.db)
        ensure_admin(self.home, self.identity)
        if not self.home.admin_tokens_file.exists():  # a home from before the gateway admitted admins
            self.identity.publish_admins()

    @classmethod
    def open(cls, home: Home, *, create: bool = False, remote: str | None = None) -> PlatformContext:
        """Open `home`; with `create` make it first (bare repo with `apps/` on main, database schema).

        With `remote` (cluster mode) pull requests go to that git remote instead: the branch is pushed
        there and, for GitHub, a pull request is opened through its API; `repo` is a local mirror.
        """
        if remote:
            return cls._open_remote(home, remote)
        if create:
            home.root.mkdir(parents=True, exist_ok=True)
            repo = GitRepo.init_bare(home.remote, files={"apps/.gitkeep": b"", "README.md": README},
                                     author=PLATFORM_AUTHOR, message="Initialize GitOps repository")
        elif not home.exists():
            raise NotFound(f"no NeuroScale platform at {home.root}", where=str(home.root),
                           fix="run `neuroscale up` (or pass --home / set NEUROSCALE_HOME to an existing home)")
        else:
            repo = GitRepo(home.remote)
        db = connect(home.state_db)
        LocalProvider.ensure_schema(db)
        return cls(home=home, repo=repo, db=db, provider=LocalProvider(repo, db))

    @classmethod
    def _open_remote(cls, home: Home, remote: str) -> PlatformContext:
        from neuroscale.gitops.github_provider import for_remote

        home.root.mkdir(parents=True, exist_ok=True)
        mirror = home.root / "mirrors" / (hashlib.sha256(remote.encode()).hexdigest()[:16] + ".git")
        provider = for_remote(remote, mirror=mirror)
        provider.sync()
        return cls(home=home, repo=provider.repo, db=connect(home.state_db), provider=provider)

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction over the home's database, for a change that spans tables (and its event)."""
        return write_transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PlatformContext:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def commit_author(actor: Actor) -> Author:
    """The git author of the commits `actor` makes (pull-request heads, merges)."""
    return Author(actor.name, actor.email or f"{actor.name}@neuroscale.local")
