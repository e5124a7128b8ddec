"""The scraper: every few seconds, the gateway's `/metrics` and each model server's process accounting.

It runs as a thread of the supervisor (`neuroscale up`), not in the reconciler:
it lives exactly as long as the platform, it is off every request path, and a
slow scrape can never delay a reconcile. Each pass turns cumulative readings
into per-endpoint increments (`Usage`) and adds them to the store:

- gateway counters (requests by code, latency buckets, cold starts), as
  prometheus-client's parser reads the exposition text; a counter that went
  down means the gateway restarted, and its new value is the increment;
- CPU seconds (user + system) and resident memory of every model-server
  process the engine recorded (psutil), checked against the recorded start
  time so a reused pid is never billed; memory and replica time are
  integrated over the interval, as are the cores and bytes each replica
  requested (for idle cost). A shared runtime process (`engine.shared`) is
  recorded once per model it serves: it is read once, its resident memory is
  divided evenly among its models (as the engine's memory watchdog divides
  it) and its CPU by each model's share of the interval's requests at the
  gateway (evenly when none had any), so its cost is billed exactly once;
- the labels of each running endpoint, so showback survives its removal.

The first pass only takes a baseline. A process first seen later is billed
from its start (its model load is part of its cost).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
from prometheus_client.parser import text_string_to_metric_families

from neuroscale.engine.procfs import start_time
from neuroscale.engine.store import EngineStore, ProcessRow
from neuroscale.errors import InvalidInput
from neuroscale.metrics import names
from neuroscale.metrics.store import EndpointLabels, MetricsStore, Usage
from neuroscale.spec.fields import LABEL_COST_CENTER, LABEL_OWNER
from neuroscale.spec.quantity import parse_quantity
from neuroscale.spec.serving import ServingSpec

#: How often the supervisor scrapes, and compacts the store.
SCRAPE_INTERVAL_S = 10.0
COMPACT_INTERVAL_S = 60.0
log = logging.getLogger("neuroscale.metrics")
_LE_INDEX = {repr(bound): index for index, bound in enumerate(names.LATENCY_BUCKETS)} | {
    "+Inf": len(names.LATENCY_BUCKETS)}


@dataclass(frozen=True)
class Requested:
    """What one replica of a revision reserves: cores and bytes (Kubernetes: the request, else the limit)."""

    cores: float
    memory: float


@dataclass
class _Seen:
    start_ticks: int
    cpu_seconds: float


@dataclass
class Scraper:
    """One scrape at a time: `scrape_once()` reads, computes increments and records them."""

    conn: sqlite3.Connection
    gateway_metrics_url: str | None
    clock: Callable[[], float] = time.time
    last: float | None = None
    counters: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    processes: dict[int, _Seen] = field(default_factory=dict)
    requested: dict[str, tuple[Requested, EndpointLabels]] = field(default_factory=dict)
    compacted: float = 0.0

    def __post_init__(self) -> None:
        self.engine = EngineStore(self.conn)
        self.store = MetricsStore(self.conn)

    def scrape_once(self) -> dict[str, Usage]:
        now = self.clock()
        usage: dict[str, Usage] = {}
        first = self.last is None
        interval = 0.0 if self.last is None else max(now - self.last, 0.0)
        self._gateway(usage, first=first)
        labels = self._processes(usage, now=now, first=first)
        for used in usage.values():
            used.seconds = interval
        self.last = now
        if not first:
            self.store.record(now, usage)
        self.store.remember(labels, at=now)
        if now - self.compacted >= COMPACT_INTERVAL_S:
            self.store.compact(now)
            self.compacted = now
        return usage

    # -- the gateway -------------------------------------------------------------------------

    def _gateway(self, usage: dict[str, Usage], *, first: bool) -> None:
        text = self._fetch()
        if text is None:
            return
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                endpoint = sample.labels.get("endpoint")
                if not endpoint or sample.name not in _COUNTED:
                    continue
                key = (sample.name, endpoint, tuple(sorted(sample.labels.items())))
                previous = self.counters.get(key)
                self.counters[key] = sample.value
                if first:
                    continue
                delta = sample.value if previous is None or sample.value < previous else sample.value - previous
                if delta:
                    _count(usage.setdefault(endpoint, Usage()), sample.name, sample.labels, delta)
        for used in usage.values():  # cumulative bucket increments -> per-bucket counts
            used.buckets = [b - a for a, b in zip([0, *used.buckets[:-1]], used.buckets)]

    def _fetch(self) -> str | None:
        if not self.gateway_metrics_url:
            return None
        try:
            with urllib.request.urlopen(self.gateway_metrics_url, timeout=2.0) as response:
                return bytes(response.read()).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError):
            return None  # a restarting gateway: its counters are picked up at the next pass

    # -- the model servers -------------------------------------------------------------------

    def _processes(self, usage: dict[str, Usage], *, now: float, first: bool) -> list[EndpointLabels]:
        labels: dict[str, EndpointLabels] = {}
        alive: set[int] = set()
        hosted: dict[tuple[int, int], list[ProcessRow]] = {}  # a shared process has one row per model
        for row in self.engine.servers():
            hosted.setdefault((row.pid, row.start_time), []).append(row)
        for rows in hosted.values():
            reading = _read(rows[0])
            if reading is None:
                continue
            cpu, rss, created = reading
            pid, start_ticks = rows[0].pid, rows[0].start_time
            alive.add(pid)
            seen = self.processes.get(pid)
            self.processes[pid] = _Seen(start_ticks, cpu)
            for row in rows:
                labels[row.endpoint] = self._requested(row.revision, row.endpoint)[1]
            if first or self.last is None:
                continue
            if seen is not None and seen.start_ticks == start_ticks:
                cpu_used, covered = max(cpu - seen.cpu_seconds, 0.0), now - self.last
            elif created >= self.last:  # started since the previous pass: billed from its start
                cpu_used, covered = cpu, now - created
            else:  # running before the previous pass but unread then: this pass is its baseline
                continue
            covered, rss_share = max(covered, 0.0), rss / len(rows)
            for row, cpu_share in zip(rows, _cpu_shares(rows, usage), strict=True):
                requested = self._requested(row.revision, row.endpoint)[0]
                used = usage.setdefault(row.endpoint, Usage())
                used.cpu_seconds += cpu_used * cpu_share
                used.memory_byte_seconds += rss_share * covered
                used.memory_max = max(used.memory_max, rss_share)
                used.replica_seconds += covered
                used.cpu_request_core_seconds += requested.cores * covered
                used.memory_request_byte_seconds += requested.memory * covered
        for pid in set(self.processes) - alive:
            del self.processes[pid]
        return list(labels.values())

    def _requested(self, revision: str, endpoint: str) -> tuple[Requested, EndpointLabels]:
        cached = self.requested.get(revision)
        if cached is None:
            found = self.engine.revision(revision)
            spec = found[1] if found else None
            cached = self.requested[revision] = (_requests_of(spec), _labels_of(spec, endpoint))
        return cached


_COUNTED = frozenset({f"{names.REQUESTS}_total", f"{names.DURATION}_bucket", f"{names.DURATION}_sum",
                      f"{names.COLD_STARTS}_total"})


def _cpu_shares(rows: list[ProcessRow], usage: dict[str, Usage]) -> list[float]:
    """How one process's CPU divides among the models it serves: by the interval's requests, else evenly."""
    per_endpoint = {row.endpoint: 0 for row in rows}
    for row in rows:
        per_endpoint[row.endpoint] += 1  # an endpoint's revisions in one process split its requests evenly
    weights = [(usage[row.endpoint].requests if row.endpoint in usage else 0) / per_endpoint[row.endpoint]
               for row in rows]
    total = sum(weights)
    return [weight / total for weight in weights] if total else [1 / len(rows)] * len(rows)


def _count(used: Usage, sample: str, labels: dict[str, str], delta: float) -> None:
    if sample == f"{names.REQUESTS}_total":
        used.requests += int(delta)
        if labels.get("code", "").startswith("5"):
            used.errors += int(delta)
    elif sample == f"{names.DURATION}_bucket":
        index = _LE_INDEX.get(labels.get("le", ""))
        if index is not None:
            used.buckets[index] += int(delta)  # still cumulative here; made per-bucket after the pass
    elif sample == f"{names.DURATION}_sum":
        used.latency_sum += delta
    else:
        used.cold_starts += int(delta)


def _read(row: ProcessRow) -> tuple[float, int, float] | None:
    """CPU seconds, resident bytes and start (epoch seconds) of a recorded server; None if it is not ours."""
    if start_time(row.pid) != row.start_time:
        return None
    try:
        process = psutil.Process(row.pid)
        with process.oneshot():
            times = process.cpu_times()
            return times.user + times.system, process.memory_info().rss, process.create_time()
    except (psutil.Error, OSError):
        return None


def _quantity(*candidates: str | None) -> float:
    for text in candidates:
        if text:
            try:
                return float(parse_quantity(text))
            except InvalidInput:
                return 0.0
    return 0.0


def _requests_of(spec: ServingSpec | None) -> Requested:
    if spec is None:
        return Requested(0.0, 0.0)
    r = spec.resources
    return Requested(cores=_quantity(r.cpu_request, r.cpu_limit), memory=_quantity(r.memory_request, r.memory_limit))


def _labels_of(spec: ServingSpec | None, endpoint: str) -> EndpointLabels:
    if spec is None:
        return EndpointLabels(endpoint, "default", {})
    found = {LABEL_OWNER: spec.owner, LABEL_COST_CENTER: spec.cost_center}
    return EndpointLabels(endpoint, spec.namespace, {k: v for k, v in found.items() if v})


def scrape_until(stop: threading.Event, scraper: Scraper, *, interval: float = SCRAPE_INTERVAL_S) -> None:
    """The supervisor's scraping thread: one pass per interval until `stop` is set; a failed pass is logged."""
    failing = False
    while not stop.is_set():
        try:
            scraper.scrape_once()
            failing = False
        except (sqlite3.Error, OSError, ValueError) as exc:  # a busy or full disk must not stop the platform
            if not failing:
                log.warning("metrics scrape failed: %s", exc)
            failing = True
        stop.wait(interval)
