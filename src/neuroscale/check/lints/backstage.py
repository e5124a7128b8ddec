"""Finding the Backstage settings inside values files, whichever way they are nested.

The Backstage chart reads container settings from `backstage.*` of its own
values; a wrapper chart whose dependency is Backstage nests them one level
deeper (`backstage.backstage.*`). These helpers return each values file's
Backstage container section and its `appConfig`, so the probe, app-config,
catalog and auth lints read the same thing Helm would render.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from neuroscale.check.lints.base import dig, values_documents
from neuroscale.check.lints.helm import Dependency, dependency_model, wrapper_dependencies
from neuroscale.check.model import Document, RepoView
from neuroscale.mappings import deep_merged

CHART = "backstage"


@dataclass(frozen=True)
class BackstageValues:
    doc: Document
    section: dict[str, Any]  # the chart's `backstage:` container settings, as given
    prefix: str  # dotted path of `section` in the values file
    defaults: dict[str, Any]  # what Helm layers under this file's section (empty when nothing is known)

    @property
    def app_config(self) -> dict[str, Any]:
        config = self.section.get("appConfig")
        return config if isinstance(config, dict) else {}


def _layered_below(view: RepoView, doc: Document, wrapper: Dependency) -> dict[str, Any]:
    """The dependency's defaults, then the wrapper's own values.yaml, which Helm always applies first.

    Judging a profile file (values-dev.yaml) without the wrapper's values.yaml
    under it reports settings the shared file already makes, such as probes.
    """
    model = dependency_model(view, wrapper.chart_dir, CHART)
    layered = dig(model.defaults, CHART) if model else None
    layered = layered if isinstance(layered, dict) else {}
    base_path = f"{wrapper.chart_dir}values.yaml"
    if doc.path != base_path:
        base = next((d for d in view.documents if d.path == base_path), None)
        shared = dig(base.data, wrapper.key, CHART) if base else None
        if isinstance(shared, dict):
            layered = deep_merged(layered, shared)
    return layered


def backstage_values(view: RepoView) -> list[BackstageValues]:
    """Backstage container sections of every values file of a Backstage chart or wrapper."""
    wrappers = {dep.chart_dir: dep for _, dep in wrapper_dependencies(view) if dep.name == CHART}
    found = []
    for doc in values_documents(view):
        wrapper = next((dep for chart_dir, dep in wrappers.items() if doc.path.startswith(chart_dir)), None)
        if wrapper is not None:
            section, prefix = dig(doc.data, wrapper.key, CHART), f"{wrapper.key}.{CHART}"
            defaults = _layered_below(view, doc, wrapper)
        else:
            section, prefix, defaults = dig(doc.data, CHART), CHART, {}
            if not isinstance(section, dict) or not ({"appConfig", "image", "startupProbe"} & section.keys()):
                continue
        if isinstance(section, dict):
            found.append(BackstageValues(doc, section, prefix, defaults))
    return found
