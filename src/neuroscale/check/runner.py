"""`run_check`: parse, schema, policies, lints, and against a base the cost delta and rendered diff.

Each stage reads the same `RepoView` and returns findings; the runner only
sequences them and, with `--base`, keeps the findings of the files the change
touched (findings outside the repository, or not tied to a file, are always
kept). Exit-code semantics live on `CheckReport`, so every caller — CLI, pull
request checks, doctor — agrees on what "green" means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from neuroscale.check.applied import applied_objects
from neuroscale.check.diff import rendered_diff
from neuroscale.check.lints import run_lints
from neuroscale.check.kustomization import kustomizations
from neuroscale.check.loader import build_view, read_extra, read_tree
from neuroscale.check.model import CheckOptions, CheckReport, RepoView
from neuroscale.check.policies import evaluate_policies
from neuroscale.check.render import render_view
from neuroscale.check.repoconfig import read_config
from neuroscale.check.schemas.validate import validate_view
from neuroscale.cost import PriceTable, cost_delta, workloads
from neuroscale.cost.delta import CostDelta
from neuroscale.findings import Finding


def load_view(path: Path, *, options: CheckOptions) -> tuple[RepoView, list[Finding]]:
    """The parsed view of the repository at `path` as it deploys, plus read, parse and render findings."""
    files, findings = read_tree(path, limits=options.limits)
    view, problems = build_view(files, limits=options.limits, cache_dir=options.cache_dir)
    wanted = {p for kust in kustomizations(view).values() for p in kust.inputs} - files.keys()
    if wanted:
        extra, unreadable = read_extra(path, wanted, limits=options.limits)
        view = replace(view, files={**view.files, **extra})
        findings += unreadable
    rendered, render_findings = render_view(view, options)
    return rendered, findings + problems + render_findings


def files_view(files: Mapping[str, bytes], *, options: CheckOptions) -> RepoView:
    """The rendered view of a file map (a git revision), findings dropped (they belong to that revision)."""
    view, _ = build_view(files, limits=options.limits, cache_dir=options.cache_dir)
    return render_view(view, options)[0]


def check_view(view: RepoView, options: CheckOptions) -> list[Finding]:
    """Configuration, schema, policy and lint findings for an already-built view."""
    return [*read_config(view)[1], *validate_view(view, options), *evaluate_policies(view, options),
            *run_lints(view)]


def changed_files(base: Mapping[str, bytes], head: Mapping[str, bytes]) -> tuple[str, ...]:
    """Paths added, removed or modified between two file maps (uncommitted edits included)."""
    return tuple(sorted(p for p in base.keys() | head.keys() if base.get(p) != head.get(p)))


def _workloads_cost(base: RepoView, head: RepoView, prices: PriceTable) -> CostDelta:
    def of(view: RepoView) -> list[tuple[str, Any]]:
        return [(doc.path, doc.data) for doc in applied_objects(view)]

    return cost_delta(workloads(of(base)), workloads(of(head)), prices)


def _sort_key(finding: Finding) -> tuple[str, int, int, str]:
    return (finding.file, finding.line or 0, finding.severity.rank, finding.rule)


def run_check(path: Path, *, base: str | None = None, options: CheckOptions) -> CheckReport:
    """Check the repository at `path` (only what changed since `base`, when given)."""
    view, findings = load_view(path, options=options)
    files = view.files
    findings += check_view(view, options)
    if base is None:
        return CheckReport(root=str(path), findings=tuple(sorted(findings, key=_sort_key)), checked_files=len(files),
                           checked_objects=sum(1 for _ in view.objects()), skipped=view.skipped)
    from neuroscale.check.gitbase import read_base  # git is only needed with --base

    prices = PriceTable.load(options.price_table) if options.price_table else PriceTable()
    base_sha, base_files = read_base(path, base)
    base_view = files_view(base_files, options=options)
    changed = changed_files(base_files, files)
    if not options.all_files:
        touched = set(changed)
        findings = [f for f in findings if f.file not in files or f.file in touched]
    return CheckReport(
        root=str(path), findings=tuple(sorted(findings, key=_sort_key)), base=base, base_sha=base_sha,
        changed_files=changed, checked_files=len(files), checked_objects=sum(1 for _ in view.objects()),
        skipped=view.skipped, cost=_workloads_cost(base_view, view, prices), diff=tuple(rendered_diff(base_view, view)))
