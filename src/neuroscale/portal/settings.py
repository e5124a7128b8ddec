"""What one portal process needs to know, passed explicitly to `create_app`."""

from __future__ import annotations

from dataclasses import dataclass, field

from neuroscale.home import DEFAULT_HOST, DEFAULT_PORTAL_PORT, Home

#: Largest request body the portal reads; a spec is a few hundred bytes.
DEFAULT_MAX_BODY_BYTES = 64 * 1024
#: Environment variable holding the OpenID Connect client secret (never a command-line argument).
OIDC_SECRET_ENV = "NEUROSCALE_OIDC_CLIENT_SECRET"


@dataclass(frozen=True)
class OidcSettings:
    """Sign-in through an OpenID Connect provider (Keycloak, Dex, Okta, Entra ID, Google, ...)."""

    issuer: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    #: The ID-token claim that names the NeuroScale user.
    username_claim: str = "preferred_username"
    #: Role given to a person on first sign-in; "" refuses people an admin has not added.
    default_role: str = ""

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


@dataclass(frozen=True)
class PortalSettings:
    home: Home
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORTAL_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Host names answered besides the loopback ones (the names people reach the portal by).
    allowed_hosts: tuple[str, ...] = ()
    tls_cert: str = ""
    tls_key: str = ""
    oidc: OidcSettings | None = None

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert and self.tls_key)
