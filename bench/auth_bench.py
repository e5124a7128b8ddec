"""What API keys cost at the gateway: iris V1 predict through three gateways, in one run, alternating.

  python bench/auth_bench.py [--rounds 2] [--duration 10] [--connections 16] [--baseline main]

One model server (iris, 2 rows per request) sits behind three gateway processes:

  * `main`: the gateway as it is on the baseline ref (`git archive`, run from a temporary copy),
    the route without auth — what every endpoint paid before API keys existed;
  * `no auth`: this tree's gateway, the same route without auth — the one extra test on the hot path;
  * `auth + key`: this tree's gateway, the route with `auth: true`, every request carrying a valid
    key (`-H "Authorization: Bearer …"`, made by the real key store and published the real way).

Each configuration gets `wrk -t1 -c16 -d10s` (after a 2 s warm-up), and the three take turns for
`--rounds` rounds, so drift on a shared machine hits all of them alike. The targets (issue 9): no
auth adds at most 5 % to p50 over `main`, auth with a key at most 10 %. Printed as a markdown
table, with the in-process cost of one key check (`timeit`), which the machine's noise cannot hide;
nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import timeit
import urllib.error
import urllib.request
from pathlib import Path

from dataplane_bench import LUA, Server, wrk

from neuroscale.db import connect
from neuroscale.engine.routes import RouteEntry, RoutesWriter, TrafficEntry
from neuroscale.gateway.api_keys import KeyRing, admitted_headers
from neuroscale.home import Home
from neuroscale.identity.api_keys import ApiKeyStore
from neuroscale.ports import free_port
from neuroscale.supervisor.demo import train_iris

HERE = Path(__file__).resolve().parent
PATH = "/v1/models/iris:predict"
TARGETS = {"no auth": 5.0, "auth + key": 10.0}


def baseline_tree(ref: str, into: Path) -> tuple[Path, str] | None:
    """The baseline's `src/` unpacked under `into` and its commit, or None when git cannot give it."""
    repo = HERE.parent
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", ref], capture_output=True, text=True)
    if commit.returncode != 0:
        print(f"no baseline: {commit.stderr.strip()}", file=sys.stderr)
        return None
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src", commit.stdout.strip()


def gateway_home(root: Path, *, upstream: int, auth: bool) -> Home:
    """A home with the iris route (and, with `auth`, its keys file) written by the real writers."""
    home = Home(root)
    route = RouteEntry("iris", "default", True, (TrafficEntry("iris-predictor-00001", 100, (f"127.0.0.1:{upstream}",)),),
                       auth="iris" if auth else "")
    RoutesWriter(home.routes_file, domain="localhost").write([route])
    return home


def make_key(home: Home) -> str:
    db = connect(home.state_db)
    store = ApiKeyStore(db)
    _, key = store.add("iris", description="auth bench", created_by="bench")
    store.publish(home.api_keys_file)
    db.close()
    return key


def answers(port: int, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{PATH}", method="POST", headers=headers,
                                     data=b'{"instances":[[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]]}')
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def check_cost_us(home: Home, key: str) -> float:
    """Microseconds one admitted request spends in the key check, with the headers wrk sends."""
    ring = KeyRing(home.api_keys_file)
    ring.refresh()
    headers = [(b"Host", b"127.0.0.1:8080"), (b"Content-Type", b"application/json"), (b"Content-Length", b"52"),
               (b"Authorization", f"Bearer {key}".encode())]
    if admitted_headers(ring, "iris", headers) is None:
        sys.exit("the key check refuses the bench's own key; nothing measured")
    calls = 100_000
    return min(timeit.repeat(lambda: admitted_headers(ring, "iris", headers), number=calls, repeat=5)) / calls * 1e6


def start_gateway(home: Home, *, pythonpath: Path | None) -> tuple[Server, int]:
    port = free_port()
    env = {"PYTHONPATH": str(pythonpath)} if pythonpath else {}
    argv = [sys.executable, "-m", "neuroscale.gateway", "--home", str(home.root), "--port", str(port), "--grpc-port", "0"]
    return Server(argv, health=f"http://127.0.0.1:{port}/v2/health/ready", env=env), port


def table(results: dict[str, list[dict[str, float]]], *, connections: int, baseline: str) -> str:
    medians = {name: (statistics.median(r["p50"] for r in runs), statistics.median(r["rps"] for r in runs))
               for name, runs in results.items()}
    base_p50 = medians["main"][0] if "main" in medians else medians["no auth"][0]
    lines = [f"| gateway (iris V1, wrk -t1 -c{connections}) | p50 ms per round | median p50 ms | median req/s | "
             f"p50 vs {baseline if 'main' in medians else 'no auth'} | target | errors |", "|---|---|---|---|---|---|---|"]
    for name, runs in results.items():
        p50, rps = medians[name]
        change = (p50 / base_p50 - 1) * 100
        target = TARGETS.get(name)
        verdict = "" if target is None else f"≤ {target:g} % ({'meets' if change <= target else 'MISSES'})"
        rounds = ", ".join(f"{r['p50']:.2f}" for r in runs)
        errors = sum(r["errors"] for r in runs)
        lines.append(f"| {name} | {rounds} | {p50:.2f} | {rps:,.0f} | {change:+.1f} % | {verdict} | {errors:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--baseline", default="main", help="git ref whose gateway is the `main` row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="neuroscale-auth-bench-") as tmp:
        root = Path(tmp)
        model = train_iris(root / "models" / "iris")
        model_port = free_port()
        server = Server([sys.executable, "-m", "neuroscale.serving", "--model-name", "iris", "--model-format",
                         "sklearn", "--storage-uri", str(model), "--port", str(model_port), "--model-root",
                         str(model.parent)], health=f"http://127.0.0.1:{model_port}/v2/health/ready")
        running = [server]
        try:
            baseline = baseline_tree(args.baseline, root)
            configs: list[tuple[str, int, tuple[str, ...]]] = []
            if baseline is not None:
                gateway, port = start_gateway(gateway_home(root / "main", upstream=model_port, auth=False),
                                              pythonpath=baseline[0])
                running.append(gateway)
                configs.append(("main", port, ()))
            gateway, port = start_gateway(gateway_home(root / "open", upstream=model_port, auth=False), pythonpath=None)
            running.append(gateway)
            configs.append(("no auth", port, ()))
            keyed = gateway_home(root / "keyed", upstream=model_port, auth=True)
            key = make_key(keyed)
            gateway, port = start_gateway(keyed, pythonpath=None)
            running.append(gateway)
            configs.append(("auth + key", port, (f"Authorization: Bearer {key}",)))
            cost = check_cost_us(keyed, key)
            if answers(port, {"Content-Type": "application/json"}) != 401 or answers(
                    port, {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}) != 200:
                sys.exit("the keyed gateway does not enforce keys as expected; nothing measured")
            results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in configs}
            for round_number in range(args.rounds):
                for name, port, headers in configs:
                    url = f"http://127.0.0.1:{port}{PATH}"
                    wrk(url, lua=LUA["v1"], connections=args.connections, duration=2, headers=headers)  # warm-up
                    result = wrk(url, lua=LUA["v1"], connections=args.connections, duration=args.duration,
                                 headers=headers)
                    results[name].append(result)
                    print(f"round {round_number + 1} {name}: {result}", file=sys.stderr, flush=True)
        finally:
            for process in reversed(running):
                process.stop()
    label = f"{args.baseline}@{baseline[1]}" if baseline is not None else args.baseline
    print(table(results, connections=args.connections, baseline=label))
    print(f"\nThe key check itself (headers scanned, SHA-256, set lookup, Authorization dropped): {cost:.2f} µs "
          "per request in-process; a route without auth pays one truthiness test.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
