"""Which release of which project a repository installs, read from the repository itself.

Versions are taken from where they are pinned: Argo CD Application sources (a
chart and its version, or a git source and its tag), kustomize remote
resources (`?ref=v1.2.3`, `/releases/download/v1.2.3/`), vendored charts
(their appVersion) and wrapper-chart dependencies. `releases:` in
`neuroscale.yaml` names what no manifest shows (Argo CD installed by a
bootstrap script) and wins over what is detected for that project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from neuroscale.check.crds.catalogue import Project, project_of_chart, project_of_url
from neuroscale.check.kustomization import kustomizations
from neuroscale.check.lints.argo import applications, sources
from neuroscale.check.lints.helm import packaged_model
from neuroscale.check.model import RepoView
from neuroscale.check.repoconfig import CONFIG_FILE, RepoConfig

_VERSION = re.compile(r"^v?\d+\.\d+(?:\.\d+)?(?:[-+][0-9A-Za-z.-]+)?$")
_REF = re.compile(r"[?&]ref=([^&#]+)")
_RELEASE = re.compile(r"/releases/download/(?:[a-z-]*-)?(v?\d[^/]*)/")
_RAW = re.compile(r"raw\.githubusercontent\.com/[^/]+/[^/]+/(v?\d[^/]*)/")


@dataclass(frozen=True)
class Pin:
    """A release of `project`: its tag, or a chart version whose release tag the chart index knows."""

    project: str
    version: str
    where: str
    chart: str = ""  # set when `version` is a chart version that is not the release tag
    chart_repo: str = ""  # the Helm repository of that chart

    @property
    def key(self) -> str:
        """Directory of this pin in the cache."""
        return f"chart-{self.version}" if self.chart else tag(self.version)

    def __str__(self) -> str:
        return f"{self.project} {'chart ' + self.version if self.chart else tag(self.version)}"


def tag(version: str) -> str:
    """Release tags carry a leading `v` (`1.17.1` and `v1.17.1` name the same release)."""
    return version if version.startswith("v") or not version[:1].isdigit() else f"v{version}"


def _chart_pin(project: Project, chart: str, version: str, repo: str, where: str) -> Pin | None:
    if not _VERSION.match(version):
        return None  # a range or a floating tag names no release
    if project.chart_version_is_app_version:
        return Pin(project.id, tag(version), where)
    return Pin(project.id, version, where, chart=chart, chart_repo=repo)


def _from_applications(view: RepoView) -> list[Pin]:
    found = []
    for app in applications(view):
        for source in sources(app):
            revision = source.revision
            project = project_of_chart(source.chart) if source.chart else project_of_url(source.repo_url)
            if project is None:
                continue
            pin = (_chart_pin(project, source.chart, revision, source.repo_url, app.path) if source.chart
                   else Pin(project.id, tag(revision), app.path) if _VERSION.match(revision) else None)
            if pin is not None:
                found.append(pin)
    return found


def remote_version(url: str) -> str:
    """The release a remote resource URL names, or ''."""
    for pattern in (_REF, _RELEASE, _RAW):
        match = pattern.search(url)
        if match and _VERSION.match(match.group(1)):
            return tag(match.group(1))
    return ""


def _from_kustomizations(view: RepoView) -> list[Pin]:
    found = []
    for kust in kustomizations(view).values():
        for entry in kust.remote:
            project = project_of_url(entry)
            version = remote_version(entry)
            if project is not None and version:
                found.append(Pin(project.id, version, kust.doc.path))
    return found


def _from_charts(view: RepoView) -> list[Pin]:
    found = []
    for path, raw in view.files.items():
        if path.endswith(".tgz"):
            model = packaged_model(raw)
            project = project_of_chart(model.name) if model is not None else None
            if model is not None and project is not None and model.app_version:
                found.append(Pin(project.id, tag(model.app_version), path))
    for doc in view.documents:
        if doc.filename != "Chart.yaml" or not isinstance(doc.data, dict):
            continue
        for dep in doc.data.get("dependencies") or []:
            project = project_of_chart(str(dep.get("name", ""))) if isinstance(dep, dict) else None
            if project is not None:
                pin = _chart_pin(project, str(dep["name"]), str(dep.get("version", "")),
                                 str(dep.get("repository", "")), doc.path)
                if pin is not None:
                    found.append(pin)
    return found


def repository_pins(view: RepoView, config: RepoConfig) -> list[Pin]:
    """Every release the repository pins, one per (project, version), `neuroscale.yaml` first."""
    declared = [Pin(project, tag(version), CONFIG_FILE) for project, version in sorted(config.releases.items())]
    explicit = {pin.project for pin in declared}
    detected = [pin for pin in (*_from_applications(view), *_from_kustomizations(view), *_from_charts(view))
                if pin.project not in explicit]
    unique: dict[tuple[str, str], Pin] = {}
    for pin in (*declared, *detected):
        unique.setdefault((pin.project, pin.key), pin)
    return sorted(unique.values(), key=lambda p: (p.project, p.key))
