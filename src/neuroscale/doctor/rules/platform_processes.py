"""Embedded FM-01 / FM-13 analogues: a platform process is not running, or is stopped.

Reconciler down: nothing merged reaches the model servers and what dies is not
restarted (control plane). Gateway down: endpoints unreachable. Portal down:
the UI fails while endpoints keep serving (FM-13's silent tunnel death,
embedded). A process stopped by a signal (`T` in /proc: SIGSTOP, a debugger)
is alive but does nothing, and is named as such. The fix is the command that
starts exactly that component again, or `neuroscale up` when nothing runs;
under a running supervisor a dead component is restarted by it.
"""

from __future__ import annotations

from neuroscale.doctor.embedded_view import RECONCILER_EXPLAINS, engine, start_fix
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

_CATEGORY = {"reconciler": Category.CONTROL_PLANE, "gateway": Category.CONTROLLERS, "portal": Category.PORTAL}
_IMPACT = {
    "reconciler": "merged changes are not deployed and crashed model servers are not restarted",
    "gateway": "no endpoint answers predictions on the gateway port",
    "portal": "the web portal and REST API are down (endpoints keep serving)",
}


def _last_observation(name: str, index: SnapshotIndex) -> str:
    beat = engine(index).get("heartbeat") if name == "reconciler" else None
    if not beat:
        return ""
    return f"; its last observation was {beat.get('observed_at')} ({beat.get('age_s')}s ago)"


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for proc in index.host.get("processes") or []:
        name = str(proc.get("component", ""))
        category = _CATEGORY.get(name, Category.CONTROLLERS)
        severity = Severity.ERROR if name != "portal" else Severity.WARNING
        explains = RECONCILER_EXPLAINS if name == "reconciler" else ()
        if proc.get("alive") and proc.get("state") in ("T", "t"):
            found.append(RULE.finding(
                obj=ObjectRef(kind="Process", name=name), category=category, severity=severity,
                message=f"the {name} (pid {proc.get('pid')}) is stopped",
                evidence=f"/proc/{proc.get('pid')}/stat state T (stopped){_last_observation(name, index)}",
                root_cause=f"the {name} process was stopped by a signal (SIGSTOP, Ctrl-Z or a debugger): it is "
                f"alive but does nothing, so {_IMPACT.get(name, '')}",
                fix=f"kill -CONT {proc.get('pid')}", explains_when=explains))
            continue
        if proc.get("alive"):
            continue
        stale = proc.get("pid") is not None
        log = str(proc.get("log_tail", ""))
        found.append(RULE.finding(
            obj=ObjectRef(kind="Process", name=name), category=category, severity=severity,
            message=f"the {name} is not running" + (f" (stale pid {proc.get('pid')})" if stale else ""),
            evidence=(f"{proc.get('pid_file')}: pid {proc.get('pid')} is not alive" if stale
                      else f"{proc.get('pid_file')} does not exist") + (f"; last log line: {log}" if log else "")
            + _last_observation(name, index),
            root_cause=f"the {name} process {'died' if stale else 'is stopped (or was never started)'}: "
            f"{_IMPACT.get(name, '')}",
            fix=start_fix(index, name), explains_when=explains,
        ))
    return found


RULE = Rule(
    id="platform-process", title="Platform processes running", covers=("FM-01", "FM-13"),
    category=Category.CONTROL_PLANE, severity=Severity.ERROR, check=check, targets=("embedded",),
)
