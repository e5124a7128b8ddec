"""`neuroscale crds pull|list`: fill and show the CRD cache `neuroscale check` reads automatically."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table

_PATH = typer.Argument(Path("."), help="GitOps repository whose pinned releases to look up.")
_CACHE = typer.Option(None, "--cache-dir", help="CRD cache (default: ~/.cache/neuroscale/crds).")


def _pull(
    path: Path = _PATH,
    from_dir: Optional[Path] = typer.Option(None, "--from", help="Read CRDs from DIR/<project>/[<release>/] "
                                                                  "instead of the network (offline, tests)."),
    mirror: str = typer.Option("", "--mirror", help="Fetch release artifacts through this proxy: "
                                                    "https://host/path becomes MIRROR/host/path."),
    cluster: bool = typer.Option(False, "--cluster", help="Take the CRDs the cluster serves (kubeconfig)."),
    kubeconfig: Optional[Path] = typer.Option(None, "--kubeconfig", help="With --cluster: kubeconfig file."),
    context: Optional[str] = typer.Option(None, "--context", help="With --cluster: kubeconfig context."),
    cache_dir: Optional[Path] = _CACHE,
    refresh: bool = typer.Option(False, "--refresh", help="Fetch again even when the cache holds a release."),
    output: OutputFormat = OUTPUT_OPTION,
) -> int:
    """Fetch the CRDs of every release the repository pins into the cache; exit 1 if one failed."""
    from neuroscale.check.crds.cache import default_cache
    from neuroscale.services.crds import CrdSourceChoice, pull_crds

    choice = CrdSourceChoice(directory=from_dir, mirror=mirror, kubeconfig=kubeconfig, context=context,
                             cluster=cluster or kubeconfig is not None or context is not None)
    results = pull_crds(path, cache_dir=cache_dir or default_cache(), choice=choice, refresh=refresh)
    rows = [{"project": r.pin.project, "release": r.pin.key, "pinnedIn": r.pin.where, "status": r.status,
             "crds": r.count, "detail": r.detail} for r in results]
    emit(rows, output, table=lambda: simple_table(
        f"CRD cache: {cache_dir or default_cache()}", ("project", "release", "pinned in", "status", "crds", "detail"),
        [(r["project"], r["release"], r["pinnedIn"], r["status"], str(r["crds"] or ""), r["detail"]) for r in rows]))
    if not results:
        typer.echo("no pinned release of a known project found (see `releases:` in neuroscale.yaml)", err=True)
    return 1 if any(r.status == "failed" for r in results) else 0


def _list(path: Path = _PATH, cache_dir: Optional[Path] = _CACHE, output: OutputFormat = OUTPUT_OPTION) -> int:
    """Show the releases the repository pins and whether the cache holds their CRDs."""
    from neuroscale.check.crds.cache import default_cache
    from neuroscale.services.crds import list_cached

    entries = list_cached(path, cache_dir=cache_dir or default_cache())
    rows = [{"project": pin.project, "release": pin.key, "pinnedIn": pin.where,
             "cached": entry.crds is not None, "problem": entry.problem, "path": str(entry.path)}
            for pin, entry in entries]
    emit(rows, output, table=lambda: simple_table(
        "pinned releases", ("project", "release", "pinned in", "cache"),
        [(r["project"], r["release"], r["pinnedIn"], "ok" if r["cached"] else str(r["problem"])) for r in rows]))
    return 0 if all(r["cached"] for r in rows) else 1


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="CRDs of the releases a repository pins, cached for `neuroscale check`.",
                        no_args_is_help=True)
    group.command("pull")(_pull)
    group.command("list")(_list)
    app.add_typer(group, name="crds")
