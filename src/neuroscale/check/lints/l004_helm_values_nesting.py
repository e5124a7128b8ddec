"""NS-L004: wrapper-chart values the dependency never reads (FM-30).

In a wrapper chart, values for the dependency `backstage` live under
`backstage:`; the Backstage chart then reads its container settings from
`backstage.backstage.*`. Values written at `backstage.appConfig` are accepted by
Helm and silently ignored — the reference ran with default probes and
crash-looped. Every key is judged against the vendored dependency chart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from neuroscale.check.lints.base import Lint, values_documents
from neuroscale.check.lints.helm import ChartModel, dependency_model, wrapper_dependencies
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity

ID = "NS-L004"


def unread_paths(model: ChartModel, values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Value paths under `values` the chart never reads (the shallowest per branch)."""
    if not isinstance(values, dict):
        return
    for key, sub in values.items():
        path = (*prefix, str(key))
        if not model.reads(path):
            yield path
        elif isinstance(sub, dict):
            yield from unread_paths(model, sub, path)


def _suggest(model: ChartModel, path: tuple[str, ...]) -> str:
    for head in model.defaults:
        if head == "global" or head in model.subcharts:
            continue  # they accept anything: no evidence the value belongs there
        candidate = (str(head), *path)
        if isinstance(model.defaults.get(head), dict) and model.declares(candidate):
            return ".".join(candidate)
    return ""


def check(view: RepoView) -> list[Finding]:
    findings: list[Finding] = []
    values = values_documents(view)
    for chart_doc, dep in wrapper_dependencies(view):
        model = dependency_model(view, dep.chart_dir, dep.name)
        if model is None:
            findings.append(view.finding(
                chart_doc, rule=ID, severity=Severity.INFO, needle=dep.name,
                message=f"dependency chart {dep.name} is not vendored under {dep.chart_dir}charts/: "
                        "its values could not be checked",
                fix="run `helm dependency update` and commit charts/*.tgz"))
            continue
        for doc in values:
            if not doc.path.startswith(dep.chart_dir) or not isinstance(doc.data.get(dep.key), dict):
                continue
            for path in unread_paths(model, doc.data[dep.key]):
                dotted = ".".join((dep.key, *path))
                hint = _suggest(model, path)
                findings.append(view.finding(
                    doc, rule=ID, severity=Severity.ERROR, needle=f"{path[-1]}:", field_path=dotted,
                    message=f"{dotted} is never read by chart {dep.name}: Helm ignores it silently",
                    fix=f"move it to {dep.key}.{hint}" if hint else
                        f"check the nesting against chart {dep.name}'s values.yaml"))
    return findings


LINT = Lint(id=ID, title="Helm wrapper-chart values at the wrong level", failure_modes=("FM-30",),
            severity=Severity.ERROR, check=check)
