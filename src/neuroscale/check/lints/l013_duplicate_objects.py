"""NS-L013: the same object managed twice (FM-04, FM-07).

Two Applications syncing the same object fight over it (comparison
instability, `SharedResourceWarning`); the same object rendered twice by one
Application or one file makes the last one win silently. Two Applications
pointing at the same source path create the redundant-Application problem.
"""

from __future__ import annotations

from collections import defaultdict

from neuroscale.check.applied import applied_objects
from neuroscale.check.lints.argo import SyncIndex, applications, sources
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L013"


def _describe(key: tuple[str, str, str, str]) -> str:
    group, kind, namespace, name = key
    return f"{kind}{'.' + group if group else ''} {namespace + '/' if namespace else ''}{name}"


def check(view: RepoView) -> list[Finding]:
    findings: list[Finding] = []
    owners: dict[tuple[str, str, str, str], list[tuple[Document, str]]] = defaultdict(list)
    all_apps = applications(view)
    synced = SyncIndex(all_apps)
    for doc in applied_objects(view):  # a kustomize patch names its target: it is not a second definition
        if not doc.name:
            continue
        apps = sorted({s.app.name for s in synced.of(doc.path)})
        for app in apps or [f"file:{doc.path}"]:
            owners[doc.key].append((doc, app))
    for key, entries in owners.items():
        apps = sorted({app for _, app in entries if not app.startswith("file:")})
        first = entries[0][0]
        if len(apps) > 1:
            findings.append(view.finding(
                first, rule=ID, severity=Severity.ERROR,
                message=f"{_describe(key)} is managed by {len(apps)} Applications ({', '.join(apps)})",
                fix="let exactly one Application own each object; remove it from the others' paths"))
        for app in {app for _, app in entries}:
            copies = [doc for doc, owner in entries if owner == app]
            if len(copies) > 1:
                where = ", ".join(f"{d.path}:{d.line}" for d in copies)
                findings.append(view.finding(
                    copies[1], rule=ID, severity=Severity.ERROR,
                    message=f"{_describe(key)} is rendered {len(copies)} times ({where}); the last one wins silently",
                    fix="keep one definition and delete the duplicates"))
    findings.extend(_duplicate_sources(view))
    return findings


def _duplicate_sources(view: RepoView) -> list[Finding]:
    seen: dict[tuple[str, str], Document] = {}
    findings = []
    for app in applications(view):
        for source in sources(app):
            if not source.path:
                continue
            key = (source.repo_url, source.directory)
            other = seen.setdefault(key, app)
            if other is not app and other.name != app.name:
                findings.append(view.finding(
                    app, rule=ID, severity=Severity.ERROR, needle="path:",
                    message=f"Applications {other.name} and {app.name} both sync {source.directory} from "
                            f"{source.repo_url}: every object there is applied twice",
                    fix="delete the redundant Application (an ApplicationSet may already generate it)"))
    return findings


LINT = Lint(id=ID, title="Object managed by two Applications or rendered twice", failure_modes=("FM-04", "FM-07"),
            severity=Severity.ERROR, check=check)
