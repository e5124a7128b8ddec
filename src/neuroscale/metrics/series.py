"""Chart series from stored rows: request rate, error rate, latency percentiles, replicas, CPU, memory.

Percentiles come from summed histogram buckets with linear interpolation
inside the bucket, as Prometheus's `histogram_quantile` does, so a point over
an hour is the hour's p99, not an average of per-scrape p99s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neuroscale.metrics.names import LATENCY_BUCKETS
from neuroscale.metrics.store import Row, Usage


def quantile(q: float, buckets: Sequence[int]) -> float | None:
    """The q-quantile (seconds) of per-bucket counts over `LATENCY_BUCKETS` (+Inf last); None without data."""
    total = sum(buckets)
    if total <= 0:
        return None
    rank = q * total
    running = 0
    for index, count in enumerate(buckets):
        if running + count >= rank and count > 0:
            if index >= len(LATENCY_BUCKETS):  # the +Inf bucket: the highest finite bound, as Prometheus
                return LATENCY_BUCKETS[-1]
            lower = LATENCY_BUCKETS[index - 1] if index else 0.0
            return lower + (LATENCY_BUCKETS[index] - lower) * ((rank - running) / count)
        running += count
    return LATENCY_BUCKETS[-1]


@dataclass(frozen=True)
class Point:
    at: float  # start of the interval (epoch seconds)
    requests_per_s: float
    error_ratio: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    replicas: float
    cpu_cores: float
    memory_bytes: float


def points(rows: Sequence[Row], *, start: float, end: float, step: float) -> list[Point]:
    """One point per `step` seconds from `start` to `end`, each summing the rows that start inside it."""
    count = max(int((end - start) // step), 1)
    sums = [Usage() for _ in range(count)]
    for row in rows:
        index = int((row.start - start) // step)
        if 0 <= index < count:
            sums[index].add(row.usage)
    out = []
    for index, used in enumerate(sums):
        observed = used.seconds or 0.0
        per_s = (lambda value: value / observed) if observed else (lambda value: 0.0)
        out.append(Point(
            at=start + index * step,
            requests_per_s=per_s(used.requests),
            error_ratio=used.errors / used.requests if used.requests else None,
            p50=quantile(0.5, used.buckets), p95=quantile(0.95, used.buckets), p99=quantile(0.99, used.buckets),
            replicas=per_s(used.replica_seconds), cpu_cores=per_s(used.cpu_seconds),
            memory_bytes=per_s(used.memory_byte_seconds)))
    return out
