"""Pick the target (repository, saved snapshot, cluster or embedded platform), read it, diagnose it.

One entry point so every adapter (CLI today, portal later) diagnoses the same way.
"""

from __future__ import annotations

from pathlib import Path

from neuroscale.redact import redact
from neuroscale.cluster.snapshot import load_snapshot, read_cluster_snapshot, save_snapshot
from neuroscale.doctor.runner import Diagnosis, diagnose
from neuroscale.home import Home


def diagnose_target(
    *, home: Path | None = None, repo: Path | None = None, kubeconfig: Path | None = None,
    context: str | None = None, snapshot: Path | None = None, save_to: Path | None = None,
    since: float | None = None,
) -> Diagnosis:
    """`repo` > `snapshot` > cluster (`kubeconfig`/`context`) > the embedded platform at `home`."""
    if repo is not None:
        from neuroscale.doctor.repo import diagnose_repo

        return diagnose_repo(repo)
    if snapshot is not None:
        state = load_snapshot(snapshot)
    elif kubeconfig is not None or context is not None:
        state = read_cluster_snapshot(kubeconfig=kubeconfig, context=context)
    else:
        from neuroscale.doctor.embedded import DEFAULT_SINCE_S, read_embedded_snapshot

        state = read_embedded_snapshot(Home.resolve(home), since=since or DEFAULT_SINCE_S)
    state = redact(state)  # evidence quotes logs and messages: diagnose what a support bundle would hold
    if save_to is not None:
        save_snapshot(state, save_to)
    return diagnose(state)
