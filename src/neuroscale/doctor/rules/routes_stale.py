"""Embedded FM-21 analogue: the gateway routes by a table that no longer matches what runs.

The reconciler rewrites `run/routes.json` within a tick of any change, and
rewrites it when someone else changed it; so a routes file that sends an
endpoint to an address where none of its model servers runs, or that lacks an
endpoint that serves, and has not been rewritten for a while, means the
reconciler is not keeping it current. The gateway then answers 502 or 503 for
an endpoint whose status may still say Ready.
"""

from __future__ import annotations

from neuroscale.doctor.embedded_view import engine, serving_revision
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

#: A routes file younger than this may simply be one tick behind a change (one stamped in the future is not
#: young: the clock moved back since it was written).
SETTLE_S = 1.0


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    facts = engine(index)
    routes = facts.get("routes") or {}
    if not facts or not routes or (routes.get("age_s") is not None and 0 <= routes["age_s"] < SETTLE_S):
        return []
    running = {str(s.get("address")) for s in facts.get("servers") or [] if s.get("alive")}
    serving = {str(e.get("name")): e for e in index.objects("Endpoint") if serving_revision(e)}
    entries = routes.get("endpoints") or {}
    problems = []
    for name, entry in sorted(entries.items()):
        dead = [u for u in entry.get("upstreams") or [] if u not in running]
        if entry.get("ready") and dead:
            problems.append(f"{name} -> {', '.join(dead)} (no model server of this home listens there)")
    problems += [f"{name} is missing (its status says {serving[name].get('revision')} serves)"
                 for name in sorted(serving) if name not in entries]
    if not problems and (entries or not serving) and not routes.get("error"):
        return []
    what = routes.get("error") or ("the file does not exist" if not routes.get("exists") else "; ".join(problems))
    return [RULE.finding(
        obj=ObjectRef(kind="RoutesFile", name=str(routes.get("path", ""))),
        message="the gateway's routes file is stale: it does not route to what runs",
        evidence=f"{routes.get('path')} written {routes.get('age_s')}s ago (updated {routes.get('updated', '?')}): "
        f"{what}",
        root_cause="the reconciler keeps this file current and rewrites it within a tick of any change; a stale "
        "file means it is not running or not observing, so the gateway sends requests to processes that are gone",
        fix="get the reconciler observing again (see the reconciler finding); it rewrites the file on its next pass",
    )]


RULE = Rule(
    id="routes-stale", title="Routes match what runs", covers=("FM-21",),
    category=Category.CONTROLLERS, severity=Severity.ERROR, check=check, targets=("embedded",),
)
