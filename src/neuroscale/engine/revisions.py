"""Revisions, Knative style: a new numbered revision whenever the serving-relevant spec changes.

Only fields that change what the model-server process does are hashed, so
relabelling an endpoint (owner, cost center) does not restart it. Pure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import NewType

from neuroscale.spec.endpoint import EndpointSpec

SpecDigest = NewType("SpecDigest", str)
RevisionName = NewType("RevisionName", str)

#: EndpointSpec attributes that shape the running process.
SERVING_FIELDS: tuple[str, ...] = (
    "model_format", "storage_uri", "runtime_version",
    "cpu_request", "cpu_limit", "memory_request", "memory_limit",
)


def spec_digest(spec: EndpointSpec) -> SpecDigest:
    payload = json.dumps({f: getattr(spec, f) for f in SERVING_FIELDS}, sort_keys=True)
    return SpecDigest("sha256:" + hashlib.sha256(payload.encode()).hexdigest())


def revision_name(endpoint: str, number: int) -> RevisionName:
    return RevisionName(f"{endpoint}-predictor-{number:05d}")


@dataclass(frozen=True)
class RevisionRecord:
    endpoint: str
    number: int
    digest: SpecDigest

    @property
    def name(self) -> RevisionName:
        return revision_name(self.endpoint, self.number)


def plan_revision(latest: RevisionRecord | None, *, endpoint: str, digest: SpecDigest) -> tuple[RevisionRecord, bool]:
    """The revision for `digest`: the latest one if it matches, else the next number (and True = new)."""
    if latest is not None and latest.digest == digest:
        return latest, False
    number = latest.number + 1 if latest is not None else 1
    return RevisionRecord(endpoint=endpoint, number=number, digest=digest), True
