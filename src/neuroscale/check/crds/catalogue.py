"""The projects whose CRDs `neuroscale crds pull` knows how to fetch (from `data/crd-releases.yaml`).

One data file, reviewed by date, says for each project which API groups it
defines, which Helm charts and source repositories install it, and which
release files carry its CRDs. Adding a project is a data change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

from ruamel.yaml import YAML

DATA_FILE = "data/crd-releases.yaml"


@dataclass(frozen=True)
class Project:
    id: str
    groups: tuple[str, ...]
    charts: tuple[str, ...]
    repositories: tuple[str, ...]
    artifacts: tuple[str, ...]
    chart_version_is_app_version: bool = False

    def artifact_urls(self, version: str) -> list[str]:
        return [url.format(version=version) for url in self.artifacts]

    def defines(self, group: str) -> bool:
        return group in self.groups


@functools.cache
def projects() -> dict[str, Project]:
    text = resources.files("neuroscale.check").joinpath(DATA_FILE).read_text(encoding="utf-8")
    raw = YAML(typ="safe").load(text)
    return {key: Project(id=key, groups=tuple(entry["groups"]), charts=tuple(entry.get("charts", ())),
                         repositories=tuple(entry.get("repositories", ())), artifacts=tuple(entry["artifacts"]),
                         chart_version_is_app_version=bool(entry.get("chartVersionIsAppVersion")))
            for key, entry in raw.items()}


def project_of_group(group: str) -> Project | None:
    return next((p for p in projects().values() if p.defines(group)), None)


def project_of_chart(chart: str) -> Project | None:
    return next((p for p in projects().values() if chart in p.charts), None)


def project_of_url(url: str) -> Project | None:
    """The project whose source repository `url` points into (git URL, kustomize remote, release file)."""
    lowered = url.lower()
    for project in projects().values():
        for repository in project.repositories:
            owner_repo = repository.split("/", 1)[1]
            if repository in lowered or f"raw.githubusercontent.com/{owner_repo}/" in lowered:
                return project
    return None
