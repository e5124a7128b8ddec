"""`python -m neuroscale.serving --shared FORMAT --home HOME`: one process serving many models of a format.

A forked server shares its spare's import pages but still costs ~26 MiB PSS of its own (interpreter
state, uvloop, its heap): 12.7 GiB for 500 iris endpoints. Here many models live in one process
(ModelMesh and Triton do the same), each a `ServingApp` behind **its own listening socket** served
by uvicorn's protocol with our limits (`server.uvicorn_config`), so to the engine's probes, the
gateway's routes and its balancer a hosted model is a server at a port like any other.

Orders come on stdin, one JSON line each, and are answered on stdout in order:
`{"load": {"argv": [...], "log": PATH}}` takes the flags a dedicated server gets; the port is bound
at once and answered (`{"port": N}`), then the model loads and the port starts listening — so, as
with a dedicated server, "port open" never means "model missing". A bad order or a busy port is
answered `{"error": ..., "code": C}` with a dedicated server's exit code. `{"unload": PORT}` (add
`"drain": false` to skip the drain) is answered `{"unloading": PORT}` at once; the socket stops
accepting, open connections finish their in-flight requests (uvicorn's graceful shutdown, at most
`GRACEFUL_SHUTDOWN_SECONDS`), the model is dropped. When a model is gone — unloaded, or its load
failed — the process says so unprompted: `{"gone": PORT, "code": C}`, C being what a dedicated
server would have exited with (0 drained, 3 load failed, 1 crashed while loading, -9 unloaded without drain).

Isolation, as far as a process allows: each model's `ModelLoaded:` / `ModelLoadFailed:` record
goes to *its revision's log*, as a dedicated server writes it, so the engine and `doctor` read it
unchanged; a load that fails or a predict that raises touches only that model's requests. What
a process cannot isolate: a crash, an OOM kill or a hang takes every model in it (the engine then
sees each one exit with the process's code and restarts them), a load competes with the other models
for the one GIL (it runs on a worker thread, so they keep answering, somewhat slower), and tracebacks of
unexpected errors go to the shared process's own log. The process ends at EOF on stdin or on
SIGTERM, after unloading every model the same way.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neuroscale.errors import ModelLoadError
from neuroscale.serving.settings import ServingSettings, parse_args
from neuroscale.serving.spare import parse_format, preload

if TYPE_CHECKING:
    import uvicorn

    from neuroscale.serving.app import ServingApp

SHARED_FLAG = "--shared"
#: Formats served by library code alone (no user classes, no transformer). A pickled file among them still runs
#: its code when it loads, in a process shared with the other models: the README says when to share.
SHAREABLE_FORMATS = ("sklearn", "xgboost", "lightgbm", "onnx")
READY_PREFIX = "SharedReady:"
EXIT_CRASHED = 1
EXIT_UNLOADED_AT_ONCE = -signal.SIGKILL


class OrderError(ValueError):
    """An order that cannot be carried out, with the exit code a dedicated server would have given."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Hosted:
    """One model: its settings, its revision's log, its bound socket, and its uvicorn server once loaded."""

    settings: ServingSettings
    log: str
    sock: socket.socket
    app: ServingApp | None = None
    server: uvicorn.Server | None = None
    unloading: bool = False


def record(log: str, line: str) -> None:
    """Append one line to a model's revision log (the engine reads its load record there)."""
    with open(log, "a", encoding="utf-8") as out:
        out.write(line + "\n")


class Host:
    """The models of one process, by port."""

    def __init__(self, model_format: str, answers: Any) -> None:
        self.model_format = model_format
        self.answers = answers
        self.models: dict[int, Hosted] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def say(self, answer: dict[str, Any]) -> None:
        self.answers.write(json.dumps(answer).encode() + b"\n")
        self.answers.flush()

    def order(self, line: bytes) -> dict[str, Any]:
        """Carry out one order line; its answer (errors included: a bad order never ends the process)."""
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise OrderError("an order is a JSON object")
            if "load" in raw:
                return {"port": self.refusing(raw["load"]["argv"], str(raw["load"]["log"]))}
            if "unload" in raw:
                return {"unloading": self.unload(int(raw["unload"]), drain=raw.get("drain", True) is not False)}
            raise OrderError("unknown order: expected 'load' or 'unload'")
        except OrderError as exc:
            return {"error": str(exc), "code": exc.code}
        except (ValueError, KeyError, TypeError) as exc:
            return {"error": f"malformed order: {type(exc).__name__}: {exc}", "code": 2}

    def refusing(self, argv: Sequence[str], log: str) -> int:
        """`load`, with a refusal also written to the revision's log: the engine reads why from there."""
        try:
            return self.load(argv, log)
        except OrderError as exc:
            record(log, f"SharedLoadRefused: {exc}")
            raise

    def load(self, argv: Sequence[str], log: str) -> int:
        from neuroscale.serving.server import EXIT_PORT_UNAVAILABLE, bind

        try:
            settings = parse_args([str(arg) for arg in argv])
        except SystemExit as exc:
            raise OrderError(f"bad server flags {list(argv)!r} (see this process's log)") from exc
        if settings.model_format != self.model_format:
            raise OrderError(f"this process serves {self.model_format} models, not {settings.model_format}")
        if settings.grpc_port is not None or settings.model_class or settings.transformer_class:
            raise OrderError("gRPC and custom classes need a dedicated server")
        if settings.port in self.models:
            raise OrderError(f"port {settings.port} already serves a model here", EXIT_PORT_UNAVAILABLE)
        try:
            sock = bind(settings.host, settings.port)
        except OSError as exc:
            record(log, f"PortUnavailable: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}; "
                        "fix: pass a free --port (and a local --host)")
            raise OrderError(f"port {settings.port}: {exc}", EXIT_PORT_UNAVAILABLE) from exc
        port: int = sock.getsockname()[1]
        self.models[port] = Hosted(settings, log, sock)
        self._spawn(self._load(port))
        return port

    async def _load(self, port: int) -> None:
        from neuroscale.serving.app import create_app
        from neuroscale.serving.server import EXIT_MODEL_LOAD_FAILED, load_failed_line, loaded_line

        hosted = self.models[port]
        started = time.perf_counter()
        try:
            # On a worker thread, so the other models keep answering while this one loads: iris's slowest answer
            # while a 18 MB random forest loaded (0.5 s) fell from 425-536 ms to 13-102 ms (unpickling holds the GIL
            # but lets it go every 5 ms).
            app = await asyncio.to_thread(create_app, hosted.settings)
            server = await listen(app, hosted.settings, hosted.sock)
        except ModelLoadError as exc:
            record(hosted.log, load_failed_line(exc))
            self._gone(port, EXIT_MODEL_LOAD_FAILED)
            return
        except Exception:  # noqa: BLE001 - only this model fails; its log says why, as a dedicated server's would
            record(hosted.log, traceback.format_exc().rstrip())
            self._gone(port, EXIT_CRASHED)
            return
        hosted.app, hosted.server = app, server
        await server.on_tick(0)  # the Date header
        record(hosted.log, loaded_line(app, hosted.settings, seconds=time.perf_counter() - started, port=port))
        if hosted.unloading:  # unloaded while it loaded
            self._spawn(self._drain(port, drain=True))

    def unload(self, port: int, *, drain: bool) -> int:
        hosted = self.models.get(port)
        if hosted is None:
            raise OrderError(f"no model on port {port}", 0)
        if hosted.server is None and not hosted.unloading:  # still loading: it drains once loaded
            hosted.unloading = True
        elif hosted.server is not None:
            if hosted.unloading:  # a second unload only hurries the first
                hosted.server.force_exit = True
            else:
                hosted.unloading = True
                self._spawn(self._drain(port, drain=drain))
        return port

    async def _drain(self, port: int, *, drain: bool) -> None:
        hosted = self.models[port]
        server, app = hosted.server, hosted.app
        assert server is not None and app is not None
        server.force_exit = not drain
        await server.shutdown()
        for task in server.server_state.tasks:  # left only when not draining, or past the drain's bound
            task.cancel()
        for connection in list(server.server_state.connections):
            connection.transport.close()
        await app.plane.unload()
        self._gone(port, 0 if drain else EXIT_UNLOADED_AT_ONCE)

    def _gone(self, port: int, code: int) -> None:
        hosted = self.models.pop(port)
        hosted.sock.close()
        self.say({"gone": port, "code": code})

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def tick(self) -> None:
        """Refresh every model's Date header once a second (uvicorn's main loop does it per server)."""
        while True:
            await asyncio.sleep(1.0)
            for hosted in list(self.models.values()):
                if hosted.server is not None:
                    await hosted.server.on_tick(0)

    async def close(self) -> None:
        """Unload every model (drained) and wait for them."""
        for port in list(self.models):
            self.unload(port, drain=True)
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


async def listen(app: ServingApp, settings: ServingSettings, sock: socket.socket) -> uvicorn.Server:
    """uvicorn's `Server._serve` up to its main loop, which is left out: `Host.tick` does its one job for all."""
    import uvicorn

    from neuroscale.serving.server import uvicorn_config

    config = uvicorn_config(app, settings)
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    return server


async def serve(host: Host) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ticker = loop.create_task(host.tick())
    stopping = loop.create_task(stop.wait())
    while not stop.is_set():
        reading = loop.create_task(reader.readline())
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not reading.done():
            reading.cancel()
            break
        line = reading.result()
        if not line:
            break  # EOF: the engine ended or no longer wants this process
        if line.strip():
            host.say(host.order(line))
    ticker.cancel()
    await host.close()


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    model_format = parse_format(sys.argv[1:] if argv is None else argv, flag=SHARED_FLAG, formats=SHAREABLE_FORMATS)
    # Answers get a private copy of stdout; fd 1 becomes the log, so nothing a library prints can corrupt them.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    preload(model_format)
    import uvloop

    print(f"{READY_PREFIX} {model_format} imports done in {time.perf_counter() - started:.2f}s", file=sys.stderr,
          flush=True)
    host = Host(model_format, answers)
    host.say({"ready": True})
    uvloop.run(serve(host))
    return 0
