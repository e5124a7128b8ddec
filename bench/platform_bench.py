"""Control-plane and data-plane numbers for the embedded platform, rerunnable.

  merge → Ready        : PR merged by the service → Ready condition True → gateway answers [1,1]
  kill → serving again : SIGKILL the model server → gateway answers [1,1] again
  gateway throughput   : ../shared/bench/run_anchors.sh measures the gateway (`--target`) and
                         KServe's own ModelServer (`kserve-v1`) side by side, same wrk settings

Usage: python bench/platform_bench.py [--repeats 5] [--throughput] [--anchor-repeats 2] [--no-warm-spares]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from neuroscale.db import connect
from neuroscale.engine.procfs import serving_processes
from neuroscale.engine.store import StatusStore
from neuroscale.identity.roles import Actor, Role
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.services.endpoints import create_endpoint
from neuroscale.services.pulls import merge_pull_request
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.supervisor.demo import DEMO_INSTANCES, train_iris
from neuroscale.supervisor.settings import PlatformSettings

from live_platform import live_platform

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "run_anchors.sh"
ACTOR = Actor("bench", Role.admin, "bench@neuroscale.local")
BODY = json.dumps({"instances": DEMO_INSTANCES}).encode()


def predicts(gateway: str, name: str) -> bool:
    request = urllib.request.Request(f"{gateway}/v1/models/{name}:predict", data=BODY, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(json.loads(response.read()).get("predictions") == [1, 1])
    except (urllib.error.URLError, OSError, ValueError):
        return False


def is_ready(store: StatusStore, name: str) -> bool:
    status = store.get(name)
    return status is not None and any(c.type == "Ready" and c.status == "True" for c in status.conditions)


def wait(predicate: object, timeout: float = 60.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():  # type: ignore[operator]
            return time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError("condition not reached")


def server_pid(home: Home, name: str) -> int:
    """The model-server process serving `name` (its revisions are named `<name>-predictor-NNNNN`)."""
    for proc in serving_processes(home.root):
        if proc.revision.startswith(f"{name}-predictor-"):
            return proc.pid
    raise LookupError(f"no model server for {name}")


def merge_to_ready(home: Home, settings: PlatformSettings, model: Path, repeats: int) -> tuple[list[float], list[float]]:
    ctx = PlatformContext.open(home)
    store = StatusStore(connect(home.state_db))
    ready, serving = [], []
    for index in range(repeats):
        name = f"bench-iris-{index}"
        spec = EndpointSpec.from_input({"name": name, "owner": "bench", "costCenter": "cc-bench",
                                        "storageUri": model.as_uri()})
        pull = create_endpoint(ctx, spec, actor=ACTOR)
        merge_pull_request(ctx, pull.number, actor=ACTOR)
        started = time.perf_counter()
        wait(lambda: is_ready(store, name))
        ready.append(time.perf_counter() - started)
        wait(lambda: predicts(settings.gateway_url, name))
        serving.append(time.perf_counter() - started)
    ctx.close()
    return ready, serving


def kill_to_serving(home: Home, settings: PlatformSettings, names: list[str]) -> list[float]:
    """One SIGKILL per endpoint: drift self-heal, not the crash-loop back-off repeated kills would earn."""
    samples = []
    for name in names:
        wait(lambda: predicts(settings.gateway_url, name))
        pid = server_pid(home, name)
        os.kill(pid, signal.SIGKILL)
        started = time.perf_counter()
        wait(lambda: not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes()[:64])
        wait(lambda: predicts(settings.gateway_url, name))
        samples.append(time.perf_counter() - started)
    return samples


def describe(label: str, samples: list[float], target: float) -> str:
    median = statistics.median(samples)
    verdict = "meets" if median <= target else "MISSES"
    spread = ", ".join(f"{s:.2f}" for s in samples)
    return f"| {label} | {median:.2f} s | {min(samples):.2f}–{max(samples):.2f} s | ≤ {target:.0f} s ({verdict}) | {spread} |"


def run_throughput(settings: PlatformSettings, supervisor_pid: int, name: str, repeats: int) -> int:
    if not ANCHORS.exists():
        print(f"skipping throughput: {ANCHORS} not found", file=sys.stderr)
        return 2
    command = [
        "bash", str(ANCHORS), "--servers", "kserve-v1,floor-v1", "--port", "9080", "--repeats", str(repeats),
        "--target", f"{settings.gateway_url}/v1/models/{name}:predict", "--target-name", "neuroscale-gateway",
        "--target-pid", str(supervisor_pid),
    ]
    print("$ " + " ".join(command), flush=True)
    return subprocess.call(command)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--throughput", action="store_true", help="also run the wrk comparison (minutes)")
    parser.add_argument("--anchor-repeats", type=int, default=2)
    parser.add_argument("--no-warm-spares", dest="warm_spares", action="store_false",
                        help="start every model server cold (the comparison for warm spares)")
    args = parser.parse_args()

    settings = PlatformSettings(portal_port=9010, gateway_port=9000, warm_spares=args.warm_spares)
    with live_platform(settings) as home:
        model = train_iris(home.models_dir / "bench-iris")  # under the default model root
        ready, serving = merge_to_ready(home, settings, model, args.repeats)
        healed = kill_to_serving(home, settings, [f"bench-iris-{i}" for i in range(args.repeats)])
        print("\n| measurement | median | range | target | samples |\n|---|---|---|---|---|")
        print(describe("merge → Ready", ready, 1))
        print(describe("merge → first prediction through the gateway", serving, 1))
        print(describe("SIGKILL model server → serving again", healed, 2))
        if args.throughput:
            return run_throughput(settings, os.getpid(), "bench-iris-0", args.anchor_repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
