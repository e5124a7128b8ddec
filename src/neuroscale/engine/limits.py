"""Resource limits for model-server processes, enforced the strongest way this machine allows.

Kubernetes enforces `resources.limits` with cgroups: memory over the limit is
OOM-killed, CPU over the limit is throttled. Here:

- cgroup v2 delegated to us (the process's cgroup lists the `memory`/`cpu`
  controllers and is writable): each server gets its own child cgroup with
  `memory.max` and `cpu.max`, exactly as the kubelet would.
- otherwise, memory is enforced by the engine's watchdog — the resident set
  is sampled (`/proc/<pid>/statm`) and a server above its limit is killed with
  SIGKILL and reported `OOMKilled` — backed by `RLIMIT_DATA` at twice the
  limit (at least 512 MiB above it) so a single huge allocation between two
  samples fails inside the server instead of exhausting the machine. CPU
  limits cannot be enforced without a cgroup and status says so.

`Enforcement` is what status shows per endpoint, so nobody mistakes a
recorded limit for an enforced one.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_MIB = 1 << 20
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Enforcement:
    """How this machine enforces memory and CPU limits (shown in status)."""

    memory: str
    cpu: str
    cgroup: Path | None = None

    def to_dict(self) -> dict[str, str]:
        return {"memory": self.memory, "cpu": self.cpu}


def _own_cgroup_v2() -> Path | None:
    """This process's cgroup v2 directory, when its memory and cpu controllers are delegated to us."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    unified = next((line[3:] for line in lines if line.startswith("0::")), None)
    if unified is None:
        return None
    for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        path = mount / unified.lstrip("/")
        try:
            controllers = set((path / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        if {"memory", "cpu"} <= controllers and os.access(path, os.W_OK):
            return path
    return None


def _delegated_parent() -> Path | None:
    """A cgroup v2 subtree we can give each server a child of, proven by setting up the parent once."""
    own = _own_cgroup_v2()
    if own is None:
        return None
    parent = own / "neuroscale"
    try:
        parent.mkdir(exist_ok=True)
        (parent / "cgroup.subtree_control").write_text("+memory +cpu")
    except OSError:
        return None
    return parent


def detect() -> Enforcement:
    parent = _delegated_parent()
    if parent is not None:
        return Enforcement(memory="cgroup v2 memory.max (OOM kill)", cpu="cgroup v2 cpu.max (throttled)",
                           cgroup=parent)
    return Enforcement(memory="RSS watchdog (SIGKILL over the limit, reported OOMKilled) + RLIMIT_DATA backstop",
                       cpu="not enforced: no delegated cgroup v2 on this machine")


def data_backstop(memory_limit: int | None) -> int | None:
    """The `RLIMIT_DATA` of a server with `memory_limit` (None: no limit, no backstop)."""
    return None if memory_limit is None else max(2 * memory_limit, memory_limit + 512 * _MIB)


def preexec(memory_limit: int | None) -> Callable[[], None] | None:
    """A `preexec_fn` setting `RLIMIT_DATA` in the child, or None without a memory limit."""
    ceiling = data_backstop(memory_limit)
    if ceiling is None:
        return None

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (ceiling, ceiling))

    return apply


def rss_bytes(pid: int) -> int | None:
    """Resident set size of `pid`, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * _PAGE if len(fields) > 1 else None


def join_cgroup(parent: Path, name: str, *, pid: int, memory_limit: int | None, cpu_limit: float | None) -> None:
    """Put `pid` in its own child cgroup with the kubelet's limits (`OSError` when that is refused)."""
    child = parent / name
    child.mkdir(exist_ok=True)
    if memory_limit is not None:
        (child / "memory.max").write_text(str(memory_limit))
    if cpu_limit is not None:
        period = 100_000
        (child / "cpu.max").write_text(f"{max(int(cpu_limit * period), 1000)} {period}")
    (child / "cgroup.procs").write_text(str(pid))


def human(size: int) -> str:
    return f"{size / _MIB:.0f}Mi"
