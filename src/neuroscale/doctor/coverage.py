"""Which rule, lint or design choice covers each catalogued failure mode, and what cannot be seen.

The table is computed from the registries (doctor rules' `covers`, check
lints' `failure_modes`) plus two hand-kept lists: failure modes NeuroScale
prevents by construction instead of detecting, and those no snapshot can
show, each with the reason. A test keeps every FM-01..FM-40 accounted for.

The catalogue itself is documentation in the repository, one file per
failure mode written for users (`docs/failure-modes/FM-xx.md`: symptom,
cause, how NeuroScale prevents or detects it, fix); every row links to its
entry, and an entry added there joins the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from neuroscale.doctor.model import Category
from neuroscale.doctor.rules import ALL_RULES

#: The catalogue's place in the repository (a checkout: src/neuroscale/doctor/ → the root).
DOCS_DIR = "docs/failure-modes"
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The reference catalogue; entries documented beyond it join through `catalog()`.
CATALOG = tuple(f"FM-{n:02d}" for n in range(1, 41))


def catalog() -> tuple[str, ...]:
    """Every catalogued failure mode: the reference forty and any further entry in the docs."""
    documented = (p.stem for p in (REPO_ROOT / DOCS_DIR).glob("FM-*.md"))
    return tuple(sorted({*CATALOG, *documented}))
#: Cross-tool cases users report upstream, covered by rules but absent from the catalog.
CROSS_TOOL = {
    "X-HEALTH": "InferenceService Ready in KServe but Progressing in Argo CD",
    "X-SELFHEAL": "self-heal stopped retrying after a failed automated sync",
}
PREVENTED_BY_DESIGN = {
    "FM-35": "also prevented: neuroscale check is one process with its own exit code (0/1/2)",
    "FM-36": "also prevented: neuroscale check evaluates every file; there is no --resource list to truncate",
    "FM-37": "read from GitHub's API when a GitHub remote and token are configured (embedded target)",
    "FM-38": "check's cost delta resolves InferenceService requests (neuroscale.cost), never printing '—'",
}
UNDETECTABLE: dict[str, str] = {}
_LAYER_CATEGORY = {
    **dict.fromkeys(("FM-01", "FM-06"), Category.CONTROL_PLANE),
    **dict.fromkeys(("FM-02", "FM-03", "FM-04", "FM-05", "FM-07", "FM-23"), Category.APPLICATION_SYNC),
    **dict.fromkeys(("FM-08",), Category.STALE_WEBHOOKS),
    **dict.fromkeys(("FM-16", "FM-22"), Category.WEBHOOKS),
    **dict.fromkeys(("FM-09", "FM-10", "FM-11", "FM-12", "FM-14", "FM-37"), Category.ENVIRONMENT),
    **dict.fromkeys(("FM-15", "FM-17", "FM-21"), Category.CONTROLLERS),
    **dict.fromkeys(("FM-18", "FM-19", "FM-20", "FM-24"), Category.WORKLOADS),
    **dict.fromkeys(tuple(f"FM-{n}" for n in range(25, 35)), Category.PORTAL),
    **dict.fromkeys(("FM-38", "FM-39", "FM-40"), Category.COST),
}


def category_of_failure_modes(modes: Sequence[str]) -> Category:
    """The earliest triage category among `modes` (application sync when none is known)."""
    known = [_LAYER_CATEGORY[m] for m in modes if m in _LAYER_CATEGORY]
    return min(known, key=lambda c: c.rank) if known else Category.APPLICATION_SYNC


@dataclass(frozen=True)
class Coverage:
    failure_mode: str
    rules: tuple[str, ...]
    lints: tuple[str, ...]
    note: str
    doc: str = ""  # the entry in the repository's catalogue ("" for cross-tool cases without one)

    @property
    def covered(self) -> bool:
        return bool(self.rules or self.lints)


def doc_path(failure_mode: str) -> str:
    """The repository path of a failure mode's catalogue entry, "" when it has none."""
    return f"{DOCS_DIR}/{failure_mode}.md" if failure_mode.startswith("FM-") else ""


def coverage_table() -> list[Coverage]:
    from neuroscale.check.lints import ALL_LINTS

    table = []
    for fm in (*catalog(), *CROSS_TOOL):
        rules = tuple(r.id for r in ALL_RULES if fm in r.covers)
        lints = tuple(lint.id for lint in ALL_LINTS if fm in lint.failure_modes)
        note = PREVENTED_BY_DESIGN.get(fm) or UNDETECTABLE.get(fm) or CROSS_TOOL.get(fm, "")
        table.append(Coverage(fm, rules, lints, note, doc_path(fm)))
    return table
