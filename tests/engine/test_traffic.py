"""KServe's traffic split between the latest and the rolled-out revision, table-driven."""

from __future__ import annotations

import pytest

from neuroscale.engine.traffic import split

R1, R2 = "r1", "r2"
BOTH = frozenset({R1, R2})


@pytest.mark.parametrize(("latest", "previous", "canary", "routable", "shares", "rolled_out"), [
    (R1, None, None, frozenset({R1}), ((R1, 100),), R1),
    (R1, None, None, frozenset(), (), None),
    (R2, R1, None, frozenset({R1}), ((R1, 100),), R1),
    (R2, R1, None, BOTH, ((R2, 100),), R2),
    (R2, R1, 20, BOTH, ((R2, 20), (R1, 80)), R1),
    (R2, R1, 0, BOTH, ((R2, 0), (R1, 100)), R1),
    (R2, R1, 100, BOTH, ((R2, 100),), R2),
    (R2, R1, 20, frozenset({R1}), ((R1, 100),), R1),
    (R2, R1, 20, frozenset({R2}), ((R2, 100),), R1),
    (R1, R1, 20, frozenset({R1}), ((R1, 100),), R1),
    (R1, None, 30, frozenset({R1}), ((R1, 100),), R1),
], ids=["first-rollout", "nothing-ready", "new-not-ready", "rolled-out", "canary", "canary-zero", "canary-100",
        "canary-not-ready", "baseline-down", "same-revision", "first-deploy-with-canary"])
def test_split(latest: str, previous: str | None, canary: int | None, routable: frozenset[str],
               shares: tuple[tuple[str, int], ...], rolled_out: str | None) -> None:
    got = split(latest=latest, previous=previous, canary=canary, routable=routable)
    assert (got.shares, got.rolled_out) == (shares, rolled_out)
    assert sum(p for _, p in got.shares) in ((100,) if routable & {latest, previous or ""} else (0,))
