"""Platform settings (ports, domain), persisted in the home so every command agrees.

`neuroscale up` writes them; `status`, `demo`, `smoke` and `doctor` read them
to know where the portal and gateway listen, and every stage reads the model
roots through `Home.model_roots()`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from neuroscale.errors import InvalidInput
from neuroscale.home import DEFAULT_DOMAIN, DEFAULT_GATEWAY_PORT, DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home


@dataclass(frozen=True)
class PlatformSettings:
    host: str = DEFAULT_HOST
    portal_port: int = DEFAULT_PORTAL_PORT
    gateway_port: int = DEFAULT_GATEWAY_PORT
    domain: str = DEFAULT_DOMAIN
    model_roots: tuple[str, ...] = ()  # besides the home's models/ (see Home.model_roots)

    @property
    def portal_url(self) -> str:
        return f"http://{self.host}:{self.portal_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    def validate(self) -> PlatformSettings:
        for name, port in (("portal port", self.portal_port), ("gateway port", self.gateway_port)):
            if not 1 <= port <= 65535:
                raise InvalidInput(f"{name} {port} is not a TCP port", fix="choose a port between 1024 and 65535")
        if self.portal_port == self.gateway_port:
            raise InvalidInput(f"portal and gateway cannot share port {self.portal_port}",
                               fix="pass different --portal-port and --gateway-port")
        for root in self.model_roots:
            if not Path(root).is_dir():
                raise InvalidInput(f"model root {root} is not a directory", where="--model-root",
                                   fix="pass an existing directory that holds model files")
        return self

    def resolved(self) -> PlatformSettings:
        """The same settings with each model root absolute and free of symlinks and `..`."""
        return replace(self, model_roots=tuple(str(Path(root).expanduser().resolve()) for root in self.model_roots))


def load_settings(home: Home) -> PlatformSettings:
    """The settings `up` last wrote, or the defaults for a home that never ran."""
    known = {k: v for k, v in home.saved_settings().items() if k in PlatformSettings.__dataclass_fields__}
    if isinstance(known.get("model_roots"), list):
        known["model_roots"] = tuple(str(root) for root in known["model_roots"])
    return PlatformSettings(**known)


def save_settings(home: Home, settings: PlatformSettings) -> None:
    home.root.mkdir(parents=True, exist_ok=True)
    tmp = home.settings_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2))
    os.replace(tmp, home.settings_file)
