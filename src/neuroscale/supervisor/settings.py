"""Platform settings (ports, domain), persisted in the home so every command agrees.

`neuroscale up` writes them; `status`, `demo`, `smoke` and `doctor` read them
to know where the portal and gateway listen.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from neuroscale.errors import InvalidInput
from neuroscale.home import DEFAULT_DOMAIN, DEFAULT_GATEWAY_PORT, DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home


@dataclass(frozen=True)
class PlatformSettings:
    host: str = DEFAULT_HOST
    portal_port: int = DEFAULT_PORTAL_PORT
    gateway_port: int = DEFAULT_GATEWAY_PORT
    domain: str = DEFAULT_DOMAIN
    #: Host names the gateway answers besides loopback, the bind address and endpoint names.
    allowed_hosts: tuple[str, ...] = ()

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
        return self


def load_settings(home: Home) -> PlatformSettings:
    """The settings `up` last wrote, or the defaults for a home that never ran."""
    try:
        data = json.loads(home.settings_file.read_text())
    except (OSError, ValueError):
        return PlatformSettings()
    known = {k: v for k, v in data.items() if k in PlatformSettings.__dataclass_fields__}
    if isinstance(known.get("allowed_hosts"), list):
        known["allowed_hosts"] = tuple(str(name) for name in known["allowed_hosts"])
    return PlatformSettings(**known)


def save_settings(home: Home, settings: PlatformSettings) -> None:
    home.root.mkdir(parents=True, exist_ok=True)
    tmp = home.settings_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2))
    os.replace(tmp, home.settings_file)
