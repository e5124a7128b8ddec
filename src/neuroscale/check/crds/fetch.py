"""Fetch the CRDs of pinned releases into the cache: from release artifacts, a directory or a cluster.

Three sources, one result shape. Release artifacts are downloaded over HTTPS
(bounded in size and time; `--mirror` puts an artifact proxy in front, as
air-gapped CI needs); a chart version that is not the release tag is mapped to
the release through the Helm repository's `index.yaml`. A directory laid out
`<dir>/<project>/[<release>/]*.yaml` serves offline use and tests. A cluster
gives the CRDs it actually serves (listed by `services.crds` through the
official client). Only CustomResourceDefinitions of the project's own API
groups are kept; a pin that yields none is a failure, never an empty entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from neuroscale.check.crds import cache
from neuroscale.check.crds.catalogue import Project, projects
from neuroscale.check.crds.pins import Pin, tag
from neuroscale.check.model import Limits
from neuroscale.check.yamldocs import parse_file

MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
TIMEOUT_S = 60.0
_LIMITS = Limits(max_file_bytes=MAX_ARTIFACT_BYTES, max_expanded_nodes=20_000_000)


class PullError(Exception):
    """Why one pin's CRDs could not be fetched (shown next to the pin)."""


class CrdSource(Protocol):
    @property
    def label(self) -> str: ...

    def fetch(self, pin: Pin, project: Project) -> list[dict[str, Any]]: ...


def crds_of(documents: Iterable[Any], project: Project) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions among `documents` that define the project's API groups."""
    return [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
            and str(doc.get("apiVersion", "")).startswith("apiextensions.k8s.io/")
            and project.defines(str((doc.get("spec") or {}).get("group", "")))]


def parse(name: str, raw: bytes) -> list[Any]:
    documents, problems = parse_file(name, raw, limits=_LIMITS)
    if problems:
        raise PullError(f"{name}: {problems[0].message}")
    return [doc.data for doc in documents]


@dataclass(frozen=True)
class DirectorySource:
    """`<root>/<project>/<release>/` when present, else `<root>/<project>/` (e.g. a copy of upstream CRDs)."""

    root: Path

    @property
    def label(self) -> str:
        return f"directory {self.root}"

    def fetch(self, pin: Pin, project: Project) -> list[dict[str, Any]]:
        base = self.root / project.id
        directory = base / pin.key if (base / pin.key).is_dir() else base
        if not directory.is_dir():
            raise PullError(f"{base} does not exist")
        documents: list[Any] = []
        for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
            documents += parse(path.name, path.read_bytes())
        return crds_of(documents, project)


@dataclass(frozen=True)
class ClusterSource:
    """CRDs listed from a cluster (`kubectl get crd -o json` items, as the API returns them)."""

    context: str
    items: Sequence[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"cluster context {self.context}"

    def fetch(self, pin: Pin, project: Project) -> list[dict[str, Any]]:
        return [_without_status(crd) for crd in crds_of(self.items, project)]


def _without_status(crd: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (crd.get("metadata") or {}).items()
                if k in ("name", "labels", "annotations")}
    return {"apiVersion": crd.get("apiVersion", "apiextensions.k8s.io/v1"),
            "kind": "CustomResourceDefinition", "metadata": metadata, "spec": crd.get("spec", {})}


class HttpSource:
    """The project's release artifacts (see the catalogue), optionally through a mirror."""

    def __init__(self, client: httpx.Client, *, mirror: str = "") -> None:
        self.client = client
        self.mirror = mirror.rstrip("/")

    @property
    def label(self) -> str:
        return f"release artifacts{' via ' + self.mirror if self.mirror else ''}"

    def url(self, url: str) -> str:
        """`https://host/path` as fetched: through the mirror (`<mirror>/host/path`) when one is set."""
        return f"{self.mirror}/{url.split('://', 1)[1]}" if self.mirror else url

    def get(self, url: str) -> bytes:
        try:
            with self.client.stream("GET", self.url(url)) as response:
                if response.status_code != 200:
                    raise PullError(f"{url} answered HTTP {response.status_code}")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ARTIFACT_BYTES:
                        raise PullError(f"{url} is larger than {MAX_ARTIFACT_BYTES:,} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise PullError(f"{url}: {type(exc).__name__}: {exc}") from None

    def release(self, pin: Pin) -> str:
        """The release tag of `pin` (a chart version is looked up in its repository's index.yaml)."""
        if not pin.chart:
            return pin.version
        if not pin.chart_repo.startswith(("https://", "http://")):
            raise PullError(f"chart {pin.chart} {pin.version} comes from {pin.chart_repo or 'an unknown repository'}"
                            ", which has no index.yaml to map it to a release")
        index = parse("index.yaml", self.get(f"{pin.chart_repo.rstrip('/')}/index.yaml"))
        entries = (index[0].get("entries") or {}).get(pin.chart) if index and isinstance(index[0], dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and str(entry.get("version")) == pin.version and entry.get("appVersion"):
                return tag(str(entry["appVersion"]))
        raise PullError(f"chart {pin.chart} {pin.version} is not in {pin.chart_repo}/index.yaml")

    def fetch(self, pin: Pin, project: Project) -> list[dict[str, Any]]:
        release = self.release(pin)
        documents: list[Any] = []
        for url in project.artifact_urls(release):
            documents += parse(url.rsplit("/", 1)[-1], self.get(url))
        return crds_of(documents, project)


@dataclass(frozen=True)
class PullResult:
    pin: Pin
    status: str  # pulled | cached | failed
    detail: str = ""
    count: int = 0


def pull(pins: Sequence[Pin], *, cache_dir: Path, source: CrdSource, refresh: bool = False) -> list[PullResult]:
    """Fill the cache for every pin (entries already valid are kept unless `refresh`)."""
    results = []
    for pin in pins:
        existing = cache.read(cache_dir, pin)
        if existing.crds is not None and not refresh:
            results.append(PullResult(pin, "cached", f"from {existing.source}"))
            continue
        project = projects()[pin.project]
        try:
            crds = source.fetch(pin, project)
        except PullError as exc:
            results.append(PullResult(pin, "failed", str(exc)))
            continue
        except OSError as exc:
            results.append(PullResult(pin, "failed", f"{type(exc).__name__}: {exc}"))
            continue
        if not crds:
            results.append(PullResult(pin, "failed", f"{source.label} holds no CRD of {', '.join(project.groups)}"))
            continue
        cache.write(cache_dir, pin, crds, source=source.label)
        results.append(PullResult(pin, "pulled", f"from {source.label}", len(crds)))
    return results
