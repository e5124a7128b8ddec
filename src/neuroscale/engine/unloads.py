"""Endpoints an admin unloaded through the gateway's model repository extension, kept in the engine's database.

The gateway records each admin's order (`neuroscale.model_orders`); the engine decides what runs, so
it is the engine that keeps the state: a row per unloaded endpoint in `engine_unloaded`, written in
the same transaction as the order's event, the order file deleted only after that commit. So an
unloaded endpoint stays unloaded across restarts of the gateway and of the engine, and an order
given while the engine was down is carried out when it starts. The state belongs to the endpoint
name on main, not to a revision: a merge while unloaded keeps it unloaded, and deleting the
endpoint from main forgets it (one created later under that name starts loaded).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from neuroscale.model_orders import Action, Order, Pending, pending

SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_unloaded (endpoint TEXT PRIMARY KEY, by TEXT NOT NULL, at TEXT NOT NULL);
"""


def unloaded_message(endpoint: str, *, by: str, at: str) -> str:
    """What requests, the index and the status say about an unloaded endpoint."""
    return (f"unloaded by admin {by} at {at}; an admin loads it again with "
            f"POST /v2/repository/models/{endpoint}/load")


class Unloads:
    """The unloaded endpoints (name → message, as committed), and the orders waiting in the gateway's spool."""

    def __init__(self, conn: sqlite3.Connection, spool: Path) -> None:
        self.conn = conn
        self.spool = spool
        conn.executescript(SCHEMA)
        self.messages = self._read()

    def _read(self) -> dict[str, str]:
        return {row["endpoint"]: unloaded_message(row["endpoint"], by=row["by"], at=row["at"])
                for row in self.conn.execute("SELECT endpoint, by, at FROM engine_unloaded")}

    def message(self, endpoint: str) -> str:
        return self.messages.get(endpoint, "")

    def pending(self) -> list[Pending]:
        return pending(self.spool)

    def record(self, order: Order) -> bool:
        """Write `order` in the caller's write transaction (then `refresh`); True when it changed the state."""
        if order.action is Action.unload:
            return self.conn.execute("INSERT OR IGNORE INTO engine_unloaded (endpoint, by, at) VALUES (?, ?, ?)",
                                     (order.endpoint, order.by, order.at)).rowcount == 1
        return self.forget(order.endpoint)

    def forget(self, endpoint: str) -> bool:
        """The endpoint is loaded, or gone from main (then `refresh`); True when it was unloaded."""
        return self.conn.execute("DELETE FROM engine_unloaded WHERE endpoint = ?", (endpoint,)).rowcount == 1

    def refresh(self) -> None:
        """Read back what was committed."""
        self.messages = self._read()
