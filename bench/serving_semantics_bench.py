"""KServe's serving semantics on the embedded platform, measured (issue "One InferenceService, one meaning").

  canary split        : 10,000 requests through the gateway at canaryTrafficPercent 20 → share to the canary
  scale from zero     : minReplicas 0, idle until no process runs, then one request → first answer (median of 5)
  autoscaling         : wrk -c32 against min 1 / max 2 → seconds until the second replica serves;
                        wrk throughput with 1 and with 2 replicas
  canary cycles       : 20 × (canary 20 % → promote → roll back) under steady load → failed requests

The whole platform runs as `neuroscale up` runs it (supervisor, reconciler, gateway, model servers);
manifests are committed straight to main, as a merged pull request would. Numbers go to RESULTS.md.

Usage: python bench/serving_semantics_bench.py [--requests 10000] [--cycles 20]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from neuroscale.db import connect
from neuroscale.engine.procfs import serving_processes
from neuroscale.engine.store import StatusStore
from neuroscale.gitops.repo import MAIN, Author, GitRepo
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.supervisor.demo import DEMO_INSTANCES, train_iris
from neuroscale.supervisor.platform import Platform
from neuroscale.supervisor.settings import PlatformSettings
from neuroscale.yamlio import dump

AUTHOR = Author(name="bench", email="bench@neuroscale.local")
LUA = Path(__file__).resolve().parents[2] / "shared" / "bench" / "lua" / "post_v1.lua"
BODY = {"instances": DEMO_INSTANCES}


def wait(predicate: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition") -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():
            return time.perf_counter() - started
        time.sleep(0.01)
    raise TimeoutError(what)


class Bench:
    def __init__(self, home: Home, settings: PlatformSettings, models: dict[str, Path]) -> None:
        self.home = home
        self.settings = settings
        self.models = models
        self.repo = GitRepo(home.remote)
        self.store = StatusStore(connect(home.state_db))
        self.client = httpx.Client(base_url=settings.gateway_url, timeout=60)

    def deploy(self, name: str, model: str, *, annotations: dict[str, str] | None = None, **predictor: Any) -> None:
        manifest = to_manifest(EndpointSpec.from_input({
            "name": name, "owner": "bench", "costCenter": "cc-bench", "storageUri": str(self.models[model]),
            "maxReplicas": 4}))
        manifest["spec"]["predictor"].update(predictor)
        if annotations:
            manifest["metadata"]["annotations"] = annotations
        self.repo.commit(branch=MAIN, files={manifest_path(name): dump(manifest).encode()}, message=f"{name}",
                         author=AUTHOR)

    def traffic(self, name: str) -> dict[str, int]:
        status = self.store.get(name)
        return {t.revision: t.percent for t in status.traffic if t.percent} if status else {}

    def ready_replicas(self, name: str) -> int:
        status = self.store.get(name)
        return int(status.replicas.get("ready", 0)) if status else 0

    def processes(self, name: str) -> int:
        return sum(1 for p in serving_processes(self.home.root) if p.revision.startswith(f"{name}-predictor-"))

    def predict(self, name: str) -> httpx.Response:
        return self.client.post(f"/v1/models/{name}:predict", json=BODY)

    def answer(self, name: str) -> list[int] | None:
        try:
            response = self.predict(name)
        except httpx.HTTPError:
            return None
        return response.json().get("predictions") if response.status_code == 200 else None


def canary_split(bench: Bench, requests: int) -> str:
    bench.deploy("split", "iris")
    wait(lambda: bench.answer("split") == [1, 1], what="split serves")
    bench.deploy("split", "constant", canaryTrafficPercent=20)
    wait(lambda: sorted(bench.traffic("split").values()) == [20, 80], what="20/80 split")
    wait(lambda: bench.answer("split") == [0, 0], what="the gateway routes to the canary")
    answers = Counter(tuple(bench.answer("split") or ()) for _ in range(requests))
    share = 100 * answers[(0, 0)] / requests
    return (f"| canary split at 20 % | {share:.2f} % of {requests:,} requests to the canary | "
            f"20 ± 1.5 % ({'meets' if abs(share - 20) <= 1.5 else 'MISSES'}) | failed: {requests - sum(answers[a] for a in ((0, 0), (1, 1)))} |")


def scale_from_zero(bench: Bench, repeats: int) -> str:
    bench.deploy("zero", "iris", minReplicas=0, annotations={"autoscaling.knative.dev/window": "2s"})
    wait(lambda: bench.answer("zero") == [1, 1], what="zero serves")
    samples = []
    for _ in range(repeats):
        wait(lambda: bench.processes("zero") == 0, timeout=60, what="scaled to zero")
        started = time.perf_counter()
        assert bench.answer("zero") == [1, 1]
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples)
    spread = ", ".join(f"{s:.2f}" for s in samples)
    return (f"| scale from zero, first answer | median {median:.2f} s ({spread}) | ≤ 1.5 s "
            f"({'meets' if median <= 1.5 else 'MISSES'}) | |")


def wrk(url: str, *, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
            "non_2xx": float(errors.group(1)) if errors else 0.0}


def autoscaling(bench: Bench) -> list[str]:
    url = f"{bench.settings.gateway_url}/v1/models/auto:predict"
    bench.deploy("auto", "iris", minReplicas=1, maxReplicas=2, scaleTarget=10,
                 annotations={"autoscaling.knative.dev/window": "6s"})
    wait(lambda: bench.answer("auto") == [1, 1], what="auto serves")
    wait(lambda: bench.ready_replicas("auto") == 1, what="one replica")
    result: dict[str, float] = {}
    load = threading.Thread(target=lambda: result.update(wrk(url, seconds=12, connections=32)))
    load.start()
    second = wait(lambda: bench.ready_replicas("auto") == 2, timeout=12, what="second replica serving")
    load.join()
    rows = [f"| wrk -c32: second replica serving after | {second:.2f} s | ≤ 3 s "
            f"({'meets' if second <= 3 else 'MISSES'}) | non-2xx during scale-up: {result['non_2xx']:.0f} |"]
    for replicas in (1, 2):
        bench.deploy("auto", "iris", minReplicas=replicas, maxReplicas=replicas)
        wait(lambda: bench.ready_replicas("auto") == replicas and bench.processes("auto") == replicas, timeout=60,
             what=f"{replicas} replicas")
        numbers = wrk(url, seconds=10, connections=32)
        rows.append(f"| wrk -c32 throughput, {replicas} replica{'s' if replicas > 1 else ''} | "
                    f"{numbers['rps']:,.0f} RPS, p99 {numbers['p99_ms']:.1f} ms | reported | "
                    f"non-2xx: {numbers['non_2xx']:.0f} |")
    return rows


def canary_cycles(bench: Bench, cycles: int) -> str:
    bench.deploy("cycle", "iris")
    wait(lambda: bench.answer("cycle") == [1, 1], what="cycle serves")
    stop = threading.Event()
    outcomes: Counter[str] = Counter()

    def steady() -> None:
        with httpx.Client(base_url=bench.settings.gateway_url, timeout=60) as client:
            while not stop.is_set():
                try:
                    code = client.post("/v1/models/cycle:predict", json=BODY).status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__  # type: ignore[assignment]
                outcomes[str(code)] += 1

    workers = [threading.Thread(target=steady) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(cycles):
            bench.deploy("cycle", "constant", canaryTrafficPercent=20)
            wait(lambda: sorted(bench.traffic("cycle").values()) == [20, 80], what="canary")
            bench.deploy("cycle", "constant")
            wait(lambda: list(bench.traffic("cycle").values()) == [100] and bench.answer("cycle") == [0, 0],
                 what="promoted")
            bench.deploy("cycle", "iris")
            wait(lambda: bench.answer("cycle") == [1, 1] and list(bench.traffic("cycle").values()) == [100],
                 what="rolled back")
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    failed = sum(count for code, count in outcomes.items() if code != "200")
    return (f"| {cycles} canary → promote → rollback cycles under load | {failed} failed of "
            f"{sum(outcomes.values()):,} requests | 0 ({'meets' if failed == 0 else 'MISSES'}) | "
            f"{dict(outcomes)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--zero-repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neuroscale-bench-") as tmp:
        home = Home.resolve(Path(tmp) / "home")
        PlatformContext.open(home, create=True).close()
        settings = PlatformSettings(portal_port=9110, gateway_port=9100)
        models = {"iris": train_iris(home.root / "models" / "iris"),
                  "constant": train_constant(home.root / "models" / "constant")}
        platform = Platform(home=home, settings=settings)
        platform.start()
        bench = Bench(home, settings, models)
        try:
            rows = [canary_split(bench, args.requests), scale_from_zero(bench, args.zero_repeats),
                    *autoscaling(bench), canary_cycles(bench, args.cycles)]
        finally:
            platform.stop()
    print("\n| measurement | result | target | notes |\n|---|---|---|---|")
    print("\n".join(rows))
    return 0


def train_constant(directory: Path) -> Path:
    """A classifier that always answers 0: the canary, told apart from iris by its answers."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.dummy import DummyClassifier

    directory.mkdir(parents=True, exist_ok=True)
    data = load_iris()
    path = directory / "model.joblib"
    joblib.dump(DummyClassifier(strategy="constant", constant=0).fit(data.data, data.target), path)
    return path


if __name__ == "__main__":
    sys.exit(main())
