"""Density: how many iris endpoints one machine keeps live, and what each one costs (issue 13, item 3).

One embedded platform as `neuroscale up` runs it; N iris endpoints (min = max = 1 replica) are merged
to main in one commit. Measured:

  all Ready          : seconds from the commit until every endpoint's Ready condition is True
  answering          : each endpoint asked once through the gateway (must answer [1, 1])
  memory             : proportional set size (PSS, shared pages split between sharers) of every model
                       server and spare, and of the platform's own processes; per endpoint = servers / N
  idle CPU           : CPU the platform's processes use over 10 s with N idle endpoints (the supervisor's
                       metrics scraping runs in this process and is not counted)
  first request after scale to zero : a minReplicas 0 endpoint idles to no process, then one request

Run it to compare dedicated servers forked by a warm spare (default) with cold-started ones
(`--no-warm-spares`; each cold server holds its own copy of numpy, SciPy and scikit-learn) and with
models loaded into shared processes (`--shared-runtime`, `--models-per-process`, default 100), where
scale to zero unloads a model from its process and the first request loads it again.

Usage: python bench/density_bench.py [--endpoints 500] [--no-warm-spares | --shared-runtime]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import httpx

from neuroscale.db import connect
from neuroscale.engine.procfs import log_name, serving_processes
from neuroscale.engine.store import StatusStore
from neuroscale.gitops.repo import MAIN, Author, GitRepo
from neuroscale.home import Home
from neuroscale.spec.endpoint import EndpointSpec
from neuroscale.spec.manifest import manifest_path, to_manifest
from neuroscale.supervisor.demo import DEMO_INSTANCES, train_iris
from neuroscale.supervisor.settings import PlatformSettings
from neuroscale.yamlio import dump

from live_platform import cpu_seconds, live_platform

AUTHOR = Author(name="bench", email="bench@neuroscale.local")


def pss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def total_cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def descendants(root: int) -> list[int]:
    """`root` and every process under it (the supervisor, its components and the model servers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


ROLES = ("engine", "gateway", "portal", "other")


def role(pid: int) -> str:
    """Which platform component a process is, from its command line (`-m neuroscale.<role>`)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    module = next((a.decode() for a in args if a.startswith(b"neuroscale.")), "")
    return module.split(".")[1] if module.count(".") == 1 and module.split(".")[1] in ROLES else "other"


def manifest(name: str, model: Path, *, annotations: dict[str, str] | None = None, **predictor: object) -> bytes:
    obj = to_manifest(EndpointSpec.from_input({"name": name, "owner": "bench", "costCenter": "cc-bench",
                                               "storageUri": str(model)}))
    obj["spec"]["predictor"].update(predictor)
    obj["metadata"].setdefault("annotations", {}).update(annotations or {})
    text: str = dump(obj)
    return text.encode()


def ready_count(store: StatusStore, names: list[str]) -> int:
    count = 0
    for name in names:
        status = store.get(name)
        count += status is not None and any(c.type == "Ready" and c.status == "True" for c in status.conditions)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=500)
    parser.add_argument("--no-warm-spares", dest="warm_spares", action="store_false")
    parser.add_argument("--shared-runtime", action="store_true")
    parser.add_argument("--models-per-process", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for every endpoint Ready")
    args = parser.parse_args()
    names = [f"iris-{i:04d}" for i in range(args.endpoints)]
    settings = PlatformSettings(portal_port=9010, gateway_port=9000, warm_spares=args.warm_spares,
                                shared_runtime=args.shared_runtime, models_per_process=args.models_per_process)
    with live_platform(settings, prefix="neuroscale-density-") as home:
        return measure(home, settings, names, timeout=args.timeout)


def measure(home: Home, settings: PlatformSettings, names: list[str], *, timeout: float) -> int:
    model = train_iris(home.models_dir / "iris")
    repo, store = GitRepo(home.remote), StatusStore(connect(home.state_db))
    started = time.perf_counter()
    repo.commit(branch=MAIN, files={manifest_path(n): manifest(n, model) for n in names},
                message=f"{len(names)} iris endpoints", author=AUTHOR)
    shown = -1
    while (ready := ready_count(store, names)) < len(names):
        if time.perf_counter() - started > timeout:
            print(f"only {ready} of {len(names)} Ready after {timeout:g}s", file=sys.stderr)
            return 1
        if ready // 50 > shown // 50:
            print(f"  {ready:4d} Ready after {time.perf_counter() - started:6.1f}s", flush=True)
            shown = ready
        time.sleep(1.0)
    all_ready = time.perf_counter() - started
    with httpx.Client(base_url=settings.gateway_url, timeout=30) as client:
        wrong = [n for n in names if client.post(f"/v1/models/{n}:predict",
                                                 json={"instances": DEMO_INSTANCES}).json()
                 .get("predictions") != [1, 1]]
    servers = [p.pid for p in serving_processes(home.root)]
    platform_pids = [p for p in descendants(os.getpid()) if p not in servers and p != os.getpid()]
    server_mib = sum(pss_mib(p) for p in servers)
    platform_mib = sum(pss_mib(p) for p in platform_pids)
    everything = servers + platform_pids
    groups = {"model servers and spares": servers,
              **{name: [p for p in platform_pids if role(p) == name] for name in ROLES}}
    before = {name: total_cpu_seconds(pids) for name, pids in groups.items()}
    time.sleep(10)
    idle_by = {name: (total_cpu_seconds(pids) - before[name]) / 10 for name, pids in groups.items()}
    idle = sum(idle_by.values())
    with httpx.Client(base_url=settings.gateway_url, timeout=60) as client:
        zero = zero_first_request(repo, store, client, model, home)
    mode = ("in shared processes" if settings.shared_runtime else
            "forked by a warm spare" if settings.warm_spares else "cold-started")
    print(f"\n| {len(names)} iris endpoints, servers {mode} | value |\n|---|---|")
    print(f"| all Ready after the commit | {all_ready:.1f} s |")
    print(f"| answering [1, 1] through the gateway | {len(names) - len(wrong)} of {len(names)} |")
    print(f"| model-server processes (incl. spares and shared) | {len(servers)}, PSS {server_mib / 1024:.2f} GiB |")
    print(f"| PSS per endpoint | {server_mib / len(names):.1f} MiB |")
    print(f"| platform processes (supervisor, reconciler, gateway, portal) | PSS {platform_mib:.0f} MiB |")
    print(f"| idle CPU of everything | {100 * idle:.1f} % of one core "
          f"({', '.join(f'{name} {100 * share:.1f} %' for name, share in idle_by.items())}) |")
    print(f"| first request after scale to zero, median of 3 | {statistics.median(zero):.2f} s "
          f"({', '.join(f'{s:.2f}' for s in zero)}) |")
    loads = re.findall(r"^ModelLoaded: idle .* in ([0-9.]+)s;", (home.server_logs_dir / log_name("idle-predictor-00001", 0))
                       .read_text(), flags=re.M)
    print(f"| ... of which the model server's own start and load (its `ModelLoaded` lines) | "
          f"{', '.join(f'{float(s) * 1000:.0f}' for s in loads)} ms |")
    return 1 if wrong else 0


def routed(home: Home, name: str) -> bool:
    """Does the gateway's route table send `name` to a server (a shared model has no process of its own)?"""
    entry = json.loads(home.routes_file.read_text())["endpoints"].get(name) or {}
    return bool(entry.get("upstream"))


def zero_first_request(repo: GitRepo, store: StatusStore, client: httpx.Client, model: Path, home: Home) -> list[float]:
    repo.commit(branch=MAIN, files={manifest_path("idle"): manifest("idle", model, minReplicas=0, annotations={
        "autoscaling.knative.dev/window": "2s"})},
                message="idle", author=AUTHOR)
    samples = []
    deadline = time.monotonic() + 600
    while ready_count(store, ["idle"]) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(3):
        while routed(home, "idle") or any(p.revision.startswith("idle-predictor-") for p in serving_processes(home.root)):
            if time.monotonic() > deadline:
                raise TimeoutError("the idle endpoint never scaled to zero")
            time.sleep(0.5)
        started = time.perf_counter()
        answer = client.post("/v1/models/idle:predict", json={"instances": DEMO_INSTANCES}).json()
        samples.append(time.perf_counter() - started)
        assert answer.get("predictions") == [1, 1], answer
    return samples


if __name__ == "__main__":
    sys.exit(main())
