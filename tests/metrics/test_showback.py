"""Store, series and showback: table-driven arithmetic, then cost checked against the kernel's process accounting
of a real model server under load."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from neuroscale.cost.prices import PriceTable
from neuroscale.cost.showback import IDLE, Owner, Query, Sample, allocate, parse_aggregate
from neuroscale.cost.window import Window, parse_window
from neuroscale.db import connect
from neuroscale.engine.procfs import start_time
from neuroscale.engine.revisions import RevisionRecord, SpecDigest
from neuroscale.engine.store import EngineStore
from neuroscale.errors import InvalidInput
from neuroscale.metrics.scrape import Scraper
from neuroscale.metrics.series import quantile
from neuroscale.metrics.store import RAW_STEP, MetricsStore, Usage
from neuroscale.spec.serving import Resources, ServingSpec
from tests.conftest import IRIS_ROWS

HOUR = 3600.0


def usage(**values: Any) -> Usage:
    return Usage(**values)


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("24h", 86400), ("7d", 7 * 86400),
                                                ("1700000000,1700003600", 3600),
                                                ("2024-01-01T00:00:00Z,2024-01-02T00:00:00Z", 86400)])
def test_windows_as_opencost_writes_them(text: str, seconds: float) -> None:
    assert parse_window(text, now=1_800_000_000).seconds == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "2024-01-02T00:00:00Z,2024-01-01T00:00:00Z", "a,b"])
def test_bad_windows_are_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_window(text, now=1_800_000_000)
    assert "30m" in (error.value.fix or "")


def test_today_starts_at_utc_midnight() -> None:
    window = parse_window("today", now=1_700_000_000)  # 2023-11-14T22:13:20Z
    assert window.start == 1_699_920_000 and window.end == 1_700_000_000


def test_aggregate_keys_are_checked() -> None:
    assert parse_aggregate("namespace,label:cost-center") == ("namespace", "label:cost-center")
    with pytest.raises(InvalidInput):
        parse_aggregate("pods")


def test_quantiles_interpolate_inside_the_bucket_like_histogram_quantile() -> None:
    buckets = [0] * 16
    buckets[4] = 100  # all in (0.01, 0.025]
    assert quantile(0.5, buckets) == pytest.approx(0.0175)
    assert quantile(0.5, [0] * 16) is None


def test_showback_splits_use_from_idle_and_prices_them() -> None:
    prices = PriceTable()
    window = Window(0, HOUR)
    owners = {"a": Owner("default", {"cost-center": "cc-1"}), "b": Owner("default", {"cost-center": "cc-1"}),
              "c": Owner("default", {})}
    samples = [
        Sample("a", 0, usage(seconds=HOUR, cpu_seconds=0.25 * HOUR, cpu_request_core_seconds=1.0 * HOUR,
                             memory_byte_seconds=2**30 * HOUR, memory_request_byte_seconds=2**31 * HOUR)),
        Sample("b", 60, usage(seconds=HOUR, cpu_seconds=0.75 * HOUR, cpu_request_core_seconds=0.5 * HOUR)),
        Sample("c", 120, usage(seconds=HOUR, cpu_seconds=0.1 * HOUR)),
        Sample("a", HOUR, usage(seconds=10, cpu_seconds=99.0)),  # outside the window
    ]
    [result] = allocate(samples, owners, Query(window, aggregate=("label:cost-center",), accumulate=True), prices)
    cc1 = result["cc-1"]
    assert cc1["cpuCoreHours"] == pytest.approx(1.0)
    assert cc1["cpuCost"] == pytest.approx(float(prices.cpu_per_vcpu_hour))
    assert cc1["ramCost"] == pytest.approx(float(prices.memory_per_gib_hour))
    assert cc1["cpuEfficiency"] == pytest.approx(1.0 / 1.5)
    assert result["__unallocated__"]["cpuCoreHours"] == pytest.approx(0.1)
    idle = result[IDLE]  # a's 0.75 unused core and 1 GiB; b used more than it asked, which is not negative idle
    assert idle["cpuCoreHours"] == pytest.approx(0.75)
    assert idle["ramByteHours"] == pytest.approx(2**30)
    shared = allocate(samples, owners, Query(window, aggregate=("controller",), accumulate=True,
                                             share_idle=True), prices)[0]
    assert IDLE not in shared
    assert shared["a"]["cpuCoreHours"] == pytest.approx(1.0)  # max(request, usage), as OpenCost bills
    steps = allocate(samples, owners, Query(window, step=1800), prices)
    assert len(steps) == 2 and steps[0]["a"]["window"]["end"] == "1970-01-01T00:30:00Z"


def test_rows_merge_exactly_into_coarser_tiers_and_expire(tmp_path: Path) -> None:
    store = MetricsStore(connect(tmp_path / "state.db"))
    now = 10 * 86400.0
    for offset in range(0, 7200, RAW_STEP):  # two hours of raw rows
        buckets = [0] * 16
        buckets[2] = 1
        store.record(now - 7200 + offset, {"a": usage(seconds=10, requests=1, cpu_seconds=0.5, buckets=buckets,
                                                       memory_max=float(offset))})
    before = store.rows(start=0, end=now + 1)
    store.compact(now)
    after = store.rows(start=0, end=now + 1)
    assert len(after) < len(before)
    total = Usage()
    for row in after:
        total.add(row.usage)
    assert (total.requests, total.cpu_seconds, total.buckets[2]) == (720, 360.0, 720)
    assert total.memory_max == 7190.0
    store.compact(now + 8 * 86400)
    assert store.rows(start=0, end=now + 1) == []


@pytest.mark.parametrize(("start", "step", "accumulate"), [(1000.0, None, True), (1000.5, 3600.0, False),
                                                             (4321.0, 1800.0, False)])
def test_totals_the_database_adds_allocate_as_the_rows_themselves(tmp_path: Path, start: float, step: float | None,
                                                                    accumulate: bool) -> None:
    store = MetricsStore(connect(tmp_path / "state.db"))
    for index, at in enumerate(range(0, 4 * 3600, RAW_STEP)):
        store.record(float(at), {name: usage(seconds=10, cpu_seconds=0.01 * (index % 7 + k),
                                             cpu_request_core_seconds=0.5 * k, memory_byte_seconds=1e6 * (index % 5),
                                             memory_request_byte_seconds=4e6, memory_max=float(index % 11))
                                 for k, name in enumerate(("a", "b", "c"), start=1)})
    query = Query(Window(start, 4 * 3600 - 7.0), aggregate=("controller",), step=step, accumulate=accumulate)
    owners = {name: Owner("default", {}) for name in "abc"}
    by_row = allocate([Sample(r.endpoint, r.start, r.usage) for r in store.rows(start=start, end=query.window.end)],
                      owners, query, PriceTable())
    by_total = allocate([Sample(r.endpoint, r.start, r.usage)
                         for r in store.resource_totals(start=start, end=query.window.end, every=None if accumulate else step)],
                        owners, query, PriceTable())
    assert len(by_total) == len(by_row) > 0 and all(by_row)
    assert _close(by_total, by_row)


def _close(left: Any, right: Any) -> bool:
    """Equal but for float rounding (sums in SQLite and in Python add in different orders)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_close(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_close(a, b) for a, b in zip(left, right))
    if isinstance(left, float) or isinstance(right, float):
        return bool(left == pytest.approx(right, rel=1e-9, abs=1e-9))
    return bool(left == right)


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_cost_matches_the_kernels_accounting_of_a_real_server_under_load(tmp_path: Path, iris_server: Any) -> None:
    port, process = iris_server
    conn = connect(tmp_path / "state.db")
    engine = EngineStore(conn)
    spec = ServingSpec(name="iris", owner="team-ml", cost_center="cc-42", model_format="sklearn",
                       storage_uri="file:///m", resources=Resources(cpu_request="500m", memory_request="256Mi"))
    record = RevisionRecord("iris", 1, SpecDigest("d1"))
    engine.add_revision(record, spec=spec, created_at="2024-01-01T00:00:00Z")
    engine.add_process(pid=process.pid, endpoint="iris", revision=record.name, port=port,
                       start_time=start_time(process.pid) or 0, started_at="2024-01-01T00:00:00Z")
    scraper = Scraper(conn, None)
    scraper.scrape_once()
    cpu_before, started = _cpu_seconds(process.pid), time.time()
    body = json.dumps({"instances": IRIS_ROWS * 50}).encode()
    stop = time.monotonic() + 4.0

    def load() -> None:
        while time.monotonic() < stop:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/iris:predict", data=body)
            urllib.request.urlopen(request, timeout=10).read()

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    scraper.scrape_once()
    cpu_after, ended, rss = _cpu_seconds(process.pid), time.time(), _rss(process.pid)
    hand_cpu = cpu_after - cpu_before
    assert hand_cpu > 1.0, "the load did not keep the server busy"
    prices = PriceTable()
    [result] = allocate([Sample(r.endpoint, r.start, r.usage) for r in MetricsStore(conn).rows(start=0, end=ended + 60)],
                        {"iris": Owner("default", {"cost-center": "cc-42"})},
                        Query(Window(0, ended + 60), aggregate=("label:cost-center",), accumulate=True), prices)
    measured = result["cc-42"]
    hand_cpu_cost = hand_cpu / HOUR * float(prices.cpu_per_vcpu_hour)
    assert measured["cpuCost"] == pytest.approx(hand_cpu_cost, rel=0.02)
    hand_ram_byte_hours = rss * (ended - started) / HOUR
    assert measured["ramByteHours"] == pytest.approx(hand_ram_byte_hours, rel=0.02)
    assert result[IDLE]["cpuCoreHours"] == pytest.approx(max(0.5 * (ended - started) - hand_cpu, 0) / HOUR, rel=0.02,
                                                         abs=1e-6)
