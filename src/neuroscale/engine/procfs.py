"""Identify model-server processes through /proc, safely across pid reuse.

A pid alone is not an identity: after a reboot or a long downtime it may
belong to someone else. A process is ours only if its /proc start time matches
what we recorded, or its command line carries `neuroscale.serving` and
`--home <this home>` (the markers the engine passes for exactly this).

Which revision a server serves is its `--revision` flag; a warm spare (`--spare`,
see `engine.spares`) learns its revision only when handed a model, after exec,
so for a spare it is the revision whose log its output goes to (`log_name`),
and none while it waits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from neuroscale.home import Home

PROC = Path("/proc")
SERVING_MODULE = "neuroscale.serving"
SPARE_FLAG = "--spare"
SHARED_FLAG = "--shared"  # a shared runtime process (`engine.shared`): no revision of its own
_REPLICA_SUFFIX = re.compile(r"\.r\d+$")


def log_name(revision: str, replica: int) -> str:
    """`<revision>.log` for the first replica (as before replicas existed), `<revision>.r<n>.log` after."""
    return f"{revision}.log" if replica == 0 else f"{revision}.r{replica}.log"


def revision_of_log(name: str) -> str:
    """The revision whose log `log_name` called `name`."""
    return _REPLICA_SUFFIX.sub("", name.removesuffix(".log"))


def _stat_fields(pid: int) -> list[str]:
    """Fields 3.. of /proc/pid/stat ([] when gone)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return []
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rfind(")") + 2:].split()


def start_time(pid: int) -> int | None:
    """Kernel start time of `pid` in clock ticks (field 22 of /proc/pid/stat); None if gone or a zombie."""
    fields = _stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def state(pid: int) -> str:
    """The kernel's one-letter state of `pid` (R running, S sleeping, T stopped, Z zombie...); "" when gone."""
    fields = _stat_fields(pid)
    return fields[0] if fields else ""


def cmdline(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def is_alive(pid: int, expected_start: int) -> bool:
    """True while `pid` is the very process that was started at `expected_start`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return start_time(pid) == expected_start


def _flag(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


@dataclass(frozen=True)
class ServingProcess:
    pid: int
    start_time: int
    revision: str  # "" for a warm spare not handed a model yet, or a shared process


def _revision(pid: int, args: list[str], home_root: Path) -> str:
    flagged = _flag(args, "--revision")
    if flagged is not None or SPARE_FLAG not in args:
        return flagged or ""
    try:
        output = Path(os.readlink(PROC / str(pid) / "fd" / "1"))
    except OSError:
        return ""
    return revision_of_log(output.name) if output.parent == Home(home_root).server_logs_dir else ""


def is_server_of(args: list[str], home_root: Path) -> bool:
    """Does this command line carry the model-server markers for `home_root`?"""
    return SERVING_MODULE in args and _flag(args, "--home") == str(home_root)


def serving_processes(home_root: Path) -> Iterator[ServingProcess]:
    """Every live model-server process started for `home_root`, warm spares included."""
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        args = cmdline(pid)
        if not is_server_of(args, home_root):
            continue
        started = start_time(pid)
        if started is not None:
            yield ServingProcess(pid=pid, start_time=started, revision=_revision(pid, args, home_root))
