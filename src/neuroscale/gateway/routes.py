"""The routing table: which revisions and replicas serve which endpoint, read from the reconciler's file.

Two ways in, as KServe on Kourier offers: by path (`/v1/models/<name>…`,
`/v2/models/<name>/…`) and by `Host: <name>.<namespace>.<domain>`. Lookups are
dictionary hits so the hot path stays cheap; the file is re-read only when its
mtime changes. A route lists its revisions with their share of traffic and
ready replicas (`traffic`); a file written before revisions had replicas
(`upstream` only) reads as one revision with one replica. A route with `auth`
serves only requests carrying an API key of its endpoint (see `api_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neuroscale.gateway.filewatch import WatchedJson


Address = tuple[str, int]


@dataclass(frozen=True)
class RevisionRoute:
    revision: str
    percent: int
    upstreams: tuple[Address, ...]


@dataclass(frozen=True)
class Route:
    name: str
    namespace: str
    ready: bool
    revisions: tuple[RevisionRoute, ...]
    reason: str
    message: str
    timeout: float = 300.0  # seconds per request, from the InferenceService
    concurrency: int = 0  # in flight per replica; 0: no limit
    record: tuple[int, int, float] | None = None  # keep a sample of answered requests: (requests, bytes, retention s)
    shadow: tuple[str, int] | None = None  # copy this share of answered requests to a revision: (revision, %)
    auth: str = ""  # requests need an API key of this endpoint; "": open (the hot path tests only this)
    preview: bool = False  # a pull request's preview, not an endpoint on main (admins cannot load or unload it)

    @property
    def revision(self) -> str:
        """The revision with the largest share (what errors name)."""
        return max(self.revisions, key=lambda r: r.percent).revision if self.revisions else ""


@dataclass(frozen=True)
class RouteTable:
    domain: str
    updated: str
    by_name: dict[str, Route]
    by_host: dict[str, Route]

    @classmethod
    def empty(cls, domain: str) -> RouteTable:
        return cls(domain=domain, updated="", by_name={}, by_host={})

    @classmethod
    def from_document(cls, document: dict[str, object], *, default_domain: str) -> RouteTable:
        domain = str(document.get("domain") or default_domain)
        endpoints = document.get("endpoints")
        by_name: dict[str, Route] = {}
        by_host: dict[str, Route] = {}
        for name, entry in (endpoints.items() if isinstance(endpoints, dict) else []):
            if not isinstance(entry, dict):
                continue
            route = Route(
                name=name,
                namespace=str(entry.get("namespace") or "default"),
                ready=bool(entry.get("ready")),
                revisions=_revisions(entry),
                reason=str(entry.get("reason") or ""),
                message=str(entry.get("message") or ""),
                timeout=_number(entry.get("timeout"), 300.0),
                concurrency=int(_number(entry.get("concurrency"), 0)),
                record=_record(entry.get("record")),
                shadow=_shadow(entry.get("shadow")),
                auth=auth_of(name, entry),
                preview=bool(entry.get("preview")),
            )
            by_name[name] = route
            by_host[f"{name}.{route.namespace}.{domain}"] = route
        return cls(domain=domain, updated=str(document.get("updated") or ""), by_name=by_name, by_host=by_host)

    def for_host(self, host: str) -> Route | None:
        if not host:
            return None
        return self.by_host.get(host.rsplit(":", 1)[0].lower())


def auth_of(name: str, entry: dict[str, Any]) -> str:
    """Whose API keys a route's requests need ("" for none): a preview names its endpoint in `keys_of`.

    Any true `auth` value counts, so a hand-edited file errs on the side of asking for a key.
    """
    return str(entry.get("keys_of") or name) if entry.get("auth") else ""


def _parse_upstream(value: object) -> Address | None:
    if not isinstance(value, str) or ":" not in value:
        return None
    host, _, port = value.rpartition(":")
    return (host, int(port)) if port.isdigit() else None


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else default


def _record(value: object) -> tuple[int, int, float] | None:
    if not isinstance(value, dict):
        return None
    requests, size = int(_number(value.get("max_requests"), 0)), int(_number(value.get("max_bytes"), 0))
    return (requests, size, _number(value.get("retention_s"), 0.0)) if requests and size else None  # 0: no expiry


def _shadow(value: object) -> tuple[str, int] | None:
    if not isinstance(value, dict) or not isinstance(value.get("revision"), str):
        return None
    percent = int(_number(value.get("percent"), 0))
    return (value["revision"], min(percent, 100)) if percent else None


def _revisions(entry: dict[str, object]) -> tuple[RevisionRoute, ...]:
    traffic = entry.get("traffic")
    if not isinstance(traffic, list):  # a routes file from before replicas: one revision, one upstream
        upstream = _parse_upstream(entry.get("upstream"))
        return (RevisionRoute(str(entry.get("revision") or ""), 100, (upstream,)),) if upstream else ()
    found = []
    for item in traffic:
        if not isinstance(item, dict) or not isinstance(item.get("revision"), str):
            continue
        upstreams = tuple(a for a in (_parse_upstream(u) for u in item.get("upstreams") or ()) if a is not None)
        found.append(RevisionRoute(item["revision"], int(_number(item.get("percent"), 0)), upstreams))
    return tuple(found)


def model_name_from_path(path: str) -> str | None:
    """`/v1/models/iris:predict` and `/v2/models/iris/infer` both name `iris` (`path`: `requestpath`'s, no query)."""
    for prefix in ("/v1/models/", "/v2/models/"):
        if path.startswith(prefix):
            rest = path[len(prefix):]
            end = len(rest)
            for separator in (":", "/"):
                index = rest.find(separator)
                if index != -1:
                    end = min(end, index)
            return rest[:end] or None
    return None


class RouteWatcher:
    """Holds the current table and reloads it when the file changes."""

    def __init__(self, path: Path, *, default_domain: str) -> None:
        self.file = WatchedJson(path)
        self.default_domain = default_domain
        self.table = RouteTable.empty(default_domain)

    def refresh(self) -> bool:
        """Reload if the file changed; a half-written or missing file keeps the last good table."""
        document = self.file.changed()
        if document is None:
            return False
        self.table = RouteTable.from_document(document, default_domain=self.default_domain)
        return True
