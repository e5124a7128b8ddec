"""Platform settings (ports, domain, exposure, sign-in), persisted in the home so every command agrees.

`neuroscale up` writes them; `status`, `demo`, `smoke` and `doctor` read them
to know where the portal and gateway listen, and every stage reads the model
roots through `Home.model_roots()`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from neuroscale.atomic_file import replace_file
from neuroscale.errors import InvalidInput
from neuroscale.hosts import connect_host, is_loopback_name
from neuroscale.home import DEFAULT_DOMAIN, DEFAULT_GATEWAY_PORT, DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home


@dataclass(frozen=True)
class PlatformSettings:
    host: str = DEFAULT_HOST
    portal_port: int = DEFAULT_PORTAL_PORT
    gateway_port: int = DEFAULT_GATEWAY_PORT
    domain: str = DEFAULT_DOMAIN
    #: Where local model files may come from, besides the home's models/ (see Home.model_roots).
    model_roots: tuple[str, ...] = ()
    #: Host names the portal and gateway answer besides loopback ones and the bind address.
    allowed_hosts: tuple[str, ...] = ()
    tls_cert: str = ""
    tls_key: str = ""
    #: Listen on a non-loopback address without TLS, knowingly.
    insecure_http: bool = False
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_username_claim: str = "preferred_username"
    oidc_default_role: str = ""
    #: Seconds between two scrapes of the gateway and the model servers into the metrics store.
    metrics_interval_s: float = 10.0
    #: Pull-request previews running at once; beyond it the longest idle one stops.
    max_previews: int = 3
    #: A pre-imported model server per format in play that forks new servers (`engine.spares`).
    warm_spares: bool = True
    #: Shareable models load into shared processes of their format (`engine.shared`), this many each at most.
    shared_runtime: bool = False
    models_per_process: int = 100

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)

    @property
    def portal_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{connect_host(self.host)}:{self.portal_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{connect_host(self.host)}:{self.gateway_port}"

    @property
    def exposed(self) -> bool:
        return not is_loopback_name(self.host)

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
        self._validate_tls()
        if self.exposed and not self.tls and not self.insecure_http:
            raise InvalidInput(
                f"refusing to listen on {self.host}: tokens, session cookies and login links would cross the "
                "network as plain HTTP", where="--host",
                fix="give --tls-cert and --tls-key (sign-in is always required), or pass --insecure-http if a "
                    "proxy you trust terminates TLS; or keep the default --host 127.0.0.1")
        return self

    def _validate_tls(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise InvalidInput("--tls-cert and --tls-key go together", where="--tls-cert/--tls-key",
                               fix="give both: the PEM certificate and its private key")
        for option, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key)):
            if path and not Path(path).is_file():
                raise InvalidInput(f"{path} is not a readable file", where=option, fix="give the path of a PEM file")

    def exposure_warnings(self) -> list[str]:
        """What to tell the person who chose to listen beyond loopback."""
        if not self.exposed:
            return []
        warnings = [f"listening on {self.host}: the portal and gateway are reachable from the network; "
                    "every portal request needs a token, a session or an identity-provider sign-in"]
        if not self.tls:
            warnings.append("--insecure-http: tokens, session cookies and login links cross the network "
                            "unencrypted unless a proxy terminates TLS in front of the portal")
        warnings.append(f"the gateway serves predictions over plain HTTP on port {self.gateway_port}: "
                        "put TLS in front of it for traffic that leaves this machine")
        return warnings

    def portal_args(self) -> list[str]:
        """The portal's command-line options for these settings (the OIDC client secret travels by env)."""
        args = [arg for host in self.allowed_hosts for arg in ("--allowed-host", host)]
        if self.tls:
            args += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if self.oidc_issuer:
            args += ["--oidc-issuer", self.oidc_issuer, "--oidc-client-id", self.oidc_client_id,
                     "--oidc-username-claim", self.oidc_username_claim]
            if self.oidc_default_role:
                args += ["--oidc-default-role", self.oidc_default_role]
        return args

    def resolved(self) -> PlatformSettings:
        """The same settings with each model root absolute and free of symlinks and `..`."""
        return replace(self, model_roots=tuple(str(Path(root).expanduser().resolve()) for root in self.model_roots))


def load_settings(home: Home) -> PlatformSettings:
    """The settings `up` last wrote, or the defaults for a home that never ran."""
    known: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in home.saved_settings().items()
                             if k in PlatformSettings.__dataclass_fields__}
    return PlatformSettings(**known)


def save_settings(home: Home, settings: PlatformSettings) -> None:
    replace_file(home.settings_file, json.dumps(asdict(settings), indent=2))
