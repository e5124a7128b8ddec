"""Judge what Argo CD renders from Helm charts vendored in the repository: `helm template`, when helm exists.

An Application whose source is a chart directory of the repository (a source
of this repository, see `lints.argo`), or a chart whose package is vendored here, deploys what `helm template` renders
with the Application's release name, namespace and values. With `helm` on
PATH each such chart is rendered (offline: dependencies must be vendored, as
`helm dependency update` leaves them) and its objects are validated,
evaluated and linted like any other, placed at the chart (or the
Application). Without helm, an info finding says the chart's objects were not
judged — never silence.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from neuroscale.check.kustomization import normalise
from neuroscale.check.lints.argo import ThisRepository, applications
from neuroscale.check.lints.base import dig
from neuroscale.check.lints.helm import packaged_model
from neuroscale.check.model import CheckOptions, Document, RepoView
from neuroscale.check.yamldocs import parse_file
from neuroscale.findings import Finding, Severity
from neuroscale.yamlio import dump

RULE_HELM = "NS-K003"
TIMEOUT_S = 120


@dataclass(frozen=True)
class ChartUse:
    app: Document
    chart: str  # repository path of the chart directory or packaged chart
    anchor: Document  # where the rendered objects are placed
    release: str
    namespace: str
    value_files: tuple[str, ...]  # repository paths
    values: dict[str, Any]


def _vendored_package(view: RepoView, name: str, version: str) -> str:
    wanted = f"{name}-{version.removeprefix('v')}.tgz"
    for path in sorted(view.files):
        if PurePosixPath(path).name == wanted:
            model = packaged_model(view.files[path])
            if model is not None and model.name == name:
                return path
    return ""


def chart_uses(view: RepoView) -> list[ChartUse]:
    """Every vendored chart an Application renders, with its release name, namespace and values."""
    found = []
    chart_docs = {doc.path[: -len("/Chart.yaml")]: doc for doc in view.documents
                  if doc.filename == "Chart.yaml" and doc.index == 0}
    this = ThisRepository.of(view)
    for app in applications(view):
        spec = dig(app.data, "spec") or {}
        namespace = str(dig(spec, "destination", "namespace") or "default")
        for source in [spec.get("source"), *(spec.get("sources") or [])]:
            if not isinstance(source, dict):
                continue
            helm: dict[str, Any] = source["helm"] if isinstance(source.get("helm"), dict) else {}
            directory = str(source.get("path") or "").strip("/").removeprefix("./")
            chart, anchor = "", app
            if directory and directory in chart_docs and this.names(str(source.get("repoURL") or "")):
                chart, anchor = directory, chart_docs[directory]
            elif source.get("chart"):
                chart = _vendored_package(view, str(source["chart"]), str(source.get("targetRevision") or ""))
            if not chart:
                continue
            files = [normalise(f"{chart}/{f}") or "" for f in helm.get("valueFiles") or []
                     if isinstance(f, str) and not f.startswith("$")] if directory else []
            values: dict[str, Any] = helm["valuesObject"] if isinstance(helm.get("valuesObject"), dict) else {}
            found.append(ChartUse(app, chart, anchor, str(helm.get("releaseName") or app.name), namespace,
                                  tuple(f for f in files if f in view.files), values))
    return found


def _template(use: ChartUse, *, helm: str, tree: Path) -> tuple[bytes | None, str]:
    argv = [helm, "template", use.release, str(tree / use.chart), "--namespace", use.namespace]
    for path in use.value_files:
        argv += ["--values", str(tree / path)]
    if use.values:
        inline = tree / f".values-{use.app.name}.yaml"
        inline.write_text(dump(use.values), encoding="utf-8")
        argv += ["--values", str(inline)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, cwd=tree)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"helm could not run: {exc}"
    if done.returncode != 0:
        text = done.stderr.decode("utf-8", errors="replace").replace(f"{tree}/", "")
        return None, " ".join(text.split())[:1000] or f"exit status {done.returncode}"
    return done.stdout, ""


def render_charts(view: RepoView, options: CheckOptions, *,
                  materialise: Callable[[RepoView, Path], None]) -> tuple[list[Document], list[Finding]]:
    """Objects `helm template` renders from the vendored charts Applications deploy, plus findings."""
    uses = chart_uses(view)
    if not uses:
        return [], []
    helm = shutil.which("helm")
    if helm is None:
        return [], [view.finding(use.anchor, rule=RULE_HELM, severity=Severity.INFO,
                                 message=f"chart {use.chart} (Application {use.app.name}) was not rendered: helm is "
                                         "not on PATH, so the objects it deploys are not judged",
                                 fix="install helm where the check runs to render and judge them") for use in uses]
    documents: list[Document] = []
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="neuroscale-helm-") as tmp:
        tree = Path(tmp)
        materialise(view, tree)
        for use in uses:
            output, error = _template(use, helm=helm, tree=tree)
            if output is None:
                findings.append(view.finding(use.anchor, rule=RULE_HELM, severity=Severity.ERROR,
                                             message=f"helm template failed for chart {use.chart}: {error}",
                                             fix="fix the values or vendor the chart's dependencies "
                                                 "(`helm dependency update`)"))
                continue
            docs, problems = parse_file(f"{use.chart} (rendered)", output, limits=options.limits)
            findings += problems
            documents += [Document(path=use.anchor.path, index=use.anchor.index, line=use.anchor.line,
                                   end_line=use.anchor.end_line, data=doc.data, rendered_from=use.app.path)
                          for doc in docs if isinstance(doc.data, dict)]
    return documents, findings
