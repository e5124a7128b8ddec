"""`python -m neuroscale.serving --spare FORMAT --home HOME`: imports once, then forks model servers.

Most of a model server's start is importing, not loading: on a busy 2-core machine numpy, SciPy and
scikit-learn take 1.3-1.9 s of a ~2 s start, an iris model loads in 15-300 ms. So the engine keeps
one spare per kind (`neuroscale.engine.spares`): it imports the serving stack and what every model of
its format imports (`formats.FRAMEWORK_MODULES`), never more, so a server forked from it holds no more
memory than a cold start of the same model; then it serves orders on stdin, one JSON line each.

An order is `argv`, the flags a cold start gets; `log`, the revision's log file, which becomes the
server's stdout and stderr; `data_limit`, the RLIMIT_DATA backstop a cold start gets, or null. The
spare forks twice (the middle process exits at once), so the server is not the spare's child: it is
reparented to the engine, which as a child subreaper (`engine.subreaper`) waits for it like a process
it started itself, and a spare that ends never takes its servers with it. The answer, one JSON line on
stdout, is the server's pid. From there the server is `server.main(argv)` in its own session: the same
load record, exit codes, signals and drain as a cold start. The spare writes `{"ready": true}` once
its imports are done, and exits 0 at EOF (the engine stopped or no longer wants it).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neuroscale.serving.settings import MODEL_FORMATS

SPARE_FLAG = "--spare"
#: The line a spare's log gets once it can fork servers.
READY_PREFIX = "SpareReady:"
#: What `server.main` imports for every model, whatever its format.
STACK = ("neuroscale.serving.app", "neuroscale.serving.formats", "neuroscale.serving.http", "uvicorn", "uvloop")


def parse_format(argv: Sequence[str], *, flag: str = SPARE_FLAG, formats: Sequence[str] = MODEL_FORMATS) -> str:
    """The format of a spare's (or a shared process's) command line: `FLAG FORMAT --home HOME`."""
    parser = argparse.ArgumentParser(prog=f"python -m neuroscale.serving {flag}")
    parser.add_argument(flag, dest="model_format", required=True, choices=formats)
    parser.add_argument("--home", default="", help="platform home marker, so the engine can find its processes")
    model_format: str = parser.parse_args(argv).model_format
    return model_format


def preload(model_format: str) -> None:
    """Import what a server of `model_format` will import whatever its model; a missing framework is left
    for the load to report, exactly as a cold start reports it."""
    from neuroscale.serving.formats import FRAMEWORK_MODULES

    for module in (*STACK, *FRAMEWORK_MODULES.get(model_format, ())):
        try:
            importlib.import_module(module)
        except ImportError:
            pass


def become(log: str) -> None:
    """Send stdout and stderr to the revision's log and read nothing, as the engine's `Popen` does for a
    cold start (the order pipe and the answer pipe stay the spare's)."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)


@dataclass(frozen=True)
class Order:
    argv: list[str]
    log: str
    data_limit: int | None

    @classmethod
    def parse(cls, line: bytes) -> Order:
        """An order line, checked before anything is forked (ValueError, KeyError or TypeError if malformed)."""
        raw = json.loads(line)
        limit = raw.get("data_limit")
        return cls([str(arg) for arg in raw["argv"]], str(raw["log"]), None if limit is None else int(limit))


def _serve(order: Order) -> int:
    """The forked server's whole life: it never returns to the spare's loop."""
    become(order.log)
    if order.data_limit:
        resource.setrlimit(resource.RLIMIT_DATA, (order.data_limit, order.data_limit))
    from neuroscale.serving.server import main as serve

    return serve(order.argv)


def fork_server(order: Order) -> int:
    """Start the server `order` describes in a new session, not as our child; its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        code = 1
        try:
            os.close(read_end)
            server = os.fork()
            if server == 0:
                os.close(write_end)
                try:
                    os.setsid()
                    code = _serve(order)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                except BaseException:  # noqa: BLE001 - the log must say why, as a cold start's traceback would
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            os.write(write_end, str(server).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        pid = int(answer.read() or b"0")
    os.waitpid(middle, 0)
    if pid <= 0:
        raise OSError("the forked model server did not start")
    return pid


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    model_format = parse_format(sys.argv[1:] if argv is None else argv)
    preload(model_format)
    print(f"{READY_PREFIX} {model_format} imports done in {time.perf_counter() - started:.2f}s", file=sys.stderr,
          flush=True)
    gc.freeze()  # imported objects stay out of the collector, so forked servers share their pages longer
    answers = sys.stdout
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            answer: dict[str, Any] = {"pid": fork_server(Order.parse(line))}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0
