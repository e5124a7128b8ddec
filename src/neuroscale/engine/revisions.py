"""Revisions, Knative style: a new numbered revision whenever the serving-relevant spec changes.

Only fields that change what the model-server process does are hashed
(`ServingSpec.process_digest`), so relabelling an endpoint, scaling it or
moving traffic does not restart it. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NewType

from neuroscale.spec.serving import ServingSpec

SpecDigest = NewType("SpecDigest", str)
RevisionName = NewType("RevisionName", str)

def spec_digest(spec: ServingSpec) -> SpecDigest:
    return SpecDigest(spec.process_digest())


def revision_name(endpoint: str, number: int) -> RevisionName:
    return RevisionName(f"{endpoint}-predictor-{number:05d}")


@dataclass(frozen=True)
class RevisionRecord:
    endpoint: str
    number: int
    digest: SpecDigest

    @cached_property
    def name(self) -> RevisionName:  # cached: the loop asks for it thousands of times a second
        return revision_name(self.endpoint, self.number)


def plan_revision(latest: RevisionRecord | None, *, endpoint: str, digest: SpecDigest) -> tuple[RevisionRecord, bool]:
    """The revision for `digest`: the latest one if it matches, else the next number (and True = new)."""
    if latest is not None and latest.digest == digest:
        return latest, False
    number = latest.number + 1 if latest is not None else 1
    return RevisionRecord(endpoint=endpoint, number=number, digest=digest), True
