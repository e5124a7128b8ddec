"""The gateway's Prometheus metrics, counted in plain Python on the hot path and rendered on scrape.

Per endpoint and revision: requests by status code, a latency histogram,
requests in flight and queued (waiting for a replica), cold starts (requests
that waited for a revision with no replica) and the replicas routed to.

Why not prometheus-client's `Counter`/`Histogram` on the hot path: each
`labels(...)` lookup and `observe` takes a lock and walks label tuples; here a
request costs one dict lookup, a `bisect` and three integer additions. The
exposition format is produced only when someone scrapes, by a custom collector
(prometheus-client's documented API), so the text format stays the library's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Any
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from neuroscale.gateway.balancer import Balancer
from neuroscale.gateway.shadow import SHADOW_OUTCOMES
from neuroscale.metrics import names

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()
_BOUNDS = names.LATENCY_BUCKETS


@dataclass(slots=True)
class Counts:
    """One revision's request counters: per status code, per latency bucket (non-cumulative), seconds."""

    codes: dict[int, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(_BOUNDS) + 1))
    seconds: float = 0.0
    cold_starts: int = 0


class GatewayMetrics:
    """Counters the proxy bumps, and the collector that renders them with the balancer's gauges."""

    def __init__(self, balancer: Balancer, shadow: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.balancer = balancer
        self.shadow = shadow if shadow is not None else {}
        self.revisions: dict[tuple[str, str], Counts] = {}
        self.unrouted: dict[int, int] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # a collector is anything with collect()

    def counts(self, endpoint: str, revision: str) -> Counts:
        found = self.revisions.get((endpoint, revision))
        if found is None:
            found = self.revisions[(endpoint, revision)] = Counts()
        return found

    def observe(self, counts: Counts, status: int, seconds: float) -> None:
        """One answered request of a revision (hot path: no locks, no allocation after the first)."""
        codes = counts.codes
        codes[status] = codes.get(status, 0) + 1
        counts.buckets[bisect_left(_BOUNDS, seconds)] += 1
        counts.seconds += seconds

    def refused(self, status: int) -> None:
        """A request no revision served (unknown model or Host, endpoint not ready, ...)."""
        self.unrouted[status] = self.unrouted.get(status, 0) + 1

    def forget_gone(self) -> None:
        """Drop counters of revisions no longer routed (their series end, as a removed pod's do)."""
        live = self.balancer.pools
        for key in [key for key in self.revisions if key[1] not in live]:
            del self.revisions[key]

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        labels = ["endpoint", "revision"]
        requests = CounterMetricFamily(names.REQUESTS, "Requests answered, by endpoint, revision and HTTP status.",
                                       labels=[*labels, "code"])
        duration = HistogramMetricFamily(names.DURATION, "Seconds from a request's arrival at the gateway to its "
                                         "answer (waiting for a replica included).", labels=labels)
        cold = CounterMetricFamily(names.COLD_STARTS, "Requests that waited for a revision with no replica "
                                   "(scale from zero, restart).", labels=labels)
        in_flight = GaugeMetricFamily(names.IN_FLIGHT, "Requests being answered by a replica now.", labels=labels)
        queued = GaugeMetricFamily(names.QUEUED, "Requests waiting for a replica now.", labels=labels)
        replicas = GaugeMetricFamily(names.REPLICAS, "Replicas the gateway routes to.", labels=labels)
        for (endpoint, revision), counts in sorted(self.revisions.items()):
            values = [endpoint, revision]
            for code, number in sorted(counts.codes.items()):
                requests.add_metric([*values, str(code)], number)
            cumulative, running = [], 0
            for bound, number in zip((*(repr(b) for b in _BOUNDS), "+Inf"), counts.buckets):
                running += number
                cumulative.append((bound, running))
            duration.add_metric(values, cumulative, counts.seconds)
            cold.add_metric(values, counts.cold_starts)
        for endpoint, split in sorted(self.balancer.splits.items()):
            for revision, _share in split.shares:
                pool = self.balancer.pools.get(revision)
                if pool is None:
                    continue
                waiting = pool.waiting
                in_flight.add_metric([endpoint, revision], pool.active - waiting)
                queued.add_metric([endpoint, revision], waiting)
                replicas.add_metric([endpoint, revision], len(pool.replicas))
        unrouted = CounterMetricFamily(names.UNROUTED, "Requests no revision served, by HTTP status.",
                                       labels=["code"])
        for code, number in sorted(self.unrouted.items()):
            unrouted.add_metric([str(code)], number)
        shadow = CounterMetricFamily(names.SHADOW, "Copies of live requests sent to a shadow revision, by outcome "
                                     "(agree, disagree, error, skipped).", labels=[*labels, "outcome"])
        for endpoint, stats in sorted(self.shadow.items()):
            for outcome in SHADOW_OUTCOMES:
                shadow.add_metric([endpoint, stats["revision"], outcome], stats[outcome])
        yield from (requests, duration, cold, in_flight, queued, replicas, unrouted, shadow,
                    self._shadow_latency(labels))

    def _shadow_latency(self, labels: list[str]) -> Metric:
        latency = GaugeMetricFamily(names.SHADOW_LATENCY, "Latency of the serving revision and of its shadow on the "
                                    "same requests, by side and quantile: recent copies sent to the shadow alone (one "
                                    "in 16, and every copy that cannot be batched; the others go in batches).",
                                    labels=[*labels, "side", "quantile"])
        for endpoint, stats in sorted(self.shadow.items()):
            for side, key in (("serving", "primary_ms"), ("shadow", "shadow_ms")):
                for quantile, name in (("0.5", "p50"), ("0.99", "p99")):
                    if stats[key]:
                        latency.add_metric([endpoint, stats["revision"], side, quantile], stats[key][name] / 1000)
        return latency
