"""`neuroscale crds pull|list`: the CRDs of the releases a repository pins, in the local cache.

Why a use case: it joins three packages — the repository reader and cache
(`check`), the release artifacts over HTTPS, and a live cluster (`cluster`,
through the official client) — and the CLI must stay a thin adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuroscale.check.crds import cache
from neuroscale.check.crds.fetch import CrdSource, PullResult, pull
from neuroscale.check.crds.pins import Pin, repository_pins
from neuroscale.check.loader import build_view, read_tree
from neuroscale.check.model import Limits
from neuroscale.check.repoconfig import read_config
from neuroscale.errors import InvalidInput

CRD_LIST_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


@dataclass(frozen=True)
class CrdSourceChoice:
    """Where `pull` reads from: a directory, a cluster context, or (default) the release artifacts."""

    directory: Path | None = None
    mirror: str = ""
    kubeconfig: Path | None = None
    context: str | None = None
    cluster: bool = False


def repo_pins(path: Path) -> list[Pin]:
    """The releases the repository at `path` pins (kustomizations are read, not built)."""
    limits = Limits()
    files, _ = read_tree(path, limits=limits)
    view, _ = build_view(files, limits=limits)
    config, problems = read_config(view)
    if problems:
        raise InvalidInput(problems[0].message, where=problems[0].location, fix=problems[0].fix)
    return repository_pins(view, config)


def list_cached(path: Path, *, cache_dir: Path) -> list[tuple[Pin, cache.Entry]]:
    return [(pin, cache.read(cache_dir, pin)) for pin in repo_pins(path)]


def pull_crds(path: Path, *, cache_dir: Path, choice: CrdSourceChoice, refresh: bool = False) -> list[PullResult]:
    pins = repo_pins(path)
    if choice.directory is not None:
        from neuroscale.check.crds.fetch import DirectorySource

        if not choice.directory.is_dir():
            raise InvalidInput(f"{choice.directory} is not a directory", where="--from",
                               fix="pass a directory laid out <project>/[<release>/]*.yaml")
        return pull(pins, cache_dir=cache_dir, source=DirectorySource(choice.directory), refresh=refresh)
    if choice.cluster:
        return _from_cluster(pins, cache_dir=cache_dir, choice=choice, refresh=refresh)
    import httpx

    from neuroscale.check.crds.fetch import TIMEOUT_S, HttpSource

    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=True) as client:
        source: CrdSource = HttpSource(client, mirror=choice.mirror)
        return pull(pins, cache_dir=cache_dir, source=source, refresh=refresh)


def _from_cluster(pins: list[Pin], *, cache_dir: Path, choice: CrdSourceChoice, refresh: bool) -> list[PullResult]:
    from neuroscale.check.crds.fetch import ClusterSource
    from neuroscale.cluster.kube import connect

    kube = connect(kubeconfig=choice.kubeconfig, context=choice.context)
    try:
        items = kube.items(CRD_LIST_PATH)
    finally:
        kube.close()
    if items is None:
        raise InvalidInput("the cluster does not serve CustomResourceDefinitions", where=CRD_LIST_PATH,
                           fix="check the context points at a Kubernetes API server")
    return pull(pins, cache_dir=cache_dir, source=ClusterSource(kube.context, items), refresh=refresh)
