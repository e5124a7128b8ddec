"""Reading Argo CD Applications: what they sync, from where, to which cluster, and in which wave.

Several footguns depend on which Application applies a file: a `$patch: delete`
file inside a synced directory, a huge CRD synced without server-side apply,
Kyverno installed after the workloads it polices. These helpers answer those
questions from the Application manifests alone.

Only a source of *this* repository applies this repository's files: one whose
`repoURL` is a URL of this repository — a git remote of the checked directory,
or one listed under `repoURLs` in neuroscale.yaml. A chart source (`chart:`)
never is. When neither names the repository (a plain directory, a platform's
own pull-request checks), every git source is taken as this repository, as is
a `repoURL` written with a placeholder (`$(REPO_URL)`, `{{ .repo }}`). A
destination written with a placeholder is an unknown cluster: it is neither the
same as nor different from any other. The Applications an ApplicationSet generates count
as written ones wherever ownership is asked (`all_applications`, `SyncIndex`; see `appsets`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from neuroscale.check.lints.appsets import Generated, generated_applications
from neuroscale.check.lints.base import dig
from neuroscale.check.model import Document, RepoView
from neuroscale.check.repoconfig import read_config

SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
IN_CLUSTER = "https://kubernetes.default.svc"
#: Text a generator or a build substitutes later: kustomize vars `$(VAR)`, envsubst `${VAR}`, Helm and
#: ApplicationSet templates `{{ .x }}` / `{{x}}`.
_PLACEHOLDER = re.compile(r"\$\(|\$\{|\{\{")
#: `scheme://`, and `user@` in front of a host (`git@github.com:org/repo`).
_URL_PREFIX = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]+@)?", re.IGNORECASE)


def is_placeholder(value: str) -> bool:
    """True for a value written to be substituted later, so what it will be is unknown here."""
    return bool(_PLACEHOLDER.search(value))


def repository_key(url: str) -> str:
    """One spelling of a git repository URL: `https://github.com/Org/Repo.git`, `git@github.com:org/repo` and
    `ssh://git@github.com/org/repo/` all read `github.com/org/repo`."""
    text = url.strip()
    rest = _URL_PREFIX.sub("", text, count=1).rstrip("/").removesuffix(".git")
    if "://" not in text:  # scp-like `host:org/repo` (a port needs the ssh:// form)
        rest = rest.replace(":", "/", 1)
    host, sep, path = rest.partition("/")
    return f"{host.partition(':')[0]}{sep}{path}".lower()


class ThisRepository:
    """Which `repoURL`s name the repository being checked (see the module docstring for the rule)."""

    def __init__(self, urls: Iterable[str]) -> None:
        self.keys = frozenset(repository_key(url) for url in urls if url.strip())

    @classmethod
    def of(cls, view: RepoView) -> ThisRepository:
        config, _ = read_config(view)
        return cls((*view.remotes, *config.repo_urls))

    def names(self, repo_url: str) -> bool:
        """True when a git source's `repoURL` may be this repository."""
        return not self.keys or is_placeholder(repo_url) or repository_key(repo_url) in self.keys

    def holds(self, source: Source) -> bool:
        """True when `source` syncs files of this repository (a directory of it, not a chart)."""
        return bool(source.path) and not source.chart and self.names(source.repo_url)


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


def all_applications(view: RepoView, this: ThisRepository | None = None) -> list[Document]:
    """Written Applications and those the repository's ApplicationSets generate."""
    return [*applications(view), *generated_applications(view, this or ThisRepository.of(view)).applications]


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


def destination_cluster(app: Document) -> str | None:
    """The cluster an Application deploys to: its destination server, or the cluster's name (Argo CD names
    its own cluster `in-cluster`); None when it is written with a placeholder (unknown until substituted)."""
    destination = dig(app.data, "spec", "destination")
    if not isinstance(destination, dict):
        return ""
    cluster = str(destination.get("server") or destination.get("name") or "")
    if is_placeholder(cluster):
        return None
    return IN_CLUSTER if cluster == "in-cluster" else cluster


def destination_namespace(app: Document) -> str | None:
    """The namespace an Application puts objects that name none into ('' when it sets none); None when it
    is written with a placeholder."""
    namespace = str(dig(app.data, "spec", "destination", "namespace") or "")
    return None if is_placeholder(namespace) else namespace


def synced_by(view: RepoView, path: str) -> list[Source]:
    """Sources of this repository's Applications whose directory contains `path`."""
    return SyncIndex(view).of(path)


class SyncIndex:
    """Which Application sources of this repository sync a path, answered per object in O(path depth): lints
    that ask it for every object of a 10,000-object repository cannot afford a scan of every Application each
    time."""

    def __init__(self, view: RepoView) -> None:
        self.view = view
        self.this = ThisRepository.of(view)

    @functools.cached_property
    def applications(self) -> list[Document]:
        """Every Application, written or generated; generated on first use (a lint that builds an index but
        finds nothing to ask it about does not pay for stamping out every ApplicationSet)."""
        return [*applications(self.view), *self.generated.applications]

    @functools.cached_property
    def generated(self) -> Generated:
        """What the ApplicationSets generate, and which of them cannot be followed for a file they read."""
        return generated_applications(self.view, self.this)

    @functools.cached_property
    def by_directory(self) -> dict[str, list[Source]]:
        """Sources of this repository by the directory they sync ('' for the root)."""
        found: dict[str, list[Source]] = {}
        for source in self._directory_sources:
            if self.this.holds(source):
                found.setdefault("" if source.directory in ("", ".") else source.directory, []).append(source)
        return found

    @functools.cached_property
    def elsewhere(self) -> list[Source]:
        """Directory sources of other repositories (they apply none of this repository's files)."""
        return [source for source in self._directory_sources if not self.this.holds(source)]

    @functools.cached_property
    def _directory_sources(self) -> list[Source]:
        """Sources that sync a known directory (of a placeholder path, which one of which repository is unknown)."""
        return [source for app in self.applications for source in sources(app)
                if source.path and not source.chart and not is_placeholder(source.path)]

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
