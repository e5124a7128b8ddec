"""FM-01 (and the FM-22 cascade): Argo CD's repo-server is down, so Applications are `Unknown`.

`Unknown` means the comparison engine cannot run, not that the manifests are
wrong. This finding comes before any sync error and explains every Application
stuck in `Unknown` or failing with `rpc error: code = Unavailable`.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.k8s import container_statuses, pod_problem, pod_ready, ref, waiting
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

REPO_SERVER_LABEL = ("app.kubernetes.io/name", "argocd-repo-server")


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    pods = index.with_label("Pod", *REPO_SERVER_LABEL)
    broken = [p for p in pods if not pod_ready(p)]
    if pods and not broken:
        return []
    if not pods:
        deployment = index.get("Deployment", "argocd", "argocd-repo-server")
        if deployment is None:
            return []
        return [_finding(ref(deployment, "Deployment"), "deployment argocd/argocd-repo-server has no pods", "")]
    pod = broken[0]
    restarts = sum(int(s.get("restartCount", 0)) for s in container_statuses(pod))
    fatal = next((line for key, text in index.logs_matching(f"argocd/{pod['metadata']['name']}/")
                  for line in text.splitlines() if "level=fatal" in line), "")
    evidence = f"{pod_problem(pod) or 'not Ready'}, restartCount={restarts}" + (f"; log: {fatal}" if fatal else "")
    reason = next((waiting(s)[0] for s in container_statuses(pod) if waiting(s)[0]), "not Ready")
    return [_finding(ref(pod, "Pod"), f"argocd-repo-server is not Ready ({reason}, {restarts} restarts)", evidence)]


def _finding(obj: ObjectRef, message: str, evidence: str) -> DoctorFinding:
    return RULE.finding(
        obj=obj,
        message=message,
        evidence=evidence or message,
        root_cause="the repo-server renders manifests for every Application; while it is down no comparison runs, "
        "so Applications show Unknown (a control-plane failure, not a manifest error)",
        fix="kubectl -n argocd logs deploy/argocd-repo-server --previous --tail=20\n"
        "kubectl -n argocd rollout restart deploy/argocd-repo-server\n"
        "kubectl -n argocd rollout status deploy/argocd-repo-server --timeout=120s\n"
        "kubectl -n argocd patch application <app> --type merge "
        "-p '{\"metadata\":{\"annotations\":{\"argocd.argoproj.io/refresh\":\"hard\"}}}'",
        explains_when=("status.sync.status=Unknown", "code = Unavailable", "argocd-repo-server"),
    )


RULE = Rule(
    id="argocd-repo-server", title="Argo CD repo-server healthy", covers=("FM-01",),
    category=Category.CONTROL_PLANE, severity=Severity.ERROR, check=check,
)
