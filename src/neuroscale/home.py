"""The platform home: where the embedded platform keeps everything it owns.

One place names every path so the portal, reconciler, gateway, CLI and doctor
agree on the layout. Path arithmetic, plus reading the saved settings and the
model roots every stage must agree on; creating things is the job of the
stage that owns them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HOME = ".neuroscale"
HOME_ENV = "NEUROSCALE_HOME"
DEFAULT_PORTAL_PORT = 7010
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
#: Embedded ingress domain: `*.localhost` resolves to loopback, so Host-based
#: URLs work without DNS and without an `example.com` placeholder (FM-18).
DEFAULT_DOMAIN = "localhost"
#: More directories local model files may come from, separated by os.pathsep (`:`), besides the home's `models/`.
MODEL_ROOTS_ENV = "NEUROSCALE_MODEL_ROOTS"
#: Key of `settings.json` under which `neuroscale up --model-root` saves its roots.
MODEL_ROOTS_SETTING = "model_roots"


def recording_file(samples_dir: Path, endpoint: str) -> Path:
    """Where an endpoint's recorded requests are: the gateway writes the file, prediction diffs read it."""
    return samples_dir / f"{endpoint}.jsonl"


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
    def api_keys_file(self) -> Path:
        """SHA-256 of each endpoint's API keys (mode 0600): the key service writes it, the gateway reads it."""
        return self.run_dir / "api-keys.json"

    @property
    def admin_tokens_file(self) -> Path:
        """SHA-256 of the tokens of users who may administer (mode 0600): the identity store writes it, the
        gateway reads it to admit the model repository's load and unload."""
        return self.run_dir / "admin-tokens.json"

    @property
    def model_orders_dir(self) -> Path:
        """Admins' load and unload orders, one file each: the gateway writes them, the engine carries them out."""
        return self.run_dir / "model-orders"

    @property
    def samples_dir(self) -> Path:
        """Requests the gateway recorded for endpoints that opt in (one file each: `recording_file`)."""
        return self.root / "samples"

    @property
    def shadow_file(self) -> Path:
        """The gateway's shadow-traffic comparison per endpoint."""
        return self.run_dir / "shadow.json"

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
    def models_dir(self) -> Path:
        """The default model root: local storage URIs must lie under it (or another configured root)."""
        return self.root / "models"

    def saved_settings(self) -> dict[str, Any]:
        """What `neuroscale up` last saved in `settings.json` ({} for a home that never ran or a broken file)."""
        try:
            data = json.loads(self.settings_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def model_roots(self) -> tuple[Path, ...]:
        """Every directory local model files may come from, resolved (symlinks and `..`), without duplicates.

        The home's `models/`, then the roots `neuroscale up --model-root` saved, then
        `NEUROSCALE_MODEL_ROOTS`. The engine hands them to each model server and
        the policies take them as their allowed local roots, so both agree.
        """
        saved = self.saved_settings().get(MODEL_ROOTS_SETTING)
        configured = [str(p) for p in saved] if isinstance(saved, list) else []
        configured += [p for p in os.environ.get(MODEL_ROOTS_ENV, "").split(os.pathsep) if p.strip()]
        roots = [self.models_dir.resolve(), *(Path(p).expanduser().resolve() for p in configured)]
        return tuple(dict.fromkeys(roots))

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
