"""`python -m neuroscale.serving --spare FORMAT --home HOME`: a model server that imports before it knows its model.

Most of a model server's start is importing, not loading: on a busy 2-core machine numpy, SciPy and
scikit-learn take 1.3-1.9 s of a ~2 s start, an iris model loads in 15 ms. So the engine keeps one
spare per format ahead of demand (`neuroscale.engine.spares`): it imports the serving stack and what
every model of its format imports (`formats.FRAMEWORK_MODULES`), never more, so a handed-over spare
holds no more memory than a cold start of the same model; then it waits on stdin.

The hand-over is one JSON line: `argv`, the flags a cold start gets; `log`, the revision's log file,
which becomes stdout and stderr; `data_limit`, the RLIMIT_DATA backstop a cold start gets before
exec, or null. From there it is `server.main(argv)`: the same load record, exit codes, signals and
drain. EOF instead of a line (the engine stopped or no longer wants it) exits 0.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
from collections.abc import Sequence

from neuroscale.serving.settings import MODEL_FORMATS

SPARE_FLAG = "--spare"
#: What `server.main` imports for every model, whatever its format.
STACK = ("neuroscale.serving.app", "neuroscale.serving.formats", "neuroscale.serving.http", "uvicorn", "uvloop")


def _parse(argv: Sequence[str]) -> str:
    parser = argparse.ArgumentParser(prog=f"python -m neuroscale.serving {SPARE_FLAG}")
    parser.add_argument(SPARE_FLAG, dest="model_format", required=True, choices=MODEL_FORMATS)
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
    """Send stdout and stderr to the revision's log, as the engine's `Popen` does for a cold start."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: Sequence[str] | None = None) -> int:
    preload(_parse(sys.argv[1:] if argv is None else argv))
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0
    order = json.loads(line)
    become(order["log"])
    if order.get("data_limit"):
        limit = int(order["data_limit"])
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from neuroscale.serving.server import main as serve

    return serve([str(arg) for arg in order["argv"]])
