"""`neuroscale pr list|show|merge|close`: thin commands over the pull-request services.

Also renders a pull request for people (checks with ✓/✗ and each failure's
fix), which `neuroscale endpoint` reuses so both print the same thing.
"""

from __future__ import annotations

from typing import Any

import typer

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table
from neuroscale.gitops.provider import PullRequest
from neuroscale.home import Home
from neuroscale.services.context import Author, PlatformContext, default_author
from neuroscale.services.pulls import close_pull_request, get_pull_request, list_pull_requests, merge_pull_request

HOME_OPTION = typer.Option(None, "--home", help="Platform home (default ./.neuroscale, env NEUROSCALE_HOME).",
                           show_default=False)
REMOTE_OPTION = typer.Option(
    None, "--remote", envvar="NEUROSCALE_REMOTE", show_default=False,
    help="Cluster mode: the GitOps repository's git remote (branches are pushed there; a github.com remote "
         "also gets a pull request when NEUROSCALE_GITHUB_TOKEN is set).")
AUTHOR_OPTION = typer.Option(None, "--author", show_default=False,
                             help="'Name <email>' or a name (default: git config user.name, else $USER).")
_MARK = {"pass": "✓", "fail": "✗", "error": "✗"}


def open_platform(home: str | None, *, create: bool = False, remote: str | None = None) -> PlatformContext:
    return PlatformContext.open(Home.resolve(home), create=create, remote=remote)


def author_from(option: str | None) -> Author:
    return Author.parse(option) if option else default_author()


def checks_summary(pr: PullRequest) -> str:
    if not pr.checks:
        return "not run"
    return " ".join(f"{_MARK[c.status]} {c.name}" for c in pr.checks)


def _finding_lines(finding: dict[str, Any]) -> list[str]:
    mark = "✗" if finding.get("severity") == "error" else "!"
    where = ":".join(p for p in (finding.get("file", ""), finding.get("field_path", "")) if p)
    lines = [" ".join(p for p in (f"      {mark}", finding.get("rule", ""), where, "—", finding["message"]) if p)]
    if finding.get("fix"):
        lines.append(f"        fix: {finding['fix']}")
    return lines


def describe(pr: PullRequest) -> str:
    """The pull request as people read it."""
    header = (f"Pull request #{pr.number} ({pr.state}): {pr.title}" if pr.number
              else f"Branch {pr.branch} pushed to the remote (no pull-request API there): {pr.title}")
    lines = [header,
             f"  branch:   {pr.branch}  head {pr.head_sha[:7]}  base {pr.base_sha[:7]}",
             f"  author:   {pr.author}   endpoint {pr.endpoint} ({pr.action})   updated {pr.updated_at}"]
    if pr.merged_sha:
        lines.append(f"  merged:   {pr.merged_sha[:7]} on main")
    lines.append("  checks:" + ("   not run" if not pr.checks else ""))
    for check in pr.checks:
        lines.append(f"    {_MARK[check.status]} {check.name}" + ("" if check.passed else f" ({check.status})"))
        for finding in check.findings:
            lines += _finding_lines(finding)
    if pr.state == "open" and not pr.checks_passed:
        lines.append("  next:     fix the failures above and propose the endpoint again to update this change")
    elif pr.state == "open":
        lines.append(f"  next:     neuroscale pr merge {pr.number}" if pr.number else
                     f"  next:     open a pull request from {pr.branch} into main on your git host")
    return "\n".join(lines)


def emit_pr(pr: PullRequest, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.table:
        typer.echo(describe(pr))
    else:
        emit(pr.to_dict(), fmt)


def register(app: typer.Typer) -> None:
    pr_app = typer.Typer(help="Pull requests on the GitOps repository: list, show, merge, close.",
                         no_args_is_help=True)
    app.add_typer(pr_app, name="pr")

    @pr_app.command("list")
    def list_(state: str | None = typer.Option(None, "--state", help="open, merged or closed (default: all)."),
              home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
        """List pull requests, newest first."""
        with open_platform(home, remote=remote) as ctx:
            prs = list_pull_requests(ctx, state=state)
        rows = [(f"#{p.number}", p.title, p.state, p.branch, p.author, checks_summary(p), p.updated_at)
                for p in prs]
        emit([p.to_dict() for p in prs], output, table=lambda: simple_table(
            "Pull requests", ("#", "title", "state", "branch", "author", "checks", "updated"), rows))

    @pr_app.command("show")
    def show(number: int = typer.Argument(..., help="Pull request number."), home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION,
             output: OutputFormat = OUTPUT_OPTION) -> None:
        """Show a pull request with its checks."""
        with open_platform(home, remote=remote) as ctx:
            emit_pr(get_pull_request(ctx, number), output)

    @pr_app.command("merge")
    def merge(number: int = typer.Argument(..., help="Pull request number."), author: str | None = AUTHOR_OPTION,
              home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
        """Merge into main (refused while checks fail); the endpoint then goes live."""
        with open_platform(home, remote=remote) as ctx:
            emit_pr(merge_pull_request(ctx, number, author=author_from(author)), output)

    @pr_app.command("close")
    def close(number: int = typer.Argument(..., help="Pull request number."), home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION,
              output: OutputFormat = OUTPUT_OPTION) -> None:
        """Close without merging and delete its branch."""
        with open_platform(home, remote=remote) as ctx:
            emit_pr(close_pull_request(ctx, number), output)
