"""The platform home: where the embedded platform keeps everything it owns.

One place names every path so the portal, reconciler, gateway, CLI and doctor
agree on the layout. Pure path arithmetic; creating things is the job of the
stage that owns them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".neuroscale"
HOME_ENV = "NEUROSCALE_HOME"
DEFAULT_PORTAL_PORT = 7010
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
#: Embedded ingress domain: `*.localhost` resolves to loopback, so Host-based
#: URLs work without DNS and without an `example.com` placeholder (FM-18).
DEFAULT_DOMAIN = "localhost"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None = None) -> Home:
        chosen = path or os.environ.get(HOME_ENV) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def remote(self) -> Path:
        """The bare git repository that plays the GitOps remote."""
        return self.root / "gitops.git"

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def server_logs_dir(self) -> Path:
        return self.logs_dir / "servers"

    @property
    def routes_file(self) -> Path:
        """Routing table the reconciler writes and the gateway reads."""
        return self.run_dir / "routes.json"

    @property
    def routes_applied_file(self) -> Path:
        """The gateway's acknowledgement: which routes document it is serving now."""
        return self.run_dir / "routes.applied"

    @property
    def gateway_stats_file(self) -> Path:
        """The gateway's demand per revision, which the autoscaler reads."""
        return self.run_dir / "gateway.stats"

    @property
    def platform_lock(self) -> Path:
        return self.run_dir / "platform.lock"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def admin_token_file(self) -> Path:
        """The local admin's API token (mode 0600): the CLI signs in with it when no token is given."""
        return self.root / "admin.token"

    @property
    def model_cache(self) -> Path:
        return self.root / "cache" / "models"

    def pid_file(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def exists(self) -> bool:
        return self.remote.exists() and self.state_db.exists()
