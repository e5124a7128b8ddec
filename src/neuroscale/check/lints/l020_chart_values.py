"""NS-L020: values a vendored Helm chart does not define, or that break its schema (FM-45).

Helm accepts any key and ignores the ones the chart never reads: a typo
(`defaultClusterID`), a key from another chart version, or a value one level
off is silently dropped and the component runs with defaults. Every values
source is judged against the chart it feeds, when that chart is vendored in
the repository (a `.tgz` or a chart directory): an Argo CD Application's
`helm.valuesObject`, `helm.values` and `$ref/` value files, a kustomization's
`helmCharts` (`valuesInline`, `valuesFile`), and the override files next to a
chart (`values-prod.yaml`). With a `values.schema.json`, the merged values are
validated against it, as Helm does at install time; without one, a key must
appear in the chart's default values or in its templates (`.Values.a.b`). A
default that is an empty map, a scalar or null takes anything below it, so
free-form maps (`podAnnotations: {}`, `extraEnv: {}`) are not flagged.
Values under a wrapper chart's dependency are NS-L004's job.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from neuroscale.check.kustomization import kustomizations, normalise
from neuroscale.check.lints.argo import applications
from neuroscale.check.lints.base import Lint, dig, is_values_file
from neuroscale.check.lints.helm import ChartModel, model_from_files, packaged_model
from neuroscale.check.lints.l004_helm_values_nesting import unread_paths
from neuroscale.check.model import Document, RepoView
from neuroscale.findings import Finding, Severity
from neuroscale.mappings import deep_merged

ID = "NS-L020"


@dataclass(frozen=True)
class ValuesUse:
    """Values meant for one chart: where they are written and what they hold."""

    doc: Document
    prefix: str  # field path of the values inside `doc` ('' when the document is a values file)
    values: dict[str, Any]
    chart: ChartModel
    label: str  # how the chart is named in messages


def vendored_chart(view: RepoView, name: str, version: str = "") -> ChartModel | None:
    """The chart `name` (at `version`, when given) packaged or unpacked anywhere in the repository."""
    wanted = version.removeprefix("v")
    for path in sorted(p for p in view.files if p.endswith(".tgz") and PurePosixPath(p).name.startswith(name)):
        model = packaged_model(view.files[path])
        if model is not None and model.name == name and (not wanted or model.version.removeprefix("v") == wanted):
            return model
    for doc in view.documents:
        if doc.filename == "Chart.yaml" and dig(doc.data, "name") == name and (
                not wanted or str(dig(doc.data, "version") or "").removeprefix("v") == wanted):
            return chart_directory(view, doc.path[: -len("Chart.yaml")])
    return None


def chart_directory(view: RepoView, root: str) -> ChartModel:
    own = {p[len(root):]: view.text(p) for p in view.files
           if p.startswith(root) and not p[len(root):].startswith("charts/")}
    name = str(dig(_yaml(own.get("Chart.yaml", "")), "name") or root.rstrip("/"))
    return model_from_files(name, own)


def _yaml(text: str) -> Any:
    try:
        return YAML(typ="safe").load(text)
    except YAMLError:
        return None


def _document(view: RepoView, path: str) -> Document | None:
    return next((doc for doc in view.documents if doc.path == path and doc.index == 0), None)


def _application_uses(view: RepoView) -> Iterator[ValuesUse]:
    for app in applications(view):
        spec = dig(app.data, "spec") or {}
        single = [("spec.source", spec["source"])] if isinstance(spec.get("source"), dict) else []
        many = [(f"spec.sources[{i}]", s) for i, s in enumerate(spec.get("sources") or []) if isinstance(s, dict)]
        refs = {str(s.get("ref")): s for _, s in many if s.get("ref")}
        for where, source in single + many:
            chart = vendored_chart(view, str(source.get("chart") or ""), str(source.get("targetRevision") or "")) \
                if source.get("chart") else None
            if chart is None:
                continue
            label = f"chart {chart.name} {chart.version}"
            helm = source.get("helm") if isinstance(source.get("helm"), dict) else {}
            if isinstance(helm.get("valuesObject"), dict):
                yield ValuesUse(app, f"{where}.helm.valuesObject", helm["valuesObject"], chart, label)
            inline = _yaml(helm["values"]) if isinstance(helm.get("values"), str) else None
            if isinstance(inline, dict):
                yield ValuesUse(app, f"{where}.helm.values", inline, chart, label)
            for entry in helm.get("valueFiles") or [] if isinstance(helm.get("valueFiles"), list) else []:
                ref, _, rest = str(entry).partition("/")
                doc = _document(view, normalise(rest) or "") if ref.startswith("$") and ref[1:] in refs else None
                if doc is not None and isinstance(doc.data, dict):
                    yield ValuesUse(doc, "", doc.data, chart, label)


def _kustomize_uses(view: RepoView) -> Iterator[ValuesUse]:
    for kust in kustomizations(view).values():
        settings = kust.data.get("helmGlobals")
        home = str(settings.get("chartHome") or "charts") if isinstance(settings, dict) else "charts"
        for index, entry in enumerate(kust.helm_charts):
            name, version = str(entry.get("name") or ""), str(entry.get("version") or "")
            chart = _kustomize_chart(view, kust.local(home) or "", name, version) or vendored_chart(view, name, version)
            if chart is None:
                continue
            label = f"chart {chart.name} {chart.version}"
            if isinstance(entry.get("valuesInline"), dict):
                yield ValuesUse(kust.doc, f"helmCharts[{index}].valuesInline", entry["valuesInline"], chart, label)
            path = kust.local(str(entry["valuesFile"])) if isinstance(entry.get("valuesFile"), str) else None
            doc = _document(view, path) if path else None
            if doc is not None and isinstance(doc.data, dict):
                yield ValuesUse(doc, "", doc.data, chart, label)


def _kustomize_chart(view: RepoView, home: str, name: str, version: str) -> ChartModel | None:
    prefix = f"{home}/" if home else ""
    for root in (f"{prefix}{name}-{version}/{name}/", f"{prefix}{name}/"):
        if f"{root}Chart.yaml" in view.files:
            return chart_directory(view, root)
    raw = view.files.get(f"{prefix}{name}-{version}.tgz")
    return packaged_model(raw) if raw is not None else None


def _override_uses(view: RepoView) -> Iterator[ValuesUse]:
    """Override files beside a chart's own values.yaml (`values-prod.yaml`), judged against that chart."""
    for doc in view.documents:
        if doc.filename != "Chart.yaml" or not isinstance(doc.data, dict):
            continue
        root = doc.path[: -len("Chart.yaml")]
        chart: ChartModel | None = None
        for values in view.documents:
            name = values.filename
            if (values.path.startswith(root) and "/" not in values.path[len(root):] and name != "values.yaml"
                    and is_values_file(values.path) and isinstance(values.data, dict) and not values.is_object):
                chart = chart or chart_directory(view, root)
                yield ValuesUse(values, "", values.data, chart, f"chart {chart.name} ({root.rstrip('/') or '.'})")


def values_uses(view: RepoView) -> list[ValuesUse]:
    return [*_application_uses(view), *_kustomize_uses(view), *_override_uses(view)]


def _schema_errors(use: ValuesUse) -> Iterator[tuple[str, str]]:
    if not use.chart.schema:
        return
    try:
        validator = Draft7Validator(use.chart.schema)
        errors = sorted(validator.iter_errors(deep_merged(use.chart.defaults, use.values)), key=lambda e: list(e.path))
    except (SchemaError, RecursionError, TypeError):
        return
    for error in errors[:20]:
        yield ".".join(str(p) for p in error.absolute_path), error.message


def _nearest(chart: ChartModel, path: tuple[str, ...]) -> str:
    """The chart's key closest to a misspelt last key (`defaultClusterID` -> `defaultClusterId`), or ''."""
    parent = dig(chart.defaults, *path[:-1]) if path[:-1] else chart.defaults
    keys = [str(k) for k in parent] if isinstance(parent, dict) else []
    folded = {k.lower(): k for k in keys}
    if path[-1].lower() in folded:
        return folded[path[-1].lower()]
    close = difflib.get_close_matches(path[-1], keys, n=1, cutoff=0.8)
    return close[0] if close else ""


def check(view: RepoView) -> list[Finding]:
    findings = []
    for use in values_uses(view):
        at = f"{use.prefix}." if use.prefix else ""
        for path in unread_paths(use.chart, use.values):
            dotted = ".".join(path)
            near = _nearest(use.chart, path)
            findings.append(view.finding(
                use.doc, rule=ID, severity=Severity.ERROR, needle=f"{path[-1]}:", field_path=f"{at}{dotted}",
                message=f"{dotted} is not defined by {use.label}: Helm ignores it silently",
                fix=f"did you mean {'.'.join((*path[:-1], near))}?" if near else
                    f"check the key against {use.label}'s values.yaml (spelling, nesting, chart version)"))
        for dotted, message in _schema_errors(use):
            findings.append(view.finding(
                use.doc, rule=ID, severity=Severity.ERROR, needle=f"{dotted.rsplit('.', 1)[-1]}:" if dotted else "",
                field_path=f"{at}{dotted}".rstrip("."),
                message=f"{dotted or '(values)'}: {message} (values.schema.json of {use.label})",
                fix="correct the value; Helm refuses to install values that break the chart's schema"))
    return findings

LINT = Lint(id=ID, title="Values a vendored chart does not define", failure_modes=("FM-45",),
            severity=Severity.ERROR, check=check)
