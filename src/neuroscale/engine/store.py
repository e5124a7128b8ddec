"""The engine's SQLite tables: status rows, revisions, processes and events.

`StatusStore` is the read API the CLI and portal use; `EngineStore` adds the
writes only the reconciler makes. The processes table is what lets a restarted
reconciler adopt its servers instead of starting duplicates. Events are kept
bounded (the newest `EVENTS_KEPT`). The one-row heartbeat table is the
reconciler's sign of life: statuses are read through it (`as_observed`), so a
reconciler that stopped observing turns them Unknown instead of leaving them
Healthy; the reconciler itself reads its rows as saved (`saved_endpoints`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from pydantic import ValidationError

from neuroscale.db import add_column
from neuroscale.engine.revisions import RevisionRecord, SpecDigest
from neuroscale.spec.serving import ServingSpec
from neuroscale.status.conditions import Condition
from neuroscale.status.heartbeat import Heartbeat, as_observed
from neuroscale.status.model import EndpointStatus, Event, EventType

EVENTS_KEPT = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_status (
    name TEXT PRIMARY KEY, namespace TEXT NOT NULL, data TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS engine_revisions (
    endpoint TEXT NOT NULL, number INTEGER NOT NULL, name TEXT NOT NULL UNIQUE, digest TEXT NOT NULL,
    spec TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (endpoint, number));
CREATE TABLE IF NOT EXISTS engine_processes (
    pid INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, revision TEXT NOT NULL, port INTEGER NOT NULL,
    start_time INTEGER NOT NULL, started_at TEXT NOT NULL, replica INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS engine_shared_models (
    port INTEGER PRIMARY KEY, pid INTEGER NOT NULL, endpoint TEXT NOT NULL, revision TEXT NOT NULL,
    start_time INTEGER NOT NULL, started_at TEXT NOT NULL, replica INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS engine_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, endpoint TEXT NOT NULL, type TEXT NOT NULL,
    reason TEXT NOT NULL, message TEXT NOT NULL, actor TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS engine_events_endpoint ON engine_events (endpoint, id);
CREATE TABLE IF NOT EXISTS engine_condition_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT NOT NULL, message TEXT NOT NULL, since TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS engine_condition_history_endpoint ON engine_condition_history (endpoint, id);
CREATE TABLE IF NOT EXISTS engine_heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
"""
#: Condition transitions kept per endpoint (the endpoint page shows them).
CONDITION_HISTORY_KEPT = 100


class StatusStore:
    """Read-only view of endpoint status and events (CLI, portal, doctor)."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.clock = clock
        conn.executescript(SCHEMA)
        add_column(conn, "engine_events", "actor", "TEXT NOT NULL DEFAULT ''")  # events from before actors
        add_column(conn, "engine_processes", "replica", "INTEGER NOT NULL DEFAULT 0")  # from before replicas

    def saved_endpoints(self) -> list[EndpointStatus]:
        """Status rows exactly as the reconciler last wrote them."""
        rows = self.conn.execute("SELECT data FROM engine_status ORDER BY namespace, name").fetchall()
        return [EndpointStatus.from_dict(json.loads(row["data"])) for row in rows]

    def list_endpoints(self) -> list[EndpointStatus]:
        """Every status as a reader should see it now (Unknown while the reconciler is not observing)."""
        heartbeat, now = self.heartbeat(), self.clock()
        return [as_observed(status, heartbeat, now=now) for status in self.saved_endpoints()]

    def get(self, name: str) -> EndpointStatus | None:
        row = self.conn.execute("SELECT data FROM engine_status WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return as_observed(EndpointStatus.from_dict(json.loads(row["data"])), self.heartbeat(), now=self.clock())

    def processes(self) -> list[ProcessRow]:
        """The dedicated model-server processes the reconciler started and has not seen end (what it adopts)."""
        return [ProcessRow(r) for r in self.conn.execute("SELECT * FROM engine_processes ORDER BY pid")]

    def servers(self) -> list[ProcessRow]:
        """Every model served now: dedicated processes, and models in shared processes (the process's pid, the
        model's port: one process appears once per model it serves) - what cost and doctor read."""
        shared = self.conn.execute("SELECT * FROM engine_shared_models ORDER BY pid, port")
        return [*self.processes(), *(ProcessRow(r, shared=True) for r in shared)]

    def heartbeat(self) -> Heartbeat | None:
        """The reconciler's last heartbeat; None before any reconciler published one."""
        row = self.conn.execute("SELECT data FROM engine_heartbeat WHERE id = 1").fetchone()
        return Heartbeat.from_dict(json.loads(row["data"])) if row else None

    def events(self, *, name: str | None = None, limit: int = 100) -> list[Event]:
        """The newest `limit` events (of one endpoint if `name`), oldest first."""
        where, args = ("WHERE endpoint = ?", [name]) if name else ("", [])
        rows = self.conn.execute(
            f"SELECT time, endpoint, type, reason, message, actor FROM engine_events {where} ORDER BY id DESC LIMIT ?",
            [*args, max(0, limit)],
        ).fetchall()
        return [Event(time=r["time"], endpoint=r["endpoint"], type=EventType(r["type"]), reason=r["reason"],
                      message=r["message"], actor=r["actor"]) for r in reversed(rows)]

    def event_page(self, *, name: str | None = None, kind: str | None = None, since: str | None = None,
                   until: str | None = None, before: int | None = None, after: int | None = None,
                   limit: int = 100) -> list[tuple[int, Event]]:
        """Matching events with their ids, oldest first: the newest `limit` older than `before`, or, with
        `after`, the oldest `limit` newer than it (for following). `since`/`until` compare ISO times."""
        clauses, args = [], []
        for clause, value in (("endpoint = ?", name), ("type = ?", kind), ("time >= ?", since),
                              ("time < ?", until), ("id < ?", before), ("id > ?", after)):
            if value is not None and value != "":
                clauses.append(clause)
                args.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "ASC" if after is not None else "DESC"
        rows = self.conn.execute(
            f"SELECT id, time, endpoint, type, reason, message, actor FROM engine_events {where} "
            f"ORDER BY id {order} LIMIT ?", [*args, max(0, limit)]).fetchall()
        found = [(r["id"], Event(time=r["time"], endpoint=r["endpoint"], type=EventType(r["type"]),
                                 reason=r["reason"], message=r["message"], actor=r["actor"])) for r in rows]
        return found if after is not None else found[::-1]

    def condition_history(self, name: str, *, limit: int = CONDITION_HISTORY_KEPT) -> list[Condition]:
        """The endpoint's condition transitions, newest first."""
        rows = self.conn.execute(
            "SELECT type, status, reason, message, since FROM engine_condition_history WHERE endpoint = ? "
            "ORDER BY id DESC LIMIT ?", (name, max(0, limit))).fetchall()
        return [Condition.from_dict({"type": r["type"], "status": r["status"], "reason": r["reason"],
                                     "message": r["message"], "last_transition": r["since"]}) for r in rows]


class ProcessRow:
    """A recorded model-server process."""

    def __init__(self, row: sqlite3.Row, *, shared: bool = False) -> None:
        self.shared = shared  # a model in a shared runtime process (`engine.shared`)
        self.pid: int = row["pid"]
        self.endpoint: str = row["endpoint"]
        self.revision: str = row["revision"]
        self.port: int = row["port"]
        self.start_time: int = row["start_time"]
        self.replica: int = row["replica"]


class EngineStore(StatusStore):
    """The reconciler's writes."""

    def save_status(self, status: EndpointStatus) -> None:
        self._record_transitions(self.get(status.name), status)
        self.conn.execute(
            "INSERT INTO engine_status (name, namespace, data, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET namespace=excluded.namespace, data=excluded.data, "
            "updated_at=excluded.updated_at",
            (status.name, status.namespace, json.dumps(status.to_dict()), status.updated_at),
        )

    def _record_transitions(self, before: EndpointStatus | None, after: EndpointStatus) -> None:
        """Keep each condition whose status or reason changed, for the endpoint's history."""
        earlier = {c.type: (c.status, c.reason) for c in before.conditions} if before else {}
        for condition in after.conditions:
            if earlier.get(condition.type) == (condition.status, condition.reason):
                continue
            data = condition.to_dict()
            self.conn.execute(
                "INSERT INTO engine_condition_history (endpoint, type, status, reason, message, since) "
                "VALUES (?, ?, ?, ?, ?, ?)", (after.name, data["type"], data["status"], data["reason"],
                                              data["message"], data.get("last_transition") or after.updated_at))
        self.conn.execute(
            "DELETE FROM engine_condition_history WHERE endpoint = ? AND id <= (SELECT MAX(id) - ? FROM "
            "engine_condition_history WHERE endpoint = ?)", (after.name, CONDITION_HISTORY_KEPT, after.name))

    def beat(self, heartbeat: Heartbeat) -> None:
        self.conn.execute("INSERT INTO engine_heartbeat (id, data) VALUES (1, ?) "
                          "ON CONFLICT(id) DO UPDATE SET data=excluded.data", (json.dumps(heartbeat.to_dict()),))

    def delete_status(self, name: str) -> None:
        self.conn.execute("DELETE FROM engine_status WHERE name = ?", (name,))

    def record_event(self, event: Event) -> None:
        self.conn.execute(
            "INSERT INTO engine_events (time, endpoint, type, reason, message, actor) VALUES (?, ?, ?, ?, ?, ?)",
            (event.time, event.endpoint, event.type.value, event.reason, event.message, event.actor),
        )
        self.conn.execute(
            "DELETE FROM engine_events WHERE id <= (SELECT MAX(id) FROM engine_events) - ?", (EVENTS_KEPT,)
        )

    def latest_revision(self, endpoint: str) -> RevisionRecord | None:
        row = self.conn.execute(
            "SELECT number, digest FROM engine_revisions WHERE endpoint = ? ORDER BY number DESC LIMIT 1",
            (endpoint,),
        ).fetchone()
        return RevisionRecord(endpoint, row["number"], SpecDigest(row["digest"])) if row else None

    def add_revision(self, record: RevisionRecord, *, spec: ServingSpec, created_at: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO engine_revisions (endpoint, number, name, digest, spec, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (record.endpoint, record.number, record.name, record.digest, spec.model_dump_json(), created_at),
        )

    def revision(self, name: str) -> tuple[RevisionRecord, ServingSpec] | None:
        """A recorded revision; None when unknown or written by an older release in another shape."""
        row = self.conn.execute(
            "SELECT endpoint, number, digest, spec FROM engine_revisions WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        try:
            spec = ServingSpec.model_validate_json(row["spec"])
        except ValidationError:
            return None
        return RevisionRecord(row["endpoint"], row["number"], SpecDigest(row["digest"])), spec

    def add_process(self, *, pid: int, endpoint: str, revision: str, port: int, start_time: int,
                    started_at: str, replica: int = 0, shared: bool = False) -> None:
        """Record a started server; a model in a shared process is recorded by its port (its pid is shared)."""
        table = "engine_shared_models" if shared else "engine_processes"
        self.conn.execute(
            f"INSERT OR REPLACE INTO {table} (pid, endpoint, revision, port, start_time, started_at, "
            "replica) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (pid, endpoint, revision, port, start_time, started_at, replica),
        )

    def remove_process(self, pid: int, *, shared_port: int | None = None) -> None:
        """Forget an ended server: a dedicated process by its pid, a shared model by its port."""
        if shared_port is None:
            self.conn.execute("DELETE FROM engine_processes WHERE pid = ?", (pid,))
        else:
            self.conn.execute("DELETE FROM engine_shared_models WHERE port = ?", (shared_port,))

    def forget_shared_models(self) -> None:
        """At start-up: a previous run's shared models are never adopted (their processes end with it)."""
        self.conn.execute("DELETE FROM engine_shared_models")
