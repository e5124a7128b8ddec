"""Tunables of the reconciler, in one frozen object passed explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from neuroscale.engine.backoff import BackoffPolicy
from neuroscale.policy.bundled import BundledOptions, model_root_policy
from neuroscale.home import DEFAULT_DOMAIN, DEFAULT_GATEWAY_PORT, Home


@dataclass(frozen=True)
class EngineSettings:
    home: Home
    domain: str = DEFAULT_DOMAIN
    gateway_port: int = DEFAULT_GATEWAY_PORT
    interval: float = 0.2  # seconds between polls of main (cheap: one ref lookup)
    tick: float = 0.05  # seconds between process checks and start-up probes
    drain_grace: float = 0.5  # old revision keeps running this long after traffic moved
    max_drain: float = 10.0  # ... and at most this long when the gateway does not confirm the move
    stop_grace: float = 5.0  # SIGTERM → SIGKILL
    startup_timeout: float = 60.0  # a revision not ready by then is killed and counted as a failure
    #: Model servers starting at once, all endpoints together: a merge of hundreds of endpoints starts them
    #: a few at a time instead of making every one load (and every tick wait) at once
    max_starting: int = field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)))
    liveness_period: float = 2.0  # seconds between liveness probes of ready servers
    probe_rate: float = 50.0  # liveness probes a second at most, all servers together: many servers stretch the period
    liveness_failures: int = 3  # consecutive failed probes before a hung server is killed (and restarted)
    memory_period: float = 0.2  # seconds between samples of a server's resident memory (the OOM watchdog)
    memory_rate: float = 250.0  # memory samples a second at most, all servers together (as `probe_rate`)
    #: seconds between the autoscaler's decisions for one revision (Knative's tick is 2 s): deciding every tick was
    #: the engine's largest idle cost with hundreds of endpoints; requests held at the gateway are decided at once
    autoscale_period: float = 0.25
    max_replicas: int = 4  # replicas per revision when maxReplicas is 0 (Knative: unbounded)
    max_previews: int = 3  # pull-request previews running at once (`engine.previews`)
    warm_spares: bool = True  # keep a pre-imported model server per kind in play (`engine.spares`)
    shared_runtime: bool = False  # load shareable models into shared processes of their kind (`engine.shared`)
    models_per_process: int = 100  # ... at most this many per shared process
    heartbeat: float = 1.0  # seconds between heartbeats; statuses read Unknown after 3 missed ones
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    #: Where local model files may come from (`Home.model_roots()`): passed to every model server,
    #: and what admission's local-path policy is given.
    model_roots: tuple[Path, ...] = ()

    @property
    def admission(self) -> BundledOptions:
        """The bundled policies as this platform admits with them: local models only under its roots."""
        return model_root_policy(self.model_roots)
