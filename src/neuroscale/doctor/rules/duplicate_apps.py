"""FM-07: two Applications deploy the same source (a static one beside the ApplicationSet's).

They fight over the same objects (`SharedResourceWarning`) and one of them is
always a leftover: usually a per-app file the template still emits.
"""

from __future__ import annotations

from collections import defaultdict

from neuroscale.doctor.index import Obj, SnapshotIndex, dig, name_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    groups: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    for app in index.objects("Application"):
        repo = str(dig(app, "spec", "source", "repoURL") or "").rstrip("/").removesuffix(".git")
        path = str(dig(app, "spec", "source", "path") or "").strip("/")
        if repo and path:
            groups[(repo, path)].append(app)
    found = []
    for (repo, path), apps in groups.items():
        if len(apps) < 2:
            continue
        generated = [a for a in apps if dig(a, "metadata", "ownerReferences")]
        static = [a for a in apps if a not in generated] or apps[1:]
        names = ", ".join(name_of(a) for a in apps)
        for app in static:
            found.append(RULE.finding(
                obj=ref(app, "Application"),
                message=f"Applications {names} all deploy {path}",
                evidence=f"spec.source.repoURL={repo} spec.source.path={path} shared by {len(apps)} Applications",
                root_cause="a static Application file duplicates what the ApplicationSet already generates for "
                "this directory",
                fix=f"git rm infrastructure/apps/{name_of(app)}-app.yaml (and the template skeleton that emits it); "
                "commit and push",
            ))
    return found


RULE = Rule(
    id="duplicate-application", title="One Application per source", covers=("FM-07",),
    category=Category.APPLICATION_SYNC, severity=Severity.WARNING, check=check,
)
