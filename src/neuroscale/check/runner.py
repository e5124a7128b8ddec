"""`run_check`: parse, render, schema, policies, lints, and against a base the cost delta and rendered diff.

Each stage reads the same `RepoView` and returns findings; the runner only
sequences them and, against a base, keeps the findings of the files the change
touched (findings outside the repository, or not tied to a file, are always
kept). The same stages run for the CLI (`run_check`, a working tree) and for
the embedded platform's pull requests (`services.pr_checks`, two git
revisions), so CI and the platform can never disagree. Exit-code semantics live on
`CheckReport`, so every caller — CLI, pull request checks, doctor — agrees on
what "green" means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neuroscale.check.applied import applied_objects
from neuroscale.check.forked import start
from neuroscale.check.gitbase import remote_urls
from neuroscale.check.loader import build_view, read_tree, with_inputs
from neuroscale.check.model import CheckOptions, CheckReport, CrdCatalog, Document, RepoView
from neuroscale.check.render import build_ahead, render_view
from neuroscale.findings import Finding

if TYPE_CHECKING:
    from neuroscale.cost import PriceTable
    from neuroscale.cost.delta import CostDelta

Stage = Callable[[RepoView, CheckOptions], list[Finding]]


# Each stage imports its machinery when it runs: the kustomize builds start before those imports, and the
# forked schema stage imports its own (jsonschema) on the second core.
def _schema(view: RepoView, options: CheckOptions) -> list[Finding]:
    from neuroscale.check.repoconfig import read_config
    from neuroscale.check.schemas.validate import validate_view

    return [*read_config(view)[1], *validate_view(view, options)]


def _policies(view: RepoView, options: CheckOptions) -> list[Finding]:
    from neuroscale.check.policies import evaluate_policies

    return evaluate_policies(view, options)


def _lints(view: RepoView, options: CheckOptions) -> list[Finding]:
    from neuroscale.check.lints import run_lints

    return run_lints(view)


#: The named stages, in order; pull-request checks show one check per stage.
STAGES: tuple[tuple[str, Stage], ...] = (("schema", _schema), ("policies", _policies), ("lints", _lints))


def load_view(path: Path, *, options: CheckOptions) -> tuple[RepoView, list[Finding]]:
    """The parsed view of the repository at `path` as it deploys, plus read, parse and render findings."""
    files, findings = read_tree(path, limits=options.limits)
    ahead = build_ahead(path, files, options)
    view, problems = build_view(files, limits=options.limits, cache_dir=options.cache_dir)
    remotes = remote_urls(path)  # while the builds run
    if ahead is not None:
        ahead.join()
    view, unreadable = with_inputs(path, view, limits=options.limits)
    findings += unreadable
    view = replace(view, remotes=remotes, catalog=_catalog(view, options))
    rendered, render_findings = render_view(view, options)
    return rendered, findings + problems + render_findings


def _catalog(view: RepoView, options: CheckOptions) -> CrdCatalog:
    def load() -> list[Document]:
        from neuroscale.check.schemas.validate import catalog_crds

        return catalog_crds(view, options)

    return CrdCatalog(load)


def files_view(files: Mapping[str, bytes], *, options: CheckOptions) -> tuple[RepoView, list[Finding]]:
    """The rendered view of a file map (a git revision), with its parse and render findings."""
    view, problems = build_view(files, limits=options.limits, cache_dir=options.cache_dir)
    rendered, render_findings = render_view(view, options)
    return rendered, problems + render_findings


def check_stages(view: RepoView, options: CheckOptions) -> list[tuple[str, list[Finding]]]:
    """Each stage's findings for an already-built view (`--online` adds the registry lookups)."""
    first, *others = STAGES  # the schema stage (most CPU, least shared state) runs in a child when allowed
    schema = start(lambda: first[1](view, options), fork=options.fork)
    later = [(name, stage(view, options)) for name, stage in others]
    stages = [(first[0], schema()), *later]
    if options.online:
        from neuroscale.check.registry import online_findings  # network: only when asked for

        stages.append(("registries", online_findings(view)))
    return stages


def check_view(view: RepoView, options: CheckOptions) -> list[Finding]:
    """Configuration, schema, policy and lint findings for an already-built view."""
    return [finding for _, findings in check_stages(view, options) for finding in findings]


def changed_files(base: Mapping[str, bytes], head: Mapping[str, bytes]) -> tuple[str, ...]:
    """Paths added, removed or modified between two file maps (uncommitted edits included)."""
    return tuple(sorted(p for p in base.keys() | head.keys() if base.get(p) != head.get(p)))


def touched(findings: list[Finding], *, files: Mapping[str, bytes], changed: tuple[str, ...]) -> list[Finding]:
    """The findings a change is answerable for: in a changed file, caused by one (`extra["causes"]`: files
    whose change makes the finding true, e.g. the ApplicationSet that reads a broken file), or not tied to a
    repository file."""
    wanted = set(changed)
    return [f for f in findings
            if f.file not in files or f.file in wanted or wanted.intersection(f.extra.get("causes", ()))]


def workloads_cost(base: RepoView, head: RepoView, prices: PriceTable) -> CostDelta:
    from neuroscale.cost import cost_delta, workloads

    def of(view: RepoView) -> list[tuple[str, Any]]:
        return [(doc.path, doc.data) for doc in applied_objects(view)]

    return cost_delta(workloads(of(base)), workloads(of(head)), prices)


def _sort_key(finding: Finding) -> tuple[str, int, int, str]:
    return (finding.file, finding.line or 0, finding.severity.rank, finding.rule)


def run_check(path: Path, *, base: str | None = None, options: CheckOptions) -> CheckReport:
    """Check the repository at `path` (only what changed since `base`, when given)."""
    view, findings = load_view(path, options=options)
    findings += check_view(view, options)
    files, objects = len(view.files), sum(1 for _ in view.objects())
    if base is None:
        return CheckReport(root=str(path), findings=tuple(sorted(findings, key=_sort_key)), skipped=view.skipped,
                           checked_files=files, checked_objects=objects)
    from neuroscale.check.diff import rendered_diff  # git, cost and diff are only needed with --base
    from neuroscale.check.gitbase import read_base
    from neuroscale.cost import PriceTable

    base_sha, base_files = read_base(path, base)
    base_view, _ = files_view(base_files, options=options)
    changed = changed_files(base_files, view.files)
    if not options.all_files:
        findings = touched(findings, files=view.files, changed=changed)
    prices = PriceTable.load(options.price_table) if options.price_table else PriceTable()
    return CheckReport(
        root=str(path), findings=tuple(sorted(findings, key=_sort_key)), base=base, base_sha=base_sha,
        changed_files=changed, skipped=view.skipped, cost=workloads_cost(base_view, view, prices),
        diff=tuple(rendered_diff(base_view, view)), checked_files=files, checked_objects=objects)
