"""Embedded FM-01 analogue: the reconciler runs but has stopped observing.

Argo CD shows `Unknown` when its repo-server cannot compare; here the
reconciler's heartbeat says when it last completed a pass. A live process
whose heartbeat is older than three intervals is hung (a deadlock, a call that
never returns), unless the home's disk is full (then it cannot save, and the
disk finding explains it) or another process holds the state database's write
lock (then that process is named). One whose passes keep failing says why in the
heartbeat. A dead or SIGSTOPped reconciler is the `platform-process` rule's
finding.
"""

from __future__ import annotations

from neuroscale.doctor.embedded_view import RECONCILER_EXPLAINS, engine, start_fix
from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.rules.host_disk import FULL, is_full
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    beat = engine(index).get("heartbeat")
    proc = next((p for p in index.host.get("processes") or [] if p.get("component") == "reconciler"), None)
    if not beat or proc is None or not proc.get("alive") or proc.get("state") in ("T", "t"):
        return []
    evidence = (f"heartbeat of pid {beat.get('pid')}: last observation {beat.get('observed_at')} "
                f"({beat.get('age_s')}s ago, every {beat.get('interval')}s)")
    if beat.get("error"):
        return [RULE.finding(
            obj=ObjectRef(kind="Process", name="reconciler"),
            message="the reconciler runs but its reconcile passes fail",
            evidence=f"{evidence}; last failure: {beat.get('error')}",
            root_cause="every pass stops at the same error, so statuses, routes and restarts are not kept current",
            fix=f"read the traceback in {proc.get('log_file') or 'the reconciler log'} and fix what it names "
            "(a full disk, a locked or damaged state.db)", explains_when=RECONCILER_EXPLAINS)]
    if not beat.get("stale"):
        return []
    if is_full(index):
        return [RULE.finding(
            obj=ObjectRef(kind="Process", name="reconciler"),
            message=f"the reconciler (pid {proc.get('pid')}) cannot save what it observes: {FULL}",
            evidence=f"{evidence}; {FULL} (see the disk-space finding)",
            root_cause="statuses, routes and the heartbeat are written under the home; with no space left every "
            "write fails, so statuses read Unknown although the reconciler runs",
            fix="free space on the disk (see the disk-space finding); the reconciler resumes by itself, so do not "
            "restart it", explains_when=RECONCILER_EXPLAINS)]
    state_db = index.host.get("state_db") or {}
    writer = state_db.get("writer") or {}
    if writer and writer.get("pid") != proc.get("pid"):
        return [RULE.finding(
            obj=ObjectRef(kind="Process", name="reconciler"),
            message=f"the reconciler (pid {proc.get('pid')}) waits for the state database: pid {writer.get('pid')} "
            "holds its write lock",
            evidence=f"{evidence}; /proc/locks: pid {writer.get('pid')} ({writer.get('command') or '?'}) holds the "
            f"write lock of {state_db.get('path')}",
            root_cause="another program keeps a write transaction open on the state database (a sqlite3 shell left "
            "in BEGIN, a backup tool), so the reconciler can save neither statuses nor its heartbeat; the portal's "
            "and the CLI's writes wait too",
            fix=f"kill {writer.get('pid')}  # or end its transaction there (COMMIT or ROLLBACK); the reconciler "
            "resumes by itself", explains_when=RECONCILER_EXPLAINS)]
    silent_for = (f"its last observation is stamped {beat.get('ahead_s')}s in the future (the clock moved back) "
                  "and it has not observed since" if beat.get("ahead_s") else
                  f"it has not observed anything for {beat.get('age_s')}s")
    return [RULE.finding(
        obj=ObjectRef(kind="Process", name="reconciler"),
        message=f"the reconciler (pid {proc.get('pid')}) is hung: {silent_for}",
        evidence=evidence + f"; /proc/{proc.get('pid')}/stat state {proc.get('state')}",
        root_cause="the process is alive but its loop does not complete (a deadlock or a call that never returns), "
        "so statuses read Unknown and nothing is restarted",
        fix=f"py-spy dump --pid {proc.get('pid')}  # shows where it is stuck\nkill {proc.get('pid')}\n"
        + start_fix(index, "reconciler"), explains_when=RECONCILER_EXPLAINS)]


RULE = Rule(
    id="reconciler-heartbeat", title="The reconciler observes", covers=("FM-01",),
    category=Category.CONTROL_PLANE, severity=Severity.ERROR, check=check, targets=("embedded",),
)
