"""`main(argv)`: load the model, then serve it with uvicorn until SIGTERM/SIGINT.

Loading happens before the port is bound, so "port open" never means "model missing". A load
failure prints one line `ModelLoadFailed: ...` on stderr and exits with code 3 (the engine's
contract). SIGTERM stops accepting, lets in-flight requests finish and exits 0.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from time import perf_counter

from neuroscale.errors import ModelLoadError
from neuroscale.serving.settings import ServingSettings, parse_args

EXIT_MODEL_LOAD_FAILED = 3
GRACEFUL_SHUTDOWN_SECONDS = 5


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_args(argv)
    started = perf_counter()
    from neuroscale.serving.app import create_app

    try:
        app = create_app(settings)
    except ModelLoadError as exc:
        detail = f"{exc.message} (where: {exc.where})" if exc.where else exc.message
        fix = f"; fix: {exc.fix}" if exc.fix else ""
        print(f"ModelLoadFailed: {detail}{fix}", file=sys.stderr, flush=True)
        return EXIT_MODEL_LOAD_FAILED
    model = app.plane.model
    print(
        f"neuroscale.serving: {settings.model_name} ({model.kind} from {model.path}) loaded in "
        f"{perf_counter() - started:.2f}s; serving on http://{settings.host}:{settings.port}",
        file=sys.stderr,
        flush=True,
    )
    return serve(app, settings)


def serve(app: object, settings: ServingSettings) -> int:
    """Run uvicorn (httptools + uvloop, no access log) until a stop signal; 0 on a graceful stop."""
    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        http="httptools",
        loop="uvloop",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the stop signal after its graceful shutdown; with this handler in place
    # that re-raise is a no-op and the process exits 0 instead of dying by the signal.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda *_: None)
    server.run()
    return 0 if server.started else 1
