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
from neuroscale.check.lints.helm import dependency_model, wrapper_dependencies
from neuroscale.check.model import Document, RepoView

CHART = "backstage"


@dataclass(frozen=True)
class BackstageValues:
    doc: Document
    section: dict[str, Any]  # the chart's `backstage:` container settings, as given
    prefix: str  # dotted path of `section` in the values file
    defaults: dict[str, Any]  # the chart's own defaults for that section (empty when not vendored)

    @property
    def app_config(self) -> dict[str, Any]:
        config = self.section.get("appConfig")
        return config if isinstance(config, dict) else {}


def backstage_values(view: RepoView) -> list[BackstageValues]:
    """Backstage container sections of every values file of a Backstage chart or wrapper."""
    wrappers = {dep.chart_dir: dep for _, dep in wrapper_dependencies(view) if dep.name == CHART}
    found = []
    for doc in values_documents(view):
        wrapper = next((dep for chart_dir, dep in wrappers.items() if doc.path.startswith(chart_dir)), None)
        if wrapper is not None:
            section, prefix = dig(doc.data, wrapper.key, CHART), f"{wrapper.key}.{CHART}"
            model = dependency_model(view, wrapper.chart_dir, CHART)
            defaults = dig(model.defaults, CHART) if model else None
        else:
            section, prefix, defaults = dig(doc.data, CHART), CHART, None
            if not isinstance(section, dict) or not ({"appConfig", "image", "startupProbe"} & section.keys()):
                continue
        if isinstance(section, dict):
            found.append(BackstageValues(doc, section, prefix, defaults if isinstance(defaults, dict) else {}))
    return found
