"""NS-L013: the same object managed twice (FM-04, FM-07).

Two Applications syncing the same object into the same cluster fight over it
(comparison instability, `SharedResourceWarning`); the same object rendered
twice by one Application, one build or one file makes the last one win
silently. Two Applications pointing at the same source path create the
redundant-Application problem.

What an Application applies is what Argo CD would apply: the build of the
kustomization (or chart) at its path, or else the files directly in its
directory (subdirectories only with `directory.recurse`). Overlays of one base
built for different environments are different renderings, not duplicates.

Only sources of this repository apply its files (a source naming another
repository, or a chart, applies that repository's or chart's objects: see
`argo`). Two Applications collide only in one cluster; a destination written
with a placeholder is an unknown cluster, so a possible collision with it is a
warning that says so, never an error and never silence. An ApplicationSet
Argo CD stops on a config file its git files generator reads is an error at
that file: its Applications, and what they would own, are unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from neuroscale.check.applied import applied_objects
from neuroscale.check.kustomization import Kustomization, directory_of, kustomizations
from neuroscale.check.lints.argo import (Source, SyncIndex, destination_cluster,
                                         destination_namespace, is_placeholder, repository_key, sources)
from neuroscale.check.lints.base import Lint
from neuroscale.check.lints.scopes import KindScopes
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L013"

_Key = tuple[str, str, str, str]
#: (Application name, where it puts the object: its destination cluster, and namespace for a namespaced object
#: that names none; None when a placeholder leaves that unknown)
_Owner = tuple[str, str | None]
#: Said when nothing named this repository, so every git source's directory was taken as one of this repository.
_GUESSED = ("; no git remote of this checkout nor `repoURLs` in neuroscale.yaml names this repository, so every "
            "Application's git source was taken as this repository: name it if some are other repositories")
_UNKNOWN_FIX = ("write the destination without a placeholder where the object is applied (or render the "
                "Application first), or let exactly one Application own it")


def _describe(key: _Key) -> str:
    group, kind, namespace, name = key
    return f"{kind}{'.' + group if group else ''} {namespace + '/' if namespace else ''}{name}"


class _Applies:
    """Which Application sources apply a document, answered from each source's kind of directory."""

    def __init__(self, view: RepoView) -> None:
        self.view = view
        self.index = SyncIndex(view)
        self.kusts = kustomizations(view)
        self.scopes = KindScopes(view)
        self.built: dict[str, frozenset[str]] = {}

    def _files_built(self, kust: Kustomization) -> frozenset[str]:
        """Files a kustomization's build reads its objects from, through every base it includes."""
        if kust.directory not in self.built:
            files: set[str] = set()
            seen: set[str] = set()
            pending = [kust]
            while pending:
                current = pending.pop()
                if current.directory in seen:
                    continue
                seen.add(current.directory)
                for path in current.includes:
                    if path in self.kusts:
                        pending.append(self.kusts[path])
                    else:
                        files.add(path)
            self.built[kust.directory] = frozenset(files)
        return self.built[kust.directory]

    def _applies(self, source: Source, doc: Document) -> bool:
        if doc.rendered_from:
            return source.directory == directory_of(doc.rendered_from)
        kust = self.kusts.get(source.directory)
        if kust is not None:
            return doc.path in self._files_built(kust)
        prefix = f"{source.directory}/" if source.directory else ""
        if f"{prefix}Chart.yaml" in self.view.files:
            return True
        return source.recurse or "/" not in doc.path.removeprefix(prefix)

    def owners(self, doc: Document) -> list[_Owner]:
        """(Application, where it puts `doc`) of every source of this repository that applies `doc`."""
        candidates: Iterable[Source] = self.index.of(doc.rendered_from or doc.path)
        found = {(s.app.name, self._place(s.app, doc)) for s in candidates if self._applies(s, doc)}
        return sorted(found, key=lambda owner: (owner[0], owner[1] or ""))

    def _place(self, app: Document, doc: Document) -> str | None:
        """Where `app` puts `doc`: its cluster, and for a namespaced object that names no namespace, the
        Application's destination namespace too (two Applications syncing one directory into two namespaces
        create two objects, but one cluster-scoped object, whatever its CRD's kind is called); None when a
        placeholder leaves it unknown."""
        cluster = destination_cluster(app)
        if cluster is None or doc.namespace or self.scopes.cluster_scoped(doc):
            return cluster
        namespace = destination_namespace(app)
        return None if namespace is None else f"{cluster} namespace {namespace}"




def check(view: RepoView) -> list[Finding]:
    findings: list[Finding] = []
    owners: dict[_Key, list[tuple[Document, str, str | None]]] = defaultdict(list)
    applies = _Applies(view)
    for doc in applied_objects(view):  # a kustomize patch names its target: it is not a second definition
        if not doc.name:
            continue
        unowned = f"build:{doc.rendered_from}" if doc.rendered_from else f"file:{doc.path}"
        for app, cluster in applies.owners(doc) or [(unowned, "")]:
            owners[doc.key].append((doc, app, cluster))
    guessed = "" if applies.index.this.keys else _GUESSED
    for key, entries in owners.items():
        findings.extend(_managed_twice(view, key, entries, guessed=guessed))
        findings.extend(_rendered_twice(view, key, entries))
    findings.extend(_duplicate_sources(view, applies.index.applications))
    findings.extend(_none_of_ours(view, applies.index))
    findings.extend(_unreadable(applies.index))
    return findings


def _unreadable(index: SyncIndex) -> list[Finding]:
    """An ApplicationSet Argo CD stops on a file it reads: it deploys nothing, and which objects its
    Applications would own is unknown here, so the check must not pass as if it had been followed."""
    return [Finding(
        rule=ID, severity=Severity.ERROR, file=problem.path, line=problem.line,
        message=f"ApplicationSet {problem.appset.name} ({problem.appset.path}) reads this file with its git files "
                f"generator and Argo CD cannot: {problem.reason}; Argo CD generates none of its Applications, "
                "and which objects they would own is not checked",
        fix="make the file one YAML or JSON object (or a list of objects), or leave it out of the generator "
            "(`exclude: true`)", extra={"causes": [problem.appset.path]})
        for problem in index.generated.unreadable]


def _none_of_ours(view: RepoView, index: SyncIndex) -> list[Finding]:
    """Said when Applications sync directories but none from this repository: a remote that is a mirror or a
    local clone would otherwise make every ownership check pass in silence."""
    if index.by_directory or not index.elsewhere:
        return []
    first = index.elsewhere[0]
    named = ", ".join(sorted(index.this.keys))
    return [view.finding(
        first.app, rule=ID, severity=Severity.INFO, needle="repoURL",
        message=f"no Application syncs a directory of this repository ({named}): {len(index.elsewhere)} "
                f"source(s) name other repositories (e.g. {first.repo_url}), so they own none of its files",
        fix="if Argo CD fetches this repository by another URL than its git remotes, list that URL under "
            "repoURLs in neuroscale.yaml")]


def _managed_twice(view: RepoView, key: _Key, entries: list[tuple[Document, str, str | None]], *,
                   guessed: str) -> list[Finding]:
    by_cluster: dict[str | None, set[str]] = defaultdict(set)
    for _, owner, cluster in entries:
        if not owner.startswith(("file:", "build:")):
            by_cluster[cluster].add(owner)
    for cluster, apps in by_cluster.items():
        if cluster is not None and len(apps) > 1:
            first = next(doc for doc, owner, where in entries if owner in apps and where == cluster)
            return [view.finding(
                first, rule=ID, severity=Severity.ERROR,
                message=f"{_describe(key)} is managed by {len(apps)} Applications ({', '.join(sorted(apps))})",
                fix="let exactly one Application own each object; remove it from the others' paths" + guessed)]
    unknown = by_cluster.get(None, set())
    apps = set().union(*by_cluster.values())
    if unknown and len(apps) > 1:
        first = next(doc for doc, owner, where in entries if owner in unknown and where is None)
        return [view.finding(
            first, rule=ID, severity=Severity.WARNING,
            message=f"{_describe(key)} is applied by {len(apps)} Applications ({', '.join(sorted(apps))}); "
                    f"{_unknown(unknown)}, so whether they fight over it in one cluster is unknown",
            fix=_UNKNOWN_FIX + guessed)]
    return []


def _unknown(apps: set[str]) -> str:
    names = ", ".join(sorted(apps))
    return f"the destination of {names} is a placeholder" if len(apps) == 1 else \
        f"the destinations of {names} are placeholders"


def _rendered_twice(view: RepoView, key: _Key, entries: list[tuple[Document, str, str | None]]) -> list[Finding]:
    findings = []
    reported: set[tuple[int, ...]] = set()
    for owner in dict.fromkeys(owner for _, owner, _ in entries):
        copies = [doc for doc, other, _ in entries if other == owner]
        identity = tuple(sorted(id(doc) for doc in copies))
        if len(copies) > 1 and identity not in reported:
            reported.add(identity)
            where = ", ".join(f"{d.path}:{d.line}" for d in copies)
            findings.append(view.finding(
                copies[1], rule=ID, severity=Severity.ERROR,
                message=f"{_describe(key)} is rendered {len(copies)} times ({where}); the last one wins silently",
                fix="keep one definition and delete the duplicates"))
    return findings


def _duplicate_sources(view: RepoView, apps: list[Document]) -> list[Finding]:
    """Two Applications syncing one directory of one repository (this one or another) into one cluster."""
    seen: dict[tuple[str, str], _Earlier] = {}
    findings = []
    for app in apps:
        destination = (destination_cluster(app), destination_namespace(app))
        for source in sources(app):
            if not source.path or is_placeholder(source.path):
                continue
            earlier = seen.setdefault((repository_key(source.repo_url), source.directory), _Earlier())
            other = earlier.colliding(app.name, destination)
            earlier.add(app, destination)
            if other is None:
                continue
            where = f"both sync {source.directory} from {source.repo_url}"
            unknown = {a.name for a in (other, app) if None in (destination_cluster(a), destination_namespace(a))}
            findings.append(view.finding(
                app, rule=ID, needle="path:", severity=Severity.WARNING if unknown else Severity.ERROR,
                message=f"Applications {other.name} and {app.name} {where}: "
                        + (f"{_unknown(unknown)}, so whether every object there is applied twice in one cluster "
                           "is unknown" if unknown else "every object there is applied twice"),
                fix=_UNKNOWN_FIX if unknown else
                "delete the redundant Application (an ApplicationSet may already generate it)"))
    return findings


#: (destination cluster, destination namespace); None where a placeholder leaves it unknown.
_Destination = tuple[str | None, str | None]


class _Earlier:
    """The Applications already seen syncing one directory, by destination: which of them may collide with
    the next one is a few lookups, not a comparison with each (an ApplicationSet stamping one directory into
    200 namespaces made that quadratic)."""

    def __init__(self) -> None:
        self.by_destination: dict[_Destination, list[tuple[int, Document]]] = {}
        self.count = 0

    def add(self, app: Document, destination: _Destination) -> None:
        self.by_destination.setdefault(destination, []).append((self.count, app))
        self.count += 1

    def colliding(self, name: str, destination: _Destination) -> Document | None:
        """The first Application seen, named otherwise, that may collide with one at `destination`."""
        cluster, namespace = destination
        if cluster is not None and namespace is not None:
            keys: Iterable[_Destination] = {destination, (None, namespace), (cluster, None), (None, None)}
        else:
            keys = [key for key in self.by_destination if _may_collide(key, destination)]
        found = [next(((order, app) for order, app in self.by_destination.get(key, []) if app.name != name),
                      None) for key in keys]
        first = min((item for item in found if item is not None), key=lambda item: item[0], default=None)
        return None if first is None else first[1]


def _may_collide(first: _Destination, second: _Destination) -> bool:
    """False only when both destinations are known and differ (another cluster, or another namespace: then
    only the objects that name their namespace, or are cluster-scoped, collide, and `_managed_twice` says so
    per object)."""
    (one, here), (two, there) = first, second
    if one is not None and two is not None and one != two:
        return False
    return here is None or there is None or here == there


LINT = Lint(id=ID, title="Object managed by two Applications or rendered twice", failure_modes=("FM-04", "FM-07"),
            severity=Severity.ERROR, check=check)
