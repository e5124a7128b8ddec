"""Issue 12's numbers: scrape + accounting CPU, metrics store size, portal page latency, showback accuracy.

  scrape + accounting CPU : a live platform (`Platform`, as `neuroscale up` runs it) serving 10 iris
                            endpoints. The supervisor's own `Scraper` pass (gateway /metrics parsed, psutil
                            per model server, rows written) runs in-process `--passes` times; its CPU comes
                            from `time.thread_time()`, the gateway's CPU for answering /metrics from psutil
                            (minus its idle rate), and one compaction is timed too. Per wall second at the
                            supervisor's cadence: a pass every 10 s, a compaction every 60 s.
  store size              : the real `MetricsStore` in a temporary SQLite file, driven through 7 days + 1 h
                            of 100 busy endpoints with its own API (`record` and `compact` take "now"), one
                            record per row the tiers keep; the file's size afterwards.
  portal pages            : `python -m neuroscale.portal` over a home with 100 endpoints on main (one real
                            commit), their statuses, revisions and logs, 10,000 events recorded, pull
                            requests opened and merged through the services, and the 7-day metrics above;
                            `--gets` GETs per page with a session signed in through a login link, median
                            and p95 at the client on loopback. A page that misses is profiled with py-spy.
  showback accuracy       : the live platform under load, scraped every 10 s for `--showback-window`
                            seconds (the issue's window is 10 minutes: pass --showback-window 600);
                            `services.usage.showback` against this script's own arithmetic on psutil
                            readings it takes at each pass (CPU) and every second (resident memory).

Usage: .venv/bin/python bench/observe_bench.py [--parts store,portal,live] [--passes 40]
                                               [--showback-window 60] [--gets 50] [--no-profile]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import psutil

from neuroscale.cost.prices import PriceTable
from neuroscale.cost.showback import GIB, HOUR
from neuroscale.db import connect, write_transaction
from neuroscale.engine.procfs import serving_processes
from neuroscale.engine.revisions import RevisionRecord, SpecDigest, revision_name
from neuroscale.engine.store import EVENTS_KEPT, EngineStore
from neuroscale.gitops.repo import MAIN
from neuroscale.home import Home
from neuroscale.identity.local_admin import read_secret
from neuroscale.metrics.scrape import COMPACT_INTERVAL_S, SCRAPE_INTERVAL_S, Scraper
from neuroscale.metrics.store import (
    BUCKET_COLUMNS, RAW_STEP, RETENTION_S, TIERS, EndpointLabels, MetricsStore, Usage)
from neuroscale.ports import free_port
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import update_endpoint
from neuroscale.services.identity import actor_for_token
from neuroscale.services.pulls import merge_pull_request
from neuroscale.services.usage import AllocationParams, showback
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.spec.serving import serving_spec
from neuroscale.status.conditions import ConditionType, true
from neuroscale.status.model import EndpointStatus, Event, EventType, Health, RevisionTraffic, Sync
from neuroscale.supervisor.demo import train_iris
from neuroscale.supervisor.platform import Platform
from neuroscale.supervisor.settings import PlatformSettings, save_settings
from neuroscale.yamlio import dump

from serving_semantics_bench import AUTHOR, BODY, Bench, wait

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the portal's sign-in helpers live beside the tests that use them

from tests.conftest import running  # noqa: E402
from tests.portal.conftest import Portal  # noqa: E402

#: (measurement, value, target, met: None for a number reported without a target)
Result = tuple[str, str, str, bool | None]
PAGE_MEDIAN_S, PAGE_P95_S = 0.200, 0.500
CORE_SHARE_TARGET = 0.01
SHOWBACK_TOLERANCE = 0.02


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="seconds")


def process_cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


# -- the metrics store over 7 days at 100 endpoints -------------------------------------------------


@dataclass(frozen=True)
class Filled:
    file_bytes: int
    free_bytes: int
    packed_bytes: int
    table_bytes: int
    rows: int
    record_cpu: float  # one `record` of every endpoint, at the 10-s cadence of the last hour
    compact_cpu: float  # one compaction in the last hour (the supervisor compacts once a minute)
    seconds: float


def cadence(age: float) -> int:
    """The step of the tier a row of this age lives in: one record per such step leaves exactly the rows
    a record every 10 s would, since each coarser row merges whatever raw rows fell in it."""
    return next((step for step, keep in TIERS if age < keep), TIERS[-1][0])


def busy_usage(rng: random.Random, seconds: float) -> Usage:
    """`seconds` of a busy endpoint, as the scraper writes it: fractional seconds and byte-seconds, whole counts
    (SQLite stores whole REALs as small integers, so values shape the file as much as row counts do)."""
    covered = seconds * rng.uniform(0.999, 1.001)
    requests = int(rng.uniform(1, 20) * seconds)
    shape = (0.0, 0.05, 0.2, 0.35, 0.25, 0.1, 0.04, 0.01)
    buckets = [int(requests * share * rng.uniform(0.8, 1.2)) for share in shape]
    rss = rng.uniform(90e6, 400e6)
    return Usage(seconds=covered, requests=requests, errors=rng.randint(0, requests // 100),
                 latency_sum=requests * rng.uniform(0.002, 0.02),
                 buckets=buckets + [0] * (len(BUCKET_COLUMNS) - len(buckets)),
                 cpu_seconds=covered * rng.uniform(0.01, 0.5), memory_byte_seconds=rss * covered,
                 memory_max=float(int(rss)), replica_seconds=covered, cpu_request_core_seconds=0.1 * covered,
                 memory_request_byte_seconds=float(2**27) * covered)


def fill_store(path: Path, *, endpoints: int, end: float, every: int = 12, seed: int = 12) -> Filled:
    """Drive the real store from past retention up to `end`. Compactions come as often as the supervisor's in
    the last hour and every `every` records before it: the rows they leave are the same, but how full SQLite's
    pages end up depends on that history (12 packs like a compaction per record; 72 left pages ~60 % full), so
    the packed size (VACUUM INTO) is reported beside the file's."""
    started = time.perf_counter()
    conn = connect(path)
    store = MetricsStore(conn)
    names = [f"ep-{index:03d}" for index in range(endpoints)]
    store.remember([EndpointLabels(name, "default", {"owner": f"team-{i % 10}", "cost-center": f"cc-{i % 7}"})
                    for i, name in enumerate(names)], at=end)
    rng = random.Random(seed)
    at = float((int(end) - RETENTION_S - 3600) // TIERS[-1][0] * TIERS[-1][0])
    compacted = at
    record_cpu, compact_cpu = [], []
    pools = {step: [busy_usage(rng, step) for _ in range(997)] for step, _ in TIERS}  # drawn from, not made, per row
    while at <= end:
        step = cadence(end - at)
        usage = {name: rng.choice(pools[step]) for name in names}
        clock = time.thread_time()
        store.record(at, usage)
        last_hour = end - at < TIERS[0][1]
        if last_hour:
            record_cpu.append(time.thread_time() - clock)
        if at - compacted >= (COMPACT_INTERVAL_S if step == RAW_STEP else every * step):
            clock = time.thread_time()
            store.compact(at)
            if last_hour:
                compact_cpu.append(time.thread_time() - clock)
            compacted = at
        at += step
    store.compact(end)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page_size
    rows = conn.execute("SELECT COUNT(*) FROM metrics_samples").fetchone()[0]
    table = store.size_bytes()
    packed = path.with_name("packed.db")
    conn.execute("VACUUM INTO ?", (str(packed),))
    conn.close()
    packed_bytes = packed.stat().st_size
    packed.unlink()
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return Filled(size, free, packed_bytes, table, rows, statistics.mean(record_cpu), statistics.mean(compact_cpu),
                  time.perf_counter() - started)


def store_results(filled: Filled, endpoints: int, *, bound: float) -> list[Result]:
    mib = filled.file_bytes / 2**20
    per_endpoint = filled.rows / endpoints
    share = filled.record_cpu / SCRAPE_INTERVAL_S + filled.compact_cpu / COMPACT_INTERVAL_S
    return [
        (f"metrics store, 7 days at {endpoints} endpoints (SQLite file)",
         f"{mib:.1f} MiB ({filled.rows:,} rows, {per_endpoint:,.0f}/endpoint, "
         f"{filled.file_bytes / filled.rows:.0f} B/row; "
         f"samples table {filled.table_bytes / 2**20:.1f} MiB, free pages {filled.free_bytes / 2**20:.1f} MiB, "
         f"packed {filled.packed_bytes / 2**20:.1f} MiB)", f"≤ {bound:g} MiB (stated bound)", mib <= bound),
        (f"store writes at {endpoints} endpoints (record every 10 s + compaction every 60 s)",
         f"{100 * share:.3f} % of a core (record {1000 * filled.record_cpu:.1f} ms, compact "
         f"{1000 * filled.compact_cpu:.1f} ms CPU)", "reported", None),
    ]


# -- the portal over 100 endpoints and 10,000 events ------------------------------------------------


def build_portal_home(home: Home, *, endpoints: int, events: int, pulls: int, metrics: Path,
                      gateway_port: int) -> tuple[str, int, int]:
    """The state a busy platform leaves, written with the services and stores the platform writes with.
    Returns an endpoint name, an open pull request and how many events the store kept."""
    model = train_iris(home.models_dir / "iris")
    with PlatformContext.open(home, create=True) as ctx:
        actor = actor_for_token(ctx, read_secret(home.admin_token_file) or "")
        specs = [EndpointSpec.from_input({"name": f"ep-{i:03d}", "owner": f"team-{i % 10}", "costCenter": f"cc-{i % 7}",
                                          "storageUri": model.as_uri()}) for i in range(endpoints)]
        manifests = {spec.name: to_manifest(spec) for spec in specs}
        ctx.repo.commit(branch=MAIN, files={manifest_path(name): dump(doc).encode() for name, doc in manifests.items()},
                        message=f"{endpoints} endpoints", author=AUTHOR)
        numbers = []
        for index in range(pulls):  # half merged, half left open
            change = EndpointSpec.from_input({**specs[index].to_input(), "cpuRequest": "200m"})
            number = update_endpoint(ctx, change, actor=actor).number
            if index % 2 == 0:
                merge_pull_request(ctx, number, actor=actor)
            numbers.append(number)
        _engine_state(ctx, manifests, events=events, gateway_port=gateway_port)
        kept = ctx.db.execute("SELECT COUNT(*) FROM engine_events").fetchone()[0]
        MetricsStore(ctx.db)
        ctx.db.execute("ATTACH DATABASE ? AS filled", (str(metrics),))
        with write_transaction(ctx.db):
            ctx.db.execute("INSERT INTO metrics_samples SELECT * FROM filled.metrics_samples")
            ctx.db.execute("INSERT INTO metrics_endpoints SELECT * FROM filled.metrics_endpoints")
        ctx.db.execute("DETACH DATABASE filled")
    return specs[len(specs) // 2].name, numbers[-1] if pulls % 2 == 0 else numbers[-2], kept


def _engine_state(ctx: PlatformContext, manifests: Mapping[str, Mapping[str, Any]], *, events: int,
                  gateway_port: int) -> None:
    """What the reconciler records for serving endpoints: a revision, a Ready status, a log; then events."""
    store = EngineStore(ctx.db)
    ctx.home.server_logs_dir.mkdir(parents=True, exist_ok=True)
    now = time.time()
    with write_transaction(ctx.db):
        for name, doc in manifests.items():
            spec = serving_spec(doc)
            record = RevisionRecord(name, 1, SpecDigest(spec.process_digest()))
            store.add_revision(record, spec=spec, created_at=iso(now - 3600))
            store.save_status(EndpointStatus(
                name=name, namespace="default", url=f"http://{name}.default.localhost:{gateway_port}",
                sync=Sync.Synced, health=Health.Healthy, revision=record.name, latest_revision=record.name,
                conditions=(true(ConditionType.Ready, "Ready", "serving"),
                            true(ConditionType.PredictorReady, "ServerReady", "1/1 replicas ready"),
                            true(ConditionType.IngressReady, "RouteReady", "route installed")),
                traffic=(RevisionTraffic(record.name, 100, True, 1, 1),),
                replicas={"ready": 1, "desired": 1, "min": 1, "max": 1}, updated_at=iso(now - 3600)))
            lines = (f"{iso(now - 3600 + second)} INFO POST /v1/models/{name}:predict 200 {second % 9 + 1} ms\n"
                     for second in range(200))
            (ctx.home.server_logs_dir / f"{revision_name(name, 1)}.log").write_text("".join(lines))
        names = list(manifests)
        for index in range(events):
            warning = index % 5 == 0
            store.record_event(Event(
                time=iso(now - events + index), endpoint=names[index % len(names)],
                type=EventType.Warning if warning else EventType.Normal,
                reason="ReplicaRestarted" if warning else "ScaledUp",
                message=f"event {index}: {'replica exited with code 1' if warning else 'replicas 1 → 2'}"))


def portal_pages(endpoint: str, pull: int) -> list[tuple[str, str]]:
    return [("endpoints list", "/endpoints"), ("endpoint page", f"/endpoints/{endpoint}"),
            ("events, first page", "/events"), ("events, filtered (endpoint + type)",
                                                 f"/events?endpoint={endpoint}&type=Warning"),
            ("pulls", "/pulls"), ("pull page (open)", f"/pulls/{pull}"), ("cost (default 24 h)", "/cost"),
            ("new-endpoint form", "/new")]


def time_page(http: httpx.Client, path: str, *, gets: int, budget_s: float) -> list[float]:
    """`gets` GETs, the first (cold templates) included; fewer, never under 3, when they overrun `budget_s`."""
    samples: list[float] = []
    started = time.monotonic()
    while len(samples) < gets and (len(samples) < 3 or time.monotonic() - started < budget_s):
        clock = time.perf_counter()
        answer = http.get(path)
        samples.append(time.perf_counter() - clock)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return samples


def profile(pid: int, http: httpx.Client, path: str, *, seconds: int, scratch: Path) -> list[str]:
    """Where the portal spends a slow page's time: py-spy samples while the page is fetched in a loop;
    the neuroscale frames with the largest share of samples (inclusive)."""
    out, said = scratch / "profile.txt", scratch / "py-spy.log"
    out.unlink(missing_ok=True)
    with said.open("wb") as log:
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--duration",
                                str(seconds), "--format", "raw", "--output", str(out), "--nonblocking"],
                               stdout=log, stderr=subprocess.STDOUT)
        while spy.poll() is None:
            http.get(path)
    if not out.exists() or not out.read_text().strip():
        return [f"(no samples: {' | '.join(said.read_text(errors='replace').strip().splitlines()[-2:])})"]
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [frame.rsplit(":", 1)[0] + ")" if ":" in frame else frame for frame in stack.split(";")]
        total += int(count)
        if frames[-1].strip():
            leaves[frames[-1]] += int(count)
        for frame in set(frames):
            if "neuroscale/" in frame and "backend.py" not in frame:
                inclusive[frame] += int(count)
    top = [f"{100 * n / total:5.1f} %  {frame}" for frame, n in inclusive.most_common(8)]
    return top + [f"{100 * n / total:5.1f} %  (self) {frame}" for frame, n in leaves.most_common(4)]


def portal_numbers(args: argparse.Namespace, metrics: Path, scratch: Path) -> tuple[list[Result], list[str]]:
    home = Home(scratch / "portal-home")
    port = free_port()
    started = time.perf_counter()
    endpoint, pull, kept = build_portal_home(home, endpoints=args.endpoints, events=args.events, pulls=args.pulls,
                                             metrics=metrics, gateway_port=port)
    save_settings(home, PlatformSettings(portal_port=port, gateway_port=free_port()))  # no gateway: refused at once
    built = time.perf_counter() - started
    url = f"http://127.0.0.1:{port}"
    results: list[Result] = [(f"portal state: {args.endpoints} endpoints, {args.events:,} events recorded, "
                              f"{args.pulls} pull requests", f"built in {built:.1f} s; the store kept {kept:,} events "
                              f"(EVENTS_KEPT = {EVENTS_KEPT:,})", "—", None)]
    notes: list[str] = []
    argv = [sys.executable, "-m", "neuroscale.portal", "--home", str(home.root), "--port", str(port)]
    with running(argv, ready_url=f"{url}/healthz") as process, \
            closing(Portal(url=url, home=home, model=home.models_dir / "iris").signed_in()) as http:
        http.timeout = httpx.Timeout(180.0)  # a slow page is a number to report, not an error
        for label, path in portal_pages(endpoint, pull):
            samples = time_page(http, path, gets=args.gets, budget_s=args.page_budget)
            median, worst = statistics.median(samples), p95(samples)
            met = median <= PAGE_MEDIAN_S and worst <= PAGE_P95_S
            results.append((f"portal {label} `{path}`", f"median {1000 * median:.0f} ms, p95 {1000 * worst:.0f} ms "
                            f"(n={len(samples)})", "≤ 200 ms median, ≤ 500 ms p95", met))
            if not met and args.profile:
                notes.append(f"profile of `{path}` (share of samples, {args.profile_seconds} s):")
                notes += ["    " + line for line in profile(process.pid, http, path, seconds=args.profile_seconds,
                                                            scratch=scratch)]
    return results, notes


# -- the live platform: scrape cost and showback accuracy -------------------------------------------


@dataclass
class Live:
    home: Home
    settings: PlatformSettings
    platform: Platform
    bench: Bench
    names: list[str]


@contextmanager
def live_platform(count: int, scratch: Path) -> Iterator[Live]:
    """`count` iris endpoints at one replica each; the supervisor's own scraper idles (interval 1 h), so every
    pass in this run is one this script makes and times."""
    home = Home.resolve(scratch / "live-home")
    PlatformContext.open(home, create=True).close()
    settings = PlatformSettings(portal_port=free_port(), gateway_port=free_port(), metrics_interval_s=3600.0)
    model = train_iris(home.models_dir / "iris")
    platform = Platform(home=home, settings=settings, log=lambda _line: None)
    platform.start()
    try:
        bench = Bench(home, settings, {"iris": model})
        names = [f"live-{index:02d}" for index in range(count)]
        for name in names:
            bench.deploy(name, "iris", minReplicas=1, maxReplicas=1)
        for name in names:
            wait(lambda: bench.answer(name) == [1, 1], timeout=180, what=f"{name} serves")  # noqa: B023
        yield Live(home, settings, platform, bench, names)
    finally:
        platform.stop()


def scrape_cost(live: Live, *, passes: int, pause: float) -> list[Result]:
    gateway = psutil.Process(live.platform.running["gateway"].process.pid)
    scraper = Scraper(connect(live.home.state_db), f"{live.settings.gateway_url}/metrics")
    scraper.scrape_once()  # the baseline pass, as the supervisor's first
    clock, before = time.monotonic(), process_cpu(gateway)
    time.sleep(passes * pause)
    idle_rate = (process_cpu(gateway) - before) / (time.monotonic() - clock)
    clock, before = time.monotonic(), process_cpu(gateway)
    cpu, wall = [], []
    for _ in range(passes):
        started, thread = time.perf_counter(), time.thread_time()
        scraper.scrape_once()
        cpu.append(time.thread_time() - thread)
        wall.append(time.perf_counter() - started)
        time.sleep(pause)
    gateway_per_pass = max(process_cpu(gateway) - before - idle_rate * (time.monotonic() - clock), 0.0) / passes
    thread = time.thread_time()
    scraper.store.compact(time.time())
    compact = time.thread_time() - thread
    scraper.conn.close()
    share = (statistics.mean(cpu) + gateway_per_pass) / SCRAPE_INTERVAL_S + compact / COMPACT_INTERVAL_S
    metadata = []
    for _ in range(20):
        started = time.perf_counter()
        live.bench.client.get(f"/v2/models/{live.names[0]}").raise_for_status()
        metadata.append(time.perf_counter() - started)
    return [
        (f"metrics scraping + cost accounting, {len(live.names)} live endpoints",
         f"{100 * share:.3f} % of one core (pass: {1000 * statistics.mean(cpu):.2f} ms CPU in the supervisor, "
         f"{1000 * gateway_per_pass:.2f} ms in the gateway, {1000 * statistics.median(wall):.1f} ms wall; "
         f"compaction {1000 * compact:.2f} ms per 60 s on this young store; {passes} passes)", "≤ 1 % of one core",
         share <= CORE_SHARE_TARGET),
        ("V2 metadata through the gateway (the endpoint page's call, absent in the portal run)",
         f"median {1000 * statistics.median(metadata):.1f} ms", "reported", None),
    ]


class RssIntegral:
    """Resident bytes of the model servers, summed and integrated over time (trapezoids, one a second)."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self.processes = processes
        self.byte_seconds = 0.0
        self.at, self.rss = time.time(), self._read()

    def _read(self) -> float:
        return float(sum(p.memory_info().rss for p in self.processes))

    def step(self) -> None:
        at, rss = time.time(), self._read()
        self.byte_seconds += (self.rss + rss) / 2 * (at - self.at)
        self.at, self.rss = at, rss


def drive_load(live: Live, stop: threading.Event) -> None:
    """Predictions to every endpoint in turn, so the servers burn CPU worth billing."""
    with httpx.Client(base_url=live.settings.gateway_url, timeout=30) as client:
        while not stop.is_set():
            for name in live.names:
                client.post(f"/v1/models/{name}:predict", json=BODY)


def showback_accuracy(live: Live, *, window_s: float) -> list[Result]:
    processes = [psutil.Process(p.pid) for p in serving_processes(live.home.root)]
    scraper = Scraper(connect(live.home.state_db), f"{live.settings.gateway_url}/metrics")
    stop = threading.Event()
    load = threading.Thread(target=drive_load, args=(live, stop), daemon=True)
    load.start()
    try:
        time.sleep(1.0)  # past the previous scraper's last row
        scraper.scrape_once()
        cpu_start = {p.pid: process_cpu(p) for p in processes}
        memory = RssIntegral(processes)
        due, first = time.time() + SCRAPE_INTERVAL_S, None
        for _ in range(max(1, round(window_s / SCRAPE_INTERVAL_S))):
            while time.time() < due:
                time.sleep(min(1.0, max(due - time.time(), 0.0)))
                memory.step()
            scraper.scrape_once()
            cpu_end = {p.pid: process_cpu(p) for p in processes}
            memory.step()
            first = first if first is not None else scraper.last
            due += SCRAPE_INTERVAL_S
    finally:
        stop.set()
        load.join()
    assert first is not None and scraper.last is not None
    start, end = int(first // RAW_STEP) * RAW_STEP, int(scraper.last // RAW_STEP) * RAW_STEP + RAW_STEP
    stored = scraper.conn.execute(
        "SELECT SUM(cpu_seconds) AS cpu, SUM(memory_byte_seconds) AS memory FROM metrics_samples "
        f"WHERE start >= ? AND start < ? AND endpoint IN ({', '.join('?' for _ in live.names)})",
        [start, end, *live.names]).fetchone()
    scraper.conn.close()
    prices = PriceTable()
    cpu_price, memory_price = float(prices.cpu_per_vcpu_hour), float(prices.memory_per_gib_hour)
    core_seconds = sum(cpu_end[pid] - cpu_start[pid] for pid in cpu_start)
    by_hand = core_seconds / HOUR * cpu_price + memory.byte_seconds / GIB / HOUR * memory_price
    from_rows = stored["cpu"] / HOUR * cpu_price + stored["memory"] / GIB / HOUR * memory_price
    with PlatformContext.open(live.home) as ctx:
        answer = showback(ctx, AllocationParams(window=f"{start},{end}", aggregate="controller", accumulate="true",
                                                idle="false"), prices=prices)
    shown = sum(item["totalCost"] for name, item in answer["data"][0].items() if name in live.names)
    error, arithmetic = abs(shown - by_hand) / by_hand, abs(shown - from_rows) / from_rows
    return [
        (f"cost showback vs hand computation from psutil, {len(live.names)} servers under load, "
         f"{end - start} s window", f"{100 * error:.2f} % off (showback {shown:.6f} USD, by hand {by_hand:.6f} USD; "
         f"CPU {core_seconds:.1f} core-s by hand vs {stored['cpu']:.1f} stored; memory "
         f"{memory.byte_seconds / GIB / HOUR:.4f} GiB-h by hand vs {stored['memory'] / GIB / HOUR:.4f} stored)",
         "within 2 % (issue: a 10-minute window)", error <= SHOWBACK_TOLERANCE),
        ("cost showback vs the same rows summed here", f"{100 * arithmetic:.4f} % off", "within 2 %",
         arithmetic <= SHOWBACK_TOLERANCE),
    ]


# -- the run --------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = ["| measurement | value | target | met? |", "|---|---|---|---|"]
    for name, value, target, met in results:
        verdict = "—" if met is None else ("yes" if met else "**MISS**")
        lines.append(f"| {name} | {value} | {target} | {verdict} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="store,portal,live",
                        help="comma-separated: store (size), portal (pages; needs store), live (scrape CPU, showback)")
    parser.add_argument("--endpoints", type=int, default=100, help="endpoints in the store and the portal")
    parser.add_argument("--compact-every", type=int, default=12, help="records per compaction before the last hour")
    parser.add_argument("--store-bound", type=float, default=70.0,
                        help="the store size stated for issue 12, MiB (covers the page fill of every schedule tried)")
    parser.add_argument("--events", type=int, default=10_000, help="events recorded for the portal")
    parser.add_argument("--pulls", type=int, default=10, help="pull requests opened (every other one merged)")
    parser.add_argument("--gets", type=int, default=50, help="timed GETs per portal page")
    parser.add_argument("--page-budget", type=float, default=15.0, help="seconds of timed GETs per page at most")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="do not py-spy pages that miss")
    parser.add_argument("--profile-seconds", type=int, default=2)
    parser.add_argument("--live-endpoints", type=int, default=10)
    parser.add_argument("--passes", type=int, default=40, help="timed scraper passes")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between timed passes")
    parser.add_argument("--showback-window", type=float, default=60.0,
                        help="seconds of live accounting (the issue's window is 600)")
    args = parser.parse_args()
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    results: list[Result] = []
    notes: list[str] = []
    started = time.perf_counter()
    shm = Path("/dev/shm")  # commits that wait on a shared disk would time the disk; sizes and CPU are the same
    with tempfile.TemporaryDirectory(prefix="neuroscale-observe-bench-", dir=shm if shm.is_dir() else None) as tmp:
        scratch = Path(tmp)
        metrics = scratch / "metrics.db"
        if parts & {"store", "portal"}:
            filled = fill_store(metrics, endpoints=args.endpoints, end=time.time(), every=args.compact_every)
            print(f"store filled in {filled.seconds:.1f} s", flush=True)
            results += store_results(filled, args.endpoints, bound=args.store_bound)
        if "portal" in parts:
            found, profiled = portal_numbers(args, metrics, scratch)
            results += found
            notes += profiled
            print("portal pages timed", flush=True)
        if "live" in parts:
            with live_platform(args.live_endpoints, scratch) as live:
                results += scrape_cost(live, passes=args.passes, pause=args.pause)
                results += showback_accuracy(live, window_s=args.showback_window)
    print()
    print(table(results))
    if notes:
        print("\n" + "\n".join(notes))
    print(f"\nruntime {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
