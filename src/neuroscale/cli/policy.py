"""`neuroscale policy export|test|list`: thin commands over `neuroscale.policy`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from neuroscale.cli.output import OUTPUT_OPTION, OutputFormat, emit, simple_table


def _export(
    fmt: str = typer.Option("vap", "--format", "-f", help="vap (ValidatingAdmissionPolicy + bindings) or kyverno"),
    output_dir: Optional[Path] = typer.Option(None, "--output-dir", help="write one file per object here"),
    no_local_paths: bool = typer.Option(False, "--no-local-paths",
                                        help="refuse plain local storage paths (clusters cannot read them)"),
    cpu_ceiling: str = typer.Option("4", help="per-endpoint cpu limit ceiling"),
    memory_ceiling: str = typer.Option("16Gi", help="per-endpoint memory limit ceiling"),
) -> None:
    """Write the bundled policies as cluster objects (stdout, or files with --output-dir)."""
    from neuroscale.policy.bundled import BundledOptions
    from neuroscale.policy.export import export_policies, write_export
    from neuroscale.yamlio import dump_all

    options = BundledOptions(cpu_limit_ceiling=cpu_ceiling, memory_limit_ceiling=memory_ceiling,
                             allow_local_paths=not no_local_paths)
    documents = export_policies(fmt, options=options)  # type: ignore[arg-type]
    if output_dir is None:
        typer.echo(dump_all(documents), nl=False)
        return
    for path in write_export(documents, output_dir):
        typer.echo(str(path))


def _test(
    directory: Path = typer.Argument(..., help="directory holding kyverno-test.yaml files (searched recursively)"),
    file_name: str = typer.Option("kyverno-test.yaml", "--file-name", help="test manifest file name"),
    fail_only: bool = typer.Option(False, "--fail-only", help="show only failing expectations"),
    output: OutputFormat = OUTPUT_OPTION,
) -> int:
    """Run Kyverno-format policy tests; exit 0 all hold, 1 some fail, 2 could not run (or some not evaluated)."""
    from neuroscale.policy.testrunner import run_tests

    report = run_tests(directory, file_name=file_name)
    cases = [c for c in report.cases if not (fail_only and c.ok)]
    data = {
        "tests": report.tests, "errors": report.errors, "exitCode": report.exit_code,
        "passed": sum(c.ok for c in report.cases),
        "failed": sum(not c.ok and not c.skipped for c in report.cases),
        "skipped": sum(bool(c.skipped) for c in report.cases),
        "results": [{"test": c.test, "policy": c.policy, "rule": c.rule, "resource": c.resource,
                     "expected": c.expected, "actual": c.actual, "ok": c.ok, "skipped": c.skipped}
                    for c in cases],
    }
    rows = [(c.policy, c.rule, c.resource, c.expected, c.actual,
             f"SKIPPED ({c.skipped})" if c.skipped else "Pass" if c.ok else "FAIL") for c in cases]
    emit(data, output, table=lambda: simple_table(
        f"{data['passed']} passed, {data['failed']} failed, {data['skipped']} not evaluated, "
        f"{len(report.errors)} errors",
        ("policy", "rule", "resource", "expected", "actual", "result"), rows))
    for error in report.errors:
        typer.echo(f"error: {error}", err=True)
    return report.exit_code


def _list(
    repo: Optional[Path] = typer.Option(None, "--repo", help="also load <repo>/policies (adds/overrides)"),
    output: OutputFormat = OUTPUT_OPTION,
) -> None:
    """List the policies `neuroscale check` and admission evaluate."""
    from neuroscale.policy.bundled import bundled_policy_documents
    from neuroscale.policy.policyset import layer
    from neuroscale.policy.repository import load_repository_policies

    bundled = bundled_policy_documents()
    names = {d["metadata"]["name"] for d in bundled}
    own = load_repository_policies(repo) if repo else []
    rows = [{"name": str((d.get("metadata") or {}).get("name")), "kind": str(d.get("kind")),
             "source": "repository" if any(d is o for o in own) else "bundled",
             "overrides": any(d is o for o in own) and (d.get("metadata") or {}).get("name") in names}
            for d in layer(bundled, own)]
    emit(rows, output, table=lambda: simple_table(
        "policies", ("name", "kind", "source", "overrides bundled"),
        [(r["name"], r["kind"], r["source"], "yes" if r["overrides"] else "") for r in rows]))


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Guardrail policies: export for a cluster, run policy tests, list.",
                        no_args_is_help=True)
    group.command("export")(_export)
    group.command("test")(_test)
    group.command("list")(_list)
    app.add_typer(group, name="policy")
