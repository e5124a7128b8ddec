"""`python -m neuroscale.engine --home HOME`: the long-running reconciler process.

SIGTERM or Ctrl-C stops the loop and leaves the model servers running in their
own sessions, so the next start adopts them and no endpoint goes down. A full
shutdown is `neuroscale.engine.runtime.stop_all(home)`, called by the supervisor.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from neuroscale.db import connect
from neuroscale.engine import subreaper
from neuroscale.engine.backoff import BackoffPolicy
from neuroscale.engine.clock import SystemClock
from neuroscale.engine.lock import acquire
from neuroscale.engine.loop import Reconciler
from neuroscale.engine.runtime import LocalRuntime
from neuroscale.engine.settings import EngineSettings
from neuroscale.engine.store import EngineStore
from neuroscale.errors import NeuroScaleError
from neuroscale.gitops.local_provider import LocalProvider
from neuroscale.gitops.repo import GitRepo
from neuroscale.home import DEFAULT_DOMAIN, DEFAULT_GATEWAY_PORT, Home


def parse_args(argv: list[str] | None) -> EngineSettings:
    parser = argparse.ArgumentParser(prog="python -m neuroscale.engine", description=__doc__)
    parser.add_argument("--home", default=None, help="platform home (default: $NEUROSCALE_HOME or ./.neuroscale)")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="ingress domain for endpoint URLs")
    parser.add_argument("--gateway-port", type=int, default=DEFAULT_GATEWAY_PORT, help="gateway port in URLs")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between polls of main")
    parser.add_argument("--liveness-period", type=float, default=2.0,
                        help="seconds between liveness probes of ready model servers")
    parser.add_argument("--stable-after", type=float, default=BackoffPolicy.stable_after,
                        help="seconds a model server must have been ready for its death to restart it at once "
                             "(earlier deaths count towards a crash-loop back-off)")
    parser.add_argument("--max-previews", type=int, default=EngineSettings.max_previews,
                        help="pull-request previews running at once; beyond it the longest idle one stops")
    parser.add_argument("--no-warm-spares", dest="warm_spares", action="store_false",
                        help="start every model server cold, without a pre-imported spare per format that forks "
                             "them (saves the spares' memory; every start then waits for the imports)")
    parser.add_argument("--shared-runtime", action="store_true",
                        help="serve scikit-learn, XGBoost, LightGBM and ONNX models (HTTP, no custom classes) from "
                             "shared processes of their format, many models each, instead of one server each")
    parser.add_argument("--models-per-process", type=int, default=EngineSettings.models_per_process,
                        help="models one shared process serves at most (with --shared-runtime)")
    parser.add_argument("--heartbeat-interval", type=float, default=1.0,
                        help="seconds between heartbeats; statuses read Unknown after 3 missed ones")
    args = parser.parse_args(argv)
    home = Home.resolve(args.home)
    return EngineSettings(home=home, domain=args.domain, gateway_port=args.gateway_port,
                          interval=max(0.01, args.interval), liveness_period=max(0.05, args.liveness_period),
                          backoff=BackoffPolicy(stable_after=max(0.0, args.stable_after)),
                          model_roots=home.model_roots(), max_previews=max(0, args.max_previews),
                          heartbeat=max(0.05, args.heartbeat_interval), warm_spares=args.warm_spares,
                          shared_runtime=args.shared_runtime, models_per_process=max(1, args.models_per_process))


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe otherwise
    try:
        lock = acquire(settings.home)
    except NeuroScaleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not subreaper.mark():
        logging.getLogger("neuroscale.engine").warning(
            "this kernel refused PR_SET_CHILD_SUBREAPER: servers forked by warm spares are watched through /proc, "
            "so their exit codes are unknown (run with --no-warm-spares to start every server as a child)")
    conn = connect(settings.home.state_db)
    runtime = LocalRuntime(settings.home, model_roots=settings.model_roots, warm_spares=settings.warm_spares,
                           shared_capacity=settings.models_per_process if settings.shared_runtime else 0)
    try:
        repo = GitRepo(settings.home.remote)
        LocalProvider.ensure_schema(conn)
        pulls = LocalProvider(repo, conn)
        reconciler = Reconciler(settings, repo=repo, store=EngineStore(conn), runtime=runtime, clock=SystemClock(),
                                enforcement=runtime.enforcement, pulls=lambda: pulls.list(state="open"))
        logging.getLogger("neuroscale.engine").info("reconciling %s", settings.home.root)
        reconciler.run(stop)
    finally:
        runtime.close()
        conn.close()
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
