"""Names and latency buckets of the gateway's Prometheus metrics, shared by exporter and scraper.

One definition, so the scraper can never look for a series the gateway stopped
exporting, and the store's histogram columns are the gateway's buckets.
Buckets follow Knative's request-latency histogram in spirit: fine below 100 ms,
where predictions live, coarse up to the one-minute upstream timeout.
"""

from __future__ import annotations

PREFIX = "neuroscale_gateway"
REQUESTS = f"{PREFIX}_requests"  # counter {endpoint, revision, code}
DURATION = f"{PREFIX}_request_duration_seconds"  # histogram {endpoint, revision}
IN_FLIGHT = f"{PREFIX}_requests_in_flight"  # gauge {endpoint, revision}
QUEUED = f"{PREFIX}_requests_queued"  # gauge {endpoint, revision}
COLD_STARTS = f"{PREFIX}_cold_starts"  # counter {endpoint, revision}
REPLICAS = f"{PREFIX}_replicas"  # gauge {endpoint, revision}
UNROUTED = f"{PREFIX}_unrouted_requests"  # counter {code}
SHADOW = f"{PREFIX}_shadow_requests"  # counter {endpoint, revision, outcome}: agree|disagree|error|skipped
#: gauge {endpoint, revision, side: serving|shadow, quantile: 0.5|0.99} over the last compared copies
SHADOW_LATENCY = f"{PREFIX}_shadow_latency_seconds"

#: Upper bounds (seconds) of the latency histogram; a last, implicit bucket is +Inf.
LATENCY_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                      10.0, 30.0, 60.0)
