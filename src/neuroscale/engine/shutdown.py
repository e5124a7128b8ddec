"""What a full platform stop leaves behind: statuses and routes that say "stopped".

Without this, `neuroscale status` after `down` (or a client polling while
`up` starts again) would read the last Ready written before the stop and
believe an endpoint serves when no process does. The reconciler overwrites
these on its first reconcile after a start.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from neuroscale.db import connect
from neuroscale.engine.routes import RoutesWriter
from neuroscale.engine.store import EngineStore
from neuroscale.home import Home
from neuroscale.status.conditions import ConditionType, false, set_condition
from neuroscale.status.model import health_of
from neuroscale.status.reasons import Reason

STOPPED_MESSAGE = "the platform was stopped; `neuroscale up` starts it again"


def record_platform_stopped(home: Home, *, domain: str) -> int:
    """Mark every endpoint not ready (reason PlatformStopped) in status and routes; returns how many."""
    if not home.state_db.exists():
        return 0
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    conn = connect(home.state_db)
    try:
        store = EngineStore(conn)
        statuses = store.saved_endpoints()
        for status in statuses:
            conditions = tuple(
                set_condition(status.conditions, false(ctype, Reason.PlatformStopped, STOPPED_MESSAGE), now=now)
                for ctype in (ConditionType.Ready, ConditionType.PredictorReady, ConditionType.IngressReady))
            store.save_status(replace(status, conditions=conditions, health=health_of(conditions), revision="",
                                      updated_at=now))
    finally:
        conn.close()
    routes = RoutesWriter(home.routes_file, domain=domain)
    routes.write([replace(entry, ready=False, traffic=(), reason=Reason.PlatformStopped, message=STOPPED_MESSAGE)
                  for entry in routes.entries()])
    return len(statuses)

