"""`neuroscale pr list|show|approve|merge|close|protection`: thin commands over the pull-request services.

Also renders a pull request for people (checks with ✓/✗ and each failure's
fix, approvals, checks of earlier heads), which `neuroscale endpoint` reuses
so both print the same thing. Changes act as the signed-in CLI user
(`NEUROSCALE_TOKEN`, else the home's admin credential).
"""

from __future__ import annotations

from typing import Any

import typer

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, printable, simple_table
from neuroscale.gitops.provider import CheckResult, PullRequest
from neuroscale.home import Home
from neuroscale.services.context import PlatformContext
from neuroscale.services.identity import cli_actor
from neuroscale.services.previews import PreviewInfo, preview_info
from neuroscale.services.observe import wait_for_rollout
from neuroscale.services.pulls import (
    approve_pull_request,
    close_pull_request,
    show_pull_request,
    list_pull_requests,
    merge_pull_request,
)
from neuroscale.services.review import Review, review_of, review_rules, set_required_approvals

HOME_OPTION = typer.Option(None, "--home", help="Platform home (default ./.neuroscale, env NEUROSCALE_HOME).",
                           show_default=False)
REMOTE_OPTION = typer.Option(
    None, "--remote", envvar="NEUROSCALE_REMOTE", show_default=False,
    help="Cluster mode: the GitOps repository's git remote (branches are pushed there; a github.com remote "
         "also gets a pull request when NEUROSCALE_GITHUB_TOKEN is set).")
MARKS = {"pass": "✓", "fail": "✗", "error": "✗", "pending": "…"}


def open_platform(home: str | None, *, create: bool = False, remote: str | None = None) -> PlatformContext:
    return PlatformContext.open(Home.resolve(home), create=create, remote=remote)


def checks_summary(pr: PullRequest) -> str:
    if not pr.checks:
        return "not run"
    return " ".join(f"{MARKS[c.status]} {c.name}" for c in pr.checks)


def finding_lines(finding: dict[str, Any]) -> list[str]:
    mark = "✗" if finding.get("severity") == "error" else "!"
    where = ":".join(p for p in (finding.get("file", ""), finding.get("field_path", "")) if p)
    lines = [" ".join(p for p in (f"      {mark}", finding.get("rule", ""), where, "—", finding["message"]) if p)]
    if finding.get("fix"):
        lines.append(f"        fix: {finding['fix']}")
    return lines


def _check_lines(checks: tuple[CheckResult, ...], *, findings: bool) -> list[str]:
    lines = []
    for check in checks:
        lines.append(f"    {MARKS[check.status]} {check.name}" + ("" if check.passed else f" ({check.status})"))
        if findings:
            for finding in check.findings:
                lines += finding_lines(finding)
    return lines


def _review_line(pr: PullRequest, review: Review) -> str:
    given = ", ".join(review.approved_by) or "none"
    stale = sorted({a.user for a in pr.approvals} - set(pr.approved_by))
    earlier = f"; earlier heads approved by {', '.join(stale)}" if stale else ""
    return f"  approvals: {len(review.approved_by)} of {review.required} required ({given}){earlier}"


def describe(pr: PullRequest, review: Review | None = None, preview: PreviewInfo | None = None) -> str:
    """The pull request as people read it (on a terminal: its checks quote model errors, see `printable`)."""
    header = (f"Pull request #{pr.number} ({pr.state}): {pr.title}" if pr.number
              else f"Branch {pr.branch} pushed to the remote (no pull-request API there): {pr.title}")
    lines = [header,
             f"  branch:   {pr.branch}  head {pr.head_sha[:7]}  base {pr.base_sha[:7]}",
             f"  author:   {pr.author}   endpoint {pr.endpoint} ({pr.action})   updated {pr.updated_at}"]
    if pr.merged_sha:
        lines.append(f"  merged:   {pr.merged_sha[:7]} on main" + (f" by {pr.merged_by}" if pr.merged_by else ""))
    if review is not None:
        lines.append(_review_line(pr, review))
    if preview is not None and preview.state == "Unavailable":
        lines.append(f"  preview:  {preview.name} {preview.state}: {preview.message}")
    elif preview is not None:
        lines += [f"  preview:  {preview.name} {preview.state}: {preview.url}  (path {preview.path_url})",
                  *([f"            {preview.message}"] if preview.message else []),
                  f"            try it: {preview.request}"]
    lines.append("  checks:" + ("   not run" if not pr.checks else ""))
    lines += _check_lines(pr.checks, findings=True)
    for run in pr.earlier_check_runs:
        lines.append(f"  earlier head {run.head_sha[:7]} (checked {run.ran_at}):")
        lines += _check_lines(run.checks, findings=False)
    if pr.state == "open" and not pr.checks_passed:
        lines.append("  next:     fix the failures above and propose the endpoint again to update this change")
    elif pr.state == "open" and review is not None and review.missing:
        lines.append(f"  next:     an approver runs `neuroscale pr approve {pr.number}`")
    elif pr.state == "open":
        lines.append(f"  next:     neuroscale pr merge {pr.number}" if pr.number else
                     f"  next:     open a pull request from {pr.branch} into main on your git host")
    return printable("\n".join(lines))


def emit_pr(ctx: PlatformContext, pr: PullRequest, fmt: OutputFormat) -> None:
    review = review_of(ctx, pr) if pr.number and ctx.provider.reviews_locally else None
    preview = preview_info(ctx, pr) if ctx.provider.reviews_locally else None
    if fmt is OutputFormat.table:
        typer.echo(describe(pr, review, preview))
    else:
        emit({**pr.to_dict(), "review": review.to_dict() if review else None,
              "preview": preview.to_dict() if preview else None}, fmt)


def _rules_argument(text: str | None) -> int | None:
    if text is None or text == "auto":
        return None
    if not text.isdigit():
        raise typer.BadParameter(f"{text!r} is neither a whole number nor `auto`")
    return int(text)


def register(app: typer.Typer) -> None:
    pr_app = typer.Typer(help="Pull requests on the GitOps repository: list, show, approve, merge, close.",
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
        """Show a pull request with its checks, approvals and the checks of earlier heads."""
        with open_platform(home, remote=remote) as ctx:
            emit_pr(ctx, show_pull_request(ctx, number, actor=cli_actor(ctx)), output)

    @pr_app.command("approve")
    def approve(number: int = typer.Argument(..., help="Pull request number."), home: str | None = HOME_OPTION,
                output: OutputFormat = OUTPUT_OPTION) -> None:
        """Approve the pull request's current head (approvers and admins; not your own)."""
        with open_platform(home) as ctx:
            emit_pr(ctx, approve_pull_request(ctx, number, actor=cli_actor(ctx)), output)

    @pr_app.command("merge")
    def merge(number: int = typer.Argument(..., help="Pull request number."),
              wait: bool = typer.Option(False, "--wait", help="Then wait until the endpoint is Ready (or gone, "
                                        "for a deletion); exit 1 if it fails, 2 on timeout."),
              timeout: float = typer.Option(120.0, "--timeout", help="Seconds --wait waits."),
              home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
        """Merge into main (refused while checks fail or approvals are missing); the endpoint then goes live."""
        with open_platform(home, remote=remote) as ctx:
            merged = merge_pull_request(ctx, number, actor=cli_actor(ctx))
            emit_pr(ctx, merged, output)
            if wait and merged.merged_sha:
                wait_for_rollout(ctx, merged.endpoint, commit=merged.merged_sha,
                                 deleting=merged.action == "delete", timeout_s=timeout)
                if output is OutputFormat.table:
                    typer.echo(f"  rolled out: {merged.endpoint} is "
                               f"{'removed' if merged.action == 'delete' else 'Ready'}")

    @pr_app.command("close")
    def close(number: int = typer.Argument(..., help="Pull request number."), home: str | None = HOME_OPTION, remote: str | None = REMOTE_OPTION,
              output: OutputFormat = OUTPUT_OPTION) -> None:
        """Close without merging and delete its branch."""
        with open_platform(home, remote=remote) as ctx:
            emit_pr(ctx, close_pull_request(ctx, number, actor=cli_actor(ctx)), output)

    @pr_app.command("protection")
    def protection(required_approvals: str | None = typer.Option(
                       None, "--required-approvals", show_default=False,
                       help="Approvals a pull request needs from someone other than its author before merge: "
                            "a number, or `auto` (0 with one user, 1 with more). Admins only."),
                   home: str | None = HOME_OPTION, output: OutputFormat = OUTPUT_OPTION) -> None:
        """Show (or, with --required-approvals, set) the review rule for merging into main."""
        with open_platform(home) as ctx:
            actor = cli_actor(ctx)
            rules = (review_rules(ctx) if required_approvals is None
                     else set_required_approvals(ctx, _rules_argument(required_approvals), actor=actor))
        emit(rules.to_dict(), output, table=lambda: f"merging into main needs {rules}")
