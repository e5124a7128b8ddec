"""Correlation: a finding that causes others says so, and the others point back.

A cause declares `explains_when` substrings (a webhook's service name, a pod
name, `status.sync.status=Unknown`); any finding later in triage order whose
evidence contains one is explained by it; when several causes match, the most
specific (longest) substring wins. Grouping causes by substring keeps the
scan at one pass per distinct substring, not one per cause.
"""

from __future__ import annotations

from collections import defaultdict

from neuroscale.doctor.model import DoctorFinding


def triage_key(finding: DoctorFinding) -> tuple[int, int, str, str]:
    return (finding.category.rank, finding.severity.rank, finding.rule, str(finding.obj or finding.file))


def correlate(findings: list[DoctorFinding]) -> list[DoctorFinding]:
    """Sort in triage order and link causes to the findings they explain."""
    ordered = sorted(findings, key=triage_key)
    causes_by_needle: dict[str, list[int]] = defaultdict(list)
    for i, finding in enumerate(ordered):
        for needle in finding.explains_when:
            causes_by_needle[needle].append(i)
    explains: dict[int, list[str]] = defaultdict(list)
    explained_by: dict[int, str] = {}
    for j, effect in enumerate(ordered):
        best: tuple[int, int] | None = None  # (-len(needle), cause index): the most specific match wins
        for needle, causes in causes_by_needle.items():
            if needle not in effect.evidence and needle not in effect.message:
                continue
            cause = next((i for i in causes if i != j and triage_key(ordered[i]) <= triage_key(effect)), None)
            if cause is not None and (best is None or (-len(needle), cause) < best):
                best = (-len(needle), cause)
        if best is not None:
            explained_by[j] = ordered[best[1]].key
            explains[best[1]].append(effect.key)
    return [f.with_links(explains=tuple(explains.get(i, ())), explained_by=explained_by.get(i, ""))
            for i, f in enumerate(ordered)]
