"""FM-12: a port the platform needs is held by another process.

The portal (7010) and gateway (8080), or the configured ports, cannot bind
while a stale process (an old port-forward, another server) holds them.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for port in index.host.get("ports") or []:
        if not port.get("in_use") or port.get("ours"):
            continue
        pid = port.get("pid")
        holder = f"pid {pid} ({port.get('command') or 'unknown command'})" if pid else "another process"
        found.append(RULE.finding(
            obj=ObjectRef(kind="Port", name=f"{port.get('host', '127.0.0.1')}:{port.get('port')}"),
            message=f"{port.get('name')} port {port.get('port')} is taken by {holder}",
            evidence=f"bind {port.get('host', '127.0.0.1')}:{port.get('port')} failed: address already in use; "
            f"owner {holder}",
            root_cause=f"a process that is not this platform's {port.get('name')} holds the port, so the "
            f"{port.get('name')} cannot start (often a stale port-forward)",
            fix=(f"kill {pid}  # if it is a stale process, or " if pid else f"ss -ltnp 'sport = :{port.get('port')}'; ")
            + f"neuroscale up --{port.get('name')}-port <free port>",
            explains_when=(f"the {port.get('name')} is not running",),
        ))
    return found


RULE = Rule(
    id="port-taken", title="Platform ports free", covers=("FM-12",),
    category=Category.ENVIRONMENT, severity=Severity.ERROR, check=check, targets=("embedded",),
)
