"""Embedded FM-01 / FM-13 analogues: a platform process is not running.

Reconciler down: nothing merged reaches the model servers (control plane).
Gateway down: endpoints unreachable. Portal down: the UI fails while endpoints
keep serving (FM-13's silent tunnel death, embedded). A pid file whose
process is gone is named as such.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

_CATEGORY = {"reconciler": Category.CONTROL_PLANE, "gateway": Category.CONTROLLERS, "portal": Category.PORTAL}
_IMPACT = {
    "reconciler": "merged changes are not deployed and crashed model servers are not restarted",
    "gateway": "no endpoint answers predictions on the gateway port",
    "portal": "the web portal and REST API are down (endpoints keep serving)",
}


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for proc in index.host.get("processes") or []:
        if proc.get("alive"):
            continue
        name = str(proc.get("component", ""))
        stale = proc.get("pid") is not None
        log = str(proc.get("log_tail", ""))
        found.append(RULE.finding(
            obj=ObjectRef(kind="Process", name=name), category=_CATEGORY.get(name, Category.CONTROLLERS),
            severity=Severity.ERROR if name != "portal" else Severity.WARNING,
            message=f"the {name} is not running" + (f" (stale pid {proc.get('pid')})" if stale else ""),
            evidence=(f"{proc.get('pid_file')}: pid {proc.get('pid')} is not alive" if stale
                      else f"{proc.get('pid_file')} does not exist") + (f"; last log line: {log}" if log else ""),
            root_cause=f"the {name} process {'died' if stale else 'is stopped (or was never started)'}: "
            f"{_IMPACT.get(name, '')}",
            fix=f"neuroscale up --home {index.host.get('home', '.neuroscale')}"
            + (f"  # see {proc.get('log_file')}" if proc.get("log_file") else ""),
            explains_when=("endpoint status",) if name == "reconciler" else (),
        ))
    return found


RULE = Rule(
    id="platform-process", title="Platform processes running", covers=("FM-01", "FM-13"),
    category=Category.CONTROL_PLANE, severity=Severity.ERROR, check=check, targets=("embedded",),
)
