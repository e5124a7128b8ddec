"""FM-03: a change that never reaches the tracked branch because the remote rejects pushes.

Embedded: the bare repository is missing, damaged (a garbled HEAD, `main`
naming a commit it lacks), not writable, or has a hook that refuses updates;
merges then fail and the reconciler never sees the fix.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    git = index.host.get("git") or {}
    if not git:
        return []
    path = str(git.get("remote", ""))
    obj = ObjectRef(kind="GitRemote", name=path)
    if not git.get("exists"):
        problem, evidence = "is missing", f"{path}: no such directory"
        fix = (f"put the repository back at {path} (move it back, or `git clone --bare <your backup> {path}`); "
               "do not let `neuroscale up` create an empty one there: main without apps/ would prune every endpoint")
    elif git.get("read_error"):
        problem, evidence, fix = "is damaged: main cannot be read", str(git["read_error"]), str(git["read_fix"])
    elif git.get("push_error"):
        problem, evidence = "rejects pushes", str(git["push_error"])
        hooks = git.get("hooks") or []
        fix = (f"inspect {path}/hooks/{hooks[0]} (it refuses the update) and fix or remove it" if hooks
               else f"chmod -R u+w {path}  # the repository must be writable by this user")
    else:
        return []
    return [RULE.finding(
        obj=obj, message=f"the GitOps remote {problem}", evidence=evidence,
        root_cause="commits cannot reach `main` and the reconciler cannot read it, so merged changes (fixes "
        "included) never reach the model servers; what runs keeps running",
        fix=fix, explains_when=("SourceUnavailable",), category=Category.CONTROL_PLANE,
    )]


RULE = Rule(
    id="git-remote", title="GitOps remote accepts pushes", covers=("FM-03",),
    category=Category.APPLICATION_SYNC, severity=Severity.ERROR, check=check, targets=("embedded",),
)
