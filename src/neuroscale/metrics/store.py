"""A bounded time series of what each endpoint did and used, in SQLite next to the engine's state.

Why this shape: every column is additive (counts, seconds, byte-seconds) or a
maximum, so rows of any resolution merge exactly — a day's p99 comes from the
summed latency buckets, a day's memory from summed byte-seconds, never from
averages of averages. Rows start at the scrape resolution and are compacted
into coarser ones as they age (`TIERS`), which bounds the store: per endpoint
at most 360 + 1,380 + 1,728 rows for seven days. A row lives in exactly one
tier at a time, so a query sums every row in its window whatever the tier.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from neuroscale.db import write_transaction
from neuroscale.metrics.names import LATENCY_BUCKETS

#: (seconds per row, how long rows of that resolution are kept before they move to the next tier or go).
TIERS: tuple[tuple[int, int], ...] = ((10, 3600), (60, 24 * 3600), (300, 7 * 24 * 3600))
RAW_STEP = TIERS[0][0]
RETENTION_S = TIERS[-1][1]
BUCKET_COLUMNS = tuple(f"h{index}" for index in range(len(LATENCY_BUCKETS) + 1))


@dataclass
class Usage:
    """What one endpoint did and used over `seconds` of observation (all fields add up; `memory_max` is a max)."""

    seconds: float = 0.0
    requests: int = 0
    errors: int = 0  # answered 5xx
    cold_starts: int = 0
    latency_sum: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_COLUMNS))
    cpu_seconds: float = 0.0
    memory_byte_seconds: float = 0.0
    memory_max: float = 0.0
    replica_seconds: float = 0.0
    cpu_request_core_seconds: float = 0.0
    memory_request_byte_seconds: float = 0.0

    def add(self, other: Usage) -> None:
        for name in _SCALARS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.memory_max = max(self.memory_max, other.memory_max)
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets)]


_SCALARS = tuple(f.name for f in fields(Usage) if f.name not in ("buckets", "memory_max"))
_COLUMNS = (*_SCALARS, "memory_max", *BUCKET_COLUMNS)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS metrics_samples (
    endpoint TEXT NOT NULL, start INTEGER NOT NULL, step INTEGER NOT NULL,
    {", ".join(f"{c} REAL NOT NULL DEFAULT 0" for c in _COLUMNS)},
    PRIMARY KEY (endpoint, start, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics_endpoints (
    endpoint TEXT PRIMARY KEY, namespace TEXT NOT NULL, labels TEXT NOT NULL, seen INTEGER NOT NULL);
"""
_MERGE = ", ".join(f"{c} = MAX({c}, excluded.{c})" if c == "memory_max" else f"{c} = {c} + excluded.{c}"
                   for c in _COLUMNS)
_RESOURCES = ("seconds", "cpu_seconds", "memory_byte_seconds", "cpu_request_core_seconds",
              "memory_request_byte_seconds")
#: Rows added up as the columns say (`memory_max` is a max), named as the columns (compaction).
_TOTALS = ", ".join(f"{'MAX' if c == 'memory_max' else 'SUM'}({c}) AS {c}" for c in _COLUMNS)
_UPSERT = (f"INSERT INTO metrics_samples (endpoint, start, step, {', '.join(_COLUMNS)}) "
           f"VALUES (?, ?, ?, {', '.join('?' for _ in _COLUMNS)}) "
           f"ON CONFLICT (endpoint, start, step) DO UPDATE SET {_MERGE}")


@dataclass(frozen=True)
class Row:
    endpoint: str
    start: int
    step: int
    usage: Usage


@dataclass(frozen=True)
class EndpointLabels:
    endpoint: str
    namespace: str
    labels: Mapping[str, str]


class MetricsStore:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.executescript(SCHEMA)

    def record(self, at: float, usage: Mapping[str, Usage]) -> None:
        """Add one scrape's usage per endpoint into the raw-resolution row containing `at`."""
        start = int(at // RAW_STEP) * RAW_STEP
        with write_transaction(self.conn):
            for endpoint, used in usage.items():
                values = [getattr(used, name) for name in _SCALARS] + [used.memory_max, *used.buckets]
                self.conn.execute(_UPSERT, [endpoint, start, RAW_STEP, *values])

    def remember(self, labels: Iterable[EndpointLabels], *, at: float) -> None:
        """The labels each endpoint had when last seen running, for showback after it is gone from main."""
        with write_transaction(self.conn):
            for item in labels:
                self.conn.execute(
                    "INSERT INTO metrics_endpoints (endpoint, namespace, labels, seen) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (endpoint) DO UPDATE SET namespace = excluded.namespace, "
                    "labels = excluded.labels, seen = excluded.seen",
                    (item.endpoint, item.namespace, json.dumps(dict(item.labels), sort_keys=True), int(at)))

    def known_labels(self) -> dict[str, EndpointLabels]:
        rows = self.conn.execute("SELECT endpoint, namespace, labels FROM metrics_endpoints").fetchall()
        return {r["endpoint"]: EndpointLabels(r["endpoint"], r["namespace"], json.loads(r["labels"])) for r in rows}

    def compact(self, now: float) -> None:
        """Move rows older than their tier's age into the next, coarser tier; drop what is past retention."""
        with write_transaction(self.conn):
            for (step, keep), following in zip(TIERS, (*TIERS[1:], None)):
                if following is None:
                    self.conn.execute("DELETE FROM metrics_samples WHERE step = ? AND start < ?",
                                      (step, int(now) - keep))
                    continue
                coarse = following[0]
                cutoff = (int(now) - keep) // coarse * coarse  # whole coarse rows only
                self.conn.execute(
                    f"INSERT INTO metrics_samples (endpoint, start, step, {', '.join(_COLUMNS)}) "
                    f"SELECT endpoint, (start / {coarse}) * {coarse}, {coarse}, {_TOTALS} FROM metrics_samples "
                    f"WHERE step = ? AND start < ? GROUP BY endpoint, start / {coarse} "
                    f"ON CONFLICT (endpoint, start, step) DO UPDATE SET {_MERGE}", (step, cutoff))
                self.conn.execute("DELETE FROM metrics_samples WHERE step = ? AND start < ?", (step, cutoff))

    def rows(self, *, start: float, end: float, endpoint: str | None = None) -> list[Row]:
        """Every row starting in [start, end), oldest first (of one endpoint if given)."""
        where = "start >= ? AND start < ?" + (" AND endpoint = ?" if endpoint else "")
        args: list[object] = [int(start), int(end)] + ([endpoint] if endpoint else [])
        found = self.conn.execute(
            f"SELECT endpoint, start, step, {', '.join(_COLUMNS)} FROM metrics_samples WHERE {where} "
            "ORDER BY start", args).fetchall()
        return [Row(r["endpoint"], r["start"], r["step"], _usage(r)) for r in found]

    def resource_totals(self, *, start: float, end: float, every: float | None = None) -> list[Row]:
        """What showback prices — seconds, CPU and memory used and requested — per endpoint over [start, end),
        added up per `every` seconds from `start` (else all together); the other readings are left at zero.

        The database adds: a day of 100 endpoints is ~170,000 rows; reading each into Python took seconds,
        adding every column 0.4 s, these five 0.05 s (a scan: an index on `start` made it ten times slower).
        """
        origin = math.ceil(start)  # the first whole second a row may start at (rows start on whole seconds)
        width = max(1, math.ceil(every if every else end - origin))
        found = self.conn.execute(
            f"SELECT endpoint, ? + ((start - ?) / ?) * ? AS first, ? AS step, "
            f"{', '.join(f'SUM({c}) AS {c}' for c in _RESOURCES)} FROM metrics_samples "
            "WHERE start >= ? AND start < ? GROUP BY endpoint, (start - ?) / ? ORDER BY first, endpoint",
            (origin, origin, width, width, width, origin, end, origin, width)).fetchall()
        return [Row(r["endpoint"], r["first"], r["step"], Usage(**{c: r[c] for c in _RESOURCES})) for r in found]

    def size_bytes(self) -> int:
        """Bytes the samples table and its index take (SQLite's dbstat when compiled in, else an estimate)."""
        try:
            row = self.conn.execute("SELECT SUM(pgsize) AS size FROM dbstat WHERE name = 'metrics_samples'").fetchone()
            return int(row["size"] or 0)
        except sqlite3.OperationalError:
            count = self.conn.execute("SELECT COUNT(*) AS n FROM metrics_samples").fetchone()["n"]
            return int(count) * 8 * (len(_COLUMNS) + 3)


def _usage(row: sqlite3.Row) -> Usage:
    used = Usage(**{name: row[name] for name in _SCALARS}, memory_max=row["memory_max"])
    used.buckets = [int(row[c]) for c in BUCKET_COLUMNS]
    for name in ("requests", "errors", "cold_starts"):
        setattr(used, name, int(getattr(used, name)))
    return used
