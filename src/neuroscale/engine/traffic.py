"""Which revision gets which share of an endpoint's traffic, KServe's way. Pure and table-tested.

KServe (serverless mode) keeps two revisions in play: the latest one, made
from the current spec, and the previous rolled-out one, which last had all
the traffic. With `canaryTrafficPercent: P` the latest gets P % and the
previous one the rest; without it (or with 100) the latest gets everything
and becomes the rolled-out revision. A revision only gets traffic once it is
routable — it has been ready and is not crash-looping — so a canary that never
comes up leaves the previous revision serving, and a previous revision that
dies leaves its share with the latest rather than with nobody.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    """Shares per revision (summing to 100 when any revision is routable), latest first."""

    shares: tuple[tuple[str, int], ...]
    rolled_out: str | None  # the revision that now counts as rolled out (the next canary's baseline)

    def percent(self, revision: str) -> int:
        return next((p for r, p in self.shares if r == revision), 0)


def split(*, latest: str | None, previous: str | None, canary: int | None, routable: frozenset[str]) -> Split:
    """The split for `latest` (main's revision) and `previous` (the rolled-out one)."""
    baseline = previous if previous is not None and previous != latest else None
    if latest is None or latest not in routable:
        return Split(((baseline, 100),) if baseline is not None and baseline in routable else (), previous)
    if canary is None or canary >= 100 or baseline is None:
        return Split(((latest, 100),), latest)  # rolled out: the next canary's baseline
    if baseline not in routable:
        return Split(((latest, 100),), baseline)  # the baseline is down: the canary serves all, for now
    share = max(0, canary)
    return Split(((latest, share), (baseline, 100 - share)), baseline)
