"""Reading Argo CD Applications: what they sync, how, and in which wave.

Several footguns depend on which Application applies a file: a `$patch: delete`
file inside a synced directory, a huge CRD synced without server-side apply,
Kyverno installed after the workloads it polices. These helpers answer those
questions from the Application manifests alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from neuroscale.check.lints.base import dig
from neuroscale.check.model import Document, RepoView

SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
IN_CLUSTER = "https://kubernetes.default.svc"


@dataclass(frozen=True)
class Source:
    app: Document
    repo_url: str
    path: str  # directory in the repository ('' when the source is a chart from a registry)
    chart: str
    recurse: bool = False  # spec.source.directory.recurse: subdirectories are applied too
    revision: str = ""  # targetRevision: a git ref, or the chart version

    @property
    def directory(self) -> str:
        return self.path.strip("/").removeprefix("./")


def applications(view: RepoView) -> list[Document]:
    return [doc for doc in view.of_kind("Application") if doc.group == "argoproj.io"]


def sources(app: Document) -> Iterator[Source]:
    spec = dig(app.data, "spec")
    items: list[Any] = []
    if isinstance(dig(spec, "source"), dict):
        items.append(spec["source"])
    if isinstance(dig(spec, "sources"), list):
        items.extend(s for s in spec["sources"] if isinstance(s, dict))
    for item in items:
        yield Source(app=app, repo_url=str(item.get("repoURL", "")), path=str(item.get("path", "") or ""),
                     chart=str(item.get("chart", "") or ""), recurse=dig(item, "directory", "recurse") is True,
                     revision=str(item.get("targetRevision", "") or ""))


def destination_cluster(app: Document) -> str:
    """The cluster an Application deploys to: its destination server, or the cluster's name (Argo CD names
    its own cluster `in-cluster`)."""
    destination = dig(app.data, "spec", "destination")
    if not isinstance(destination, dict):
        return ""
    cluster = str(destination.get("server") or destination.get("name") or "")
    return IN_CLUSTER if cluster == "in-cluster" else cluster


def synced_by(apps: list[Document], path: str) -> list[Source]:
    """Sources of `apps` (see `applications`) whose directory contains `path`."""
    return SyncIndex(apps).of(path)


class SyncIndex:
    """Which Application sources sync a path, answered per object in O(path depth): lints that ask it for
    every object of a 10,000-object repository cannot afford a scan of every Application each time."""

    def __init__(self, apps: list[Document]) -> None:
        self.by_directory: dict[str, list[Source]] = {}
        for app in apps:
            for source in sources(app):
                if source.path:
                    key = "" if source.directory in ("", ".") else source.directory
                    self.by_directory.setdefault(key, []).append(source)

    def of(self, path: str) -> list[Source]:
        found = list(self.by_directory.get("", []))
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            found += self.by_directory.get("/".join(parts[:depth]), [])
        return found


def sync_options(app: Document) -> list[str]:
    options = dig(app.data, "spec", "syncPolicy", "syncOptions")
    return [str(o) for o in options] if isinstance(options, list) else []


def has_server_side_apply(app: Document | None, obj: Document) -> bool:
    """True when `obj` is applied server-side (per Application or per object annotation)."""
    annotation = str((obj.metadata.get("annotations") or {}).get(SYNC_OPTIONS_ANNOTATION, ""))
    if "ServerSideApply=true" in annotation.replace(" ", ""):
        return True
    return app is not None and "ServerSideApply=true" in sync_options(app)


def sync_wave(doc: Document) -> int:
    raw = (doc.metadata.get("annotations") or {}).get(SYNC_WAVE_ANNOTATION, "0")
    try:
        return int(str(raw).strip())
    except ValueError:
        return 0
