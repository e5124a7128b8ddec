"""`check --online`: ask each image's registry whether the tag (or digest) still exists.

The dated list of moved registries (NS-L016) only knows what was announced;
a tag deleted last night, or a repository that went private, is found only by
asking. Each distinct reference is resolved once with the Docker Registry
HTTP API v2, the way a container runtime does: `HEAD /v2/<repo>/manifests/<ref>`
with the manifest media types, and on `401` the anonymous bearer-token flow
the `WWW-Authenticate` challenge names. Loopback registries are spoken to over
plain HTTP (as runtimes treat them as insecure registries), all others over
HTTPS. A registry that cannot be asked is an error — the check could not
evaluate the image, which is never a pass.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from neuroscale.check.lints.images import DOCKER_HUB, ImageUse, Reference, image_uses, parse_reference
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

RULE_MISSING = "NS-O001"
RULE_UNREACHABLE = "NS-O002"
TIMEOUT_S = 15.0
WORKERS = 8
MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"))
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class Resolution:
    found: bool | None  # None: the registry could not be asked
    detail: str


def endpoint(reference: Reference) -> str:
    host = "registry-1.docker.io" if reference.registry == DOCKER_HUB else reference.registry
    scheme = "http" if host.split(":")[0] in _LOOPBACK or host.startswith("[::1]") else "https"
    return f"{scheme}://{host}"


class RegistryClient:
    """Resolves references against registries (one httpx client, anonymous tokens)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def _token(self, challenge: str, repository: str) -> str | None:
        if not challenge.lower().startswith("bearer "):
            return None
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            return None
        params.setdefault("scope", f"repository:{repository}:pull")
        response = self.client.get(realm, params=params)
        if response.status_code != 200:
            return None
        body = response.json()
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        return str(token) if token else None

    def resolve(self, reference: Reference) -> Resolution:
        ref = reference.digest or reference.tag or "latest"
        url = f"{endpoint(reference)}/v2/{reference.repository}/manifests/{ref}"
        headers = {"Accept": MANIFEST_TYPES}
        try:
            response = self.client.head(url, headers=headers)
            if response.status_code == 401:
                token = self._token(response.headers.get("www-authenticate", ""), reference.repository)
                if token:
                    response = self.client.head(url, headers={**headers, "Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            return Resolution(None, f"{type(exc).__name__}: {exc}")
        if response.status_code == 200:
            return Resolution(True, "")
        if response.status_code == 404:
            return Resolution(False, f"{ref} does not exist in {reference.name}")
        if response.status_code in (401, 403):
            return Resolution(False, f"{reference.name} refuses anonymous pulls (HTTP {response.status_code}): "
                                     "it is private, or was removed")
        return Resolution(None, f"{reference.registry} answered HTTP {response.status_code}")


def resolve_images(view: RepoView, client: httpx.Client) -> list[Finding]:
    """A finding for every image whose tag the registry does not have, or that could not be resolved."""
    uses = [use for use in image_uses(view) if not (use.from_values and not parse_reference(use.image).tag
                                                    and not parse_reference(use.image).digest)]
    references = sorted({use.image for use in uses})
    registry = RegistryClient(client)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        resolved = dict(zip(references, pool.map(lambda image: registry.resolve(parse_reference(image)), references)))
    return [_finding(view, use, resolved[use.image]) for use in uses if resolved[use.image].found is not True]


def _finding(view: RepoView, use: ImageUse, resolution: Resolution) -> Finding:
    if resolution.found is None:
        return view.finding(use.doc, rule=RULE_UNREACHABLE, severity=Severity.ERROR, needle=use.needle,
                            field_path=use.field_path,
                            message=f"image {use.image} could not be resolved: {resolution.detail}",
                            fix="check the registry address and the network of the machine running the check")
    return view.finding(use.doc, rule=RULE_MISSING, severity=Severity.ERROR, needle=use.needle,
                        field_path=use.field_path, message=f"image {use.image} cannot be pulled: {resolution.detail}",
                        fix="use a tag that exists (list them with `crane ls` / `skopeo list-tags`), or a maintained "
                            "registry")


def online_findings(view: RepoView) -> list[Finding]:
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=True) as client:
        return resolve_images(view, client)
