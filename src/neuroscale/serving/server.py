"""`main(argv)`: load the model, then serve it with uvicorn until SIGTERM/SIGINT.

Loading happens before the port is bound, so "port open" never means "model missing". The
outcome of the load is recorded as one line on stderr, which the engine reads to classify an exit:
`ModelLoaded: ...` once the model is in memory, or `ModelLoadFailed: ...` and exit code 3 (the
engine's contract). A port that cannot be bound prints `PortUnavailable: ...` and exits 4 (uvicorn's own
startup-failure code is 3, which would read as a model failure, so we bind the socket ourselves).
SIGTERM stops accepting, lets in-flight requests finish and exits 0. With `--grpc-port`, the
Open Inference Protocol's gRPC service runs on the same event loop (one data plane, one batcher):
it keeps answering while HTTP drains, then the model unloads (new calls get UNAVAILABLE, "model is
unloading") and gRPC drains in-flight calls before the process exits.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING

from neuroscale.errors import ModelLoadError
from neuroscale.serving.settings import ServingSettings, parse_args
from neuroscale.serving.storage import local_file

if TYPE_CHECKING:
    import uvicorn

    from neuroscale.serving.app import ServingApp

EXIT_MODEL_LOAD_FAILED = 3
EXIT_PORT_UNAVAILABLE = 4
GRACEFUL_SHUTDOWN_SECONDS = 5
#: Connections plus in-flight requests before uvicorn answers 503: bounds what a flood can hold open.
CONCURRENCY_LIMIT = 1024


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    started = perf_counter()
    from neuroscale.serving.app import create_app  # after argparse: a usage error stays fast

    try:
        app = create_app(settings)
    except ModelLoadError as exc:
        print(load_failed_line(exc), file=sys.stderr, flush=True)
        return EXIT_MODEL_LOAD_FAILED
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"PortUnavailable: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}; "
            "fix: pass a free --port (and a local --host)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_PORT_UNAVAILABLE
    print(loaded_line(app, settings, seconds=perf_counter() - started, port=sock.getsockname()[1]),
          file=sys.stderr, flush=True)
    return serve(app, settings, sock=sock)


def load_failed_line(exc: ModelLoadError) -> str:
    """The `ModelLoadFailed:` record the engine classifies an exit by: exactly one line."""
    detail = f"{exc.message} (where: {exc.where})" if exc.where else exc.message
    fix = f"; fix: {exc.fix}" if exc.fix else ""
    line = " ".join(f"{detail}{fix}".split())  # exactly one line, whatever the libraries said
    return f"ModelLoadFailed: {line}"


def loaded_line(app: ServingApp, settings: ServingSettings, *, seconds: float, port: int) -> str:
    """The `ModelLoaded:` record: what was loaded (and, for one file, its size and mtime, so a file replaced
    under the running server can be told apart later), how long it took, where it is served."""
    grpc_note = f" and grpc://{settings.host}:{settings.grpc_port}" if settings.grpc_port is not None else ""
    return (f"ModelLoaded: {settings.model_name} ({app.plane.describe()}) in {seconds:.2f}s; "
            f"{file_identity(local_file(settings.storage_uri))}serving on http://{settings.host}:{port}{grpc_note}")


def file_identity(path: Path | None) -> str:
    """`model file <path> (<size> bytes, mtime_ns <n>); ` when `path` is one regular file, else ""."""
    if path is None:
        return ""
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return ""
    if not stat.S_ISREG(found.st_mode):
        return ""
    return f"model file {path} ({found.st_size} bytes, mtime_ns {found.st_mtime_ns}); "


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket (IPv4 or IPv6, as `host` resolves)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def serve(app: ServingApp, settings: ServingSettings, *, sock: socket.socket) -> int:
    """Run uvicorn and gRPC on one uvloop until a stop signal; 0 on a graceful stop.

    The HTTP protocol is uvicorn's httptools one with header limits and a header timeout added
    (`serving.http`); uvicorn's own keep-alive timeout and concurrency limit do the rest.
    """
    import uvloop

    from neuroscale.serving.quiet import QuietServer

    server = QuietServer(uvicorn_config(app, settings))
    # uvicorn re-raises the stop signal after its graceful shutdown; with this handler in place
    # that re-raise is a no-op and the process exits 0 instead of dying by the signal.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: None)

    async def run() -> int:
        grpc_server = None
        if settings.grpc_port is not None:
            from neuroscale.serving import grpc_server as grpc_module

            try:
                grpc_server = await grpc_module.start(app.plane, host=settings.host, port=settings.grpc_port,
                                                      max_message_bytes=settings.max_body_bytes)
            except OSError as exc:
                print(f"PortUnavailable: cannot listen for gRPC on {settings.host}:{settings.grpc_port}: {exc}; "
                      "fix: pass a free --grpc-port", file=sys.stderr, flush=True)
                return EXIT_PORT_UNAVAILABLE
        await server.serve(sockets=[sock])
        await app.plane.unload()
        if grpc_server is not None:
            await grpc_server.stop(GRACEFUL_SHUTDOWN_SECONDS)
        return 0 if server.started else EXIT_PORT_UNAVAILABLE

    return uvloop.run(run())


def uvicorn_config(app: ServingApp, settings: ServingSettings) -> uvicorn.Config:
    """How uvicorn serves one model: the limited httptools protocol, our keep-alive and concurrency limits."""
    import uvicorn

    from neuroscale.serving.http import protocol_with

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol_with(settings.limits),
        timeout_keep_alive=math.ceil(settings.limits.idle_timeout_s),  # uvicorn takes whole seconds
        limit_concurrency=CONCURRENCY_LIMIT,
        proxy_headers=False,  # nothing reads the client address; its middleware was ~1 % of V1 CPU (py-spy)
        ws="none",
        lifespan="off",
        access_log=False,
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
