"""One connection to the Kubernetes API, with errors that say what to do.

Every cluster command goes through `connect()`: a missing kubeconfig, an
unknown context or an unreachable API server (stopped k3d cluster, Docker
down, wrong context — FM-14) becomes one clear error before anything else
runs. `Kube.request` speaks raw API paths through the official client, so
callers read the API's own JSON fields instead of parsing printed tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroscale.errors import InvalidInput, NotFound, NotReady

TIMEOUT_S = 10


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        return str(self.body.get("message", "")) if isinstance(self.body, dict) else ""


class Kube:
    """A connected API client plus the context it came from."""

    def __init__(self, api: Any, *, context: str) -> None:
        self.api = api
        self.context = context
        self.server = str(api.configuration.host)

    def request(self, method: str, path: str, *, query: dict[str, str] | None = None,
                body: Any = None, content_type: str = "application/json") -> Response:
        """Call the API; HTTP errors come back as a Response, transport errors raise NotReady."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            params = self.api.param_serialize(
                method, path, query_params=list((query or {}).items()), body=body,
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                auth_settings=["BearerToken"])
            resp = self.api.call_api(*params, _request_timeout=TIMEOUT_S)
            raw = resp.read()
            status = resp.status
        except ApiException as exc:
            status, raw = exc.status, exc.body or b""
        except HTTPError as exc:
            raise NotReady(f"cannot reach the Kubernetes API at {self.server}: {type(exc).__name__}",
                           where=f"context {self.context}",
                           fix="start the cluster (e.g. `k3d cluster start neuroscale`) or pick the right context "
                               "with --context") from None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"message": raw.decode("utf-8", "replace")[:300] if isinstance(raw, bytes) else str(raw)}
        return Response(int(status), data if isinstance(data, dict) else {"items": data})

    def get(self, path: str, **query: str) -> dict[str, Any] | None:
        """The object or list at `path`, or None when it does not exist (404)."""
        resp = self.request("GET", path, query=query or None)
        if resp.status == 404:
            return None
        if not resp.ok:
            raise NotReady(f"GET {path} failed: {resp.status} {resp.message}", where=f"context {self.context}",
                           fix="check that your credentials may read this resource (kubectl auth can-i)")
        return resp.body

    def items(self, path: str, **query: str) -> list[dict[str, Any]] | None:
        """Items of a list, or None when the resource type is not installed."""
        body = self.get(path, **query)
        return None if body is None else list(body.get("items") or [])

    def close(self) -> None:
        self.api.close()


def connect(*, kubeconfig: Path | None = None, context: str | None = None) -> Kube:
    """Load the kubeconfig and prove the API answers; clear errors for each way this fails."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    if kubeconfig is not None and not kubeconfig.is_file():
        raise NotFound(f"kubeconfig {kubeconfig} does not exist", where="--kubeconfig",
                       fix="pass the kubeconfig of your cluster (k3d writes it with `k3d kubeconfig merge`)")
    try:
        contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"cannot read the kubeconfig: {str(exc).splitlines()[0] if str(exc) else exc}",
                           where=str(kubeconfig or "~/.kube/config"),
                           fix="pass --kubeconfig PATH or set KUBECONFIG to a valid kubeconfig") from None
    names = [c["name"] for c in contexts or []]
    chosen = context or (active or {}).get("name", "")
    if context and context not in names:
        raise NotFound(f"context {context!r} is not in the kubeconfig (have: {', '.join(names) or 'none'})",
                       where="--context", fix="pick one of the listed contexts")
    try:
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None, context=context)
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"kubeconfig context {chosen!r} is unusable: {exc}", where="--context",
                           fix="fix the cluster/user entries of that context") from None
    api.configuration.retries = 0
    kube = Kube(api, context=chosen)
    version = kube.request("GET", "/version")
    if not version.ok:
        kube.close()
        raise NotReady(f"the API server at {kube.server} answered {version.status}: {version.message}",
                       where=f"context {chosen}", fix="check your credentials for this cluster")
    return kube
