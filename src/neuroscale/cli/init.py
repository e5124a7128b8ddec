"""`neuroscale init DIR`: write (or update) the GitOps platform repository for cluster mode."""

from __future__ import annotations

from pathlib import Path

import typer

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(
    directory: Path = typer.Argument(..., help="Directory of the platform repository (created if missing)."),
    repo_url: str = typer.Option(..., "--repo-url", help="Clone URL of that repository, as Argo CD will fetch it."),
    domain: str = typer.Option(..., "--domain", help="Ingress domain you control (wildcard DNS), e.g. ml.acme.dev."),
    ingress: str = typer.Option("kourier", "--ingress", help="kourier (light, default) or istio."),
    policy_engine: str = typer.Option("vap", "--policy-engine",
                                      help="vap (built into the API server) or kyverno."),
    namespace: str = typer.Option("default", "--namespace", help="Namespace model endpoints are deployed into."),
    neuroscale_source: str = typer.Option(
        "", "--neuroscale-source",
        help="git+https://host/org/neuroscale@<commit> the CI workflow installs NeuroScale from "
             "(default: the commit this NeuroScale was installed from, when it was installed from git)."),
    kubernetes_version: str = typer.Option(
        "", "--kubernetes-version", help="Kubernetes release of the target cluster, e.g. 1.31 (checked against "
                                         "the pinned releases)."),
    previews: bool = typer.Option(False, "--previews", help="Preview the endpoint of each open pull request "
                                  "carrying the preview label (NeuroScale labels its own, a maintainer a fork's) in "
                                  "the neuroscale-previews namespace (Argo CD's pull-request generator; GitHub only)."),
    preview_ttl_hours: int | None = typer.Option(
        None, "--preview-ttl-hours", help="Delete a preview this many hours after it was created (needs --previews "
                                           "and --policy-engine kyverno; default: it lives until its PR closes)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """Generate the platform repository: Argo CD apps, serving stack, runtimes, policies, Backstage, CI."""
    from neuroscale.platform.ci import installed_source
    from neuroscale.platform.generate import generate
    from neuroscale.platform.options import InitOptions
    from neuroscale.platform.versions import KUBERNETES_DEFAULT_MINOR
    from neuroscale.platform.writer import apply, plan

    options = InitOptions(repo_url=repo_url, domain=domain, ingress=ingress,  # type: ignore[arg-type]
                          policy_engine=policy_engine, namespace=namespace, previews=previews,  # type: ignore[arg-type]
                          preview_ttl_hours=preview_ttl_hours,
                          neuroscale_source=neuroscale_source or installed_source(),
                          kubernetes_version=kubernetes_version or f"1.{KUBERNETES_DEFAULT_MINOR}")
    files = generate(options)
    changes = plan(directory, files)
    if not dry_run:
        apply(directory, files, changes)
    visible = [c for c in changes if c.action != "unchanged"]
    summary = {"directory": str(directory), "dryRun": dry_run,
               "changes": [c.to_dict() for c in visible],
               "unchanged": sum(1 for c in changes if c.action == "unchanged")}
    title = ("would change" if dry_run else "changed") + f" in {directory}"
    emit(summary, output, table=lambda: simple_table(
        f"{title} ({summary['unchanged']} files unchanged)", ["action", "path", "note"],
        [(c.action, c.path, c.reason) for c in visible]))
