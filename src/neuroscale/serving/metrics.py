"""Prometheus metrics of one model server: request count and latency per model, protocol and status.

A private `CollectorRegistry` per app keeps apps independent (no import-time global state).
Label children for the success path are bound once, so the hot path only calls inc()/observe().
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

Recorder = Callable[[int, float], None]
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()


class ServingMetrics:
    def __init__(self, *, model: str) -> None:
        self.model = model
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "neuroscale_model_requests",
            "Inference requests by model, protocol and HTTP status.",
            ["model", "protocol", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "neuroscale_model_request_duration_seconds",
            "Inference request latency inside the server, by model, protocol and HTTP status.",
            ["model", "protocol", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    def recorder(self, protocol: str) -> Recorder:
        """A function recording one request of `protocol` (e.g. "v1") with its status and seconds."""
        ok_count = self.requests.labels(self.model, protocol, "200")
        ok_latency = self.latency.labels(self.model, protocol, "200")

        def record(status: int, seconds: float) -> None:
            if status == 200:
                ok_count.inc()
                ok_latency.observe(seconds)
            else:
                self.requests.labels(self.model, protocol, str(status)).inc()
                self.latency.labels(self.model, protocol, str(status)).observe(seconds)

        return record

    def render(self) -> bytes:
        return generate_latest(self.registry)
