"""Self-heal that gave up: the last automated sync failed and its retries are spent.

Argo CD does not retry an automated sync of the same revision once the retry
budget is used up; the Application sits OutOfSync until someone syncs by hand
or pushes a new commit, while the UI still says "self-heal: enabled".
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig, name_of
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for app in index.objects("Application"):
        automated = dig(app, "spec", "syncPolicy", "automated")
        op = dig(app, "status", "operationState") or {}
        if automated is None or op.get("phase") not in ("Failed", "Error"):
            continue
        limit = dig(app, "spec", "syncPolicy", "retry", "limit")
        retries = int(op.get("retryCount", 0) or 0)
        if limit is not None and int(limit) >= 0 and retries < int(limit):
            continue  # still retrying
        revision = dig(op, "syncResult", "revision") or dig(op, "operation", "sync", "revision") or ""
        found.append(RULE.finding(
            obj=ref(app, "Application"),
            message=f"Application {name_of(app)}: automated sync failed and stopped retrying",
            evidence=f"status.operationState.phase={op.get('phase')}, retryCount={retries}, "
            f"spec.syncPolicy.retry.limit={limit if limit is not None else '<unset>'}, "
            f"selfHeal={bool((automated or {}).get('selfHeal'))}; message: {op.get('message', '')}",
            root_cause="Argo CD does not re-attempt an automated sync of the same revision after the retry budget "
            "is spent, so self-heal is silently idle until a new commit",
            fix=f"fix the cause named in the message, then: argocd app sync {name_of(app)}  # or\n"
            f"kubectl -n argocd patch application {name_of(app)} --type merge -p "
            f"'{{\"operation\":{{\"sync\":{{\"revision\":\"{revision or 'HEAD'}\"}}}}}}'\n"
            "# and give the Application a retry policy: spec.syncPolicy.retry: {limit: 5, backoff: "
            "{duration: 10s, factor: 2, maxDuration: 3m}}",
        ))
    return found


RULE = Rule(
    id="self-heal-stopped", title="Automated sync still retrying", covers=("X-SELFHEAL",),
    category=Category.APPLICATION_SYNC, severity=Severity.ERROR, check=check,
)
