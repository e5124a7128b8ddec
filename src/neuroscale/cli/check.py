"""`neuroscale check [PATH] [--base REF]`: the CI gate, as a thin command.

Exit codes: 0 only when no error-severity finding; 1 when there is one; 2 when
the check could not do its job (unreadable input, a policy it cannot evaluate,
any internal error). Every failure of the tool itself — including one nobody
anticipated — is turned into exit 2 with a one-line message: a crash must
never read as green, and users never see a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

from neuroscale.errors import NeuroScaleError, ToolError
from neuroscale.findings import Severity
from neuroscale.yamlio import dump as yaml_text


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neuroscale" / "schemas"


def check(
    path: Path = typer.Argument(Path("."), help=(
        "GitOps repository (or a directory inside one). An Argo CD source applies its files when the source's "
        "repoURL is one of its git remotes or is listed under repoURLs in neuroscale.yaml (when neither names "
        "it, every git source does); a chart source never does.")),
    base: str = typer.Option(None, "--base", help="Git ref to compare with: cost delta, rendered diff, changed files only."),
    crd_dir: list[Path] = typer.Option([], "--crd-dir", help="Directory of CRD manifests (repeatable)."),
    kubernetes_version: str = typer.Option(None, "--kubernetes-version", help="Kubernetes release of the built-in schemas (default: newest bundled)."),
    fmt: str = typer.Option("text", "--format", "-f", "-o",
                            help="text (or table), json, yaml, markdown, sarif or junit."),
    output: Path = typer.Option(None, "--output", help="Write the report to this file instead of stdout."),
    no_schema_severity: str = typer.Option("warning", "--no-schema-severity", help="Severity of 'not validated: no schema': warning or error."),
    price_table: Path = typer.Option(None, "--price-table", help="YAML/JSON price table for the cost delta."),
    all_files: bool = typer.Option(False, "--all-files", help="With --base: report findings in unchanged files too."),
    max_file_size: int = typer.Option(8 * 1024 * 1024, "--max-file-size", help="Largest file (bytes) that is read."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Cache of compiled schemas, builds and per-object verdicts (default: ~/.cache/neuroscale/schemas)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the compiled-schema cache."),
    policies: list[Path] = typer.Option([], "--policies", help="Directory of policies deployed from elsewhere (repeatable)."),
    bundled_scope: str = typer.Option("governed", "--bundled-scope", help="governed (InferenceServices and the namespaces in neuroscale.yaml) or all."),
    no_render: bool = typer.Option(False, "--no-render", help="Judge kustomization files as written (do not build them)."),
    crd_cache: Path = typer.Option(None, "--crd-cache", help="CRD cache of `neuroscale crds pull` (default: ~/.cache/neuroscale/crds)."),
    online: bool = typer.Option(False, "--online", help="Use the network: resolve every image tag in its registry, fetch remote kustomize resources."),
) -> int:
    """Check a GitOps repository: parse, schemas, policies, lints; against --base also cost delta and rendered diff."""
    try:
        from neuroscale.check.crds.cache import default_cache
        from neuroscale.check.model import BundledScope, CheckOptions, Limits, OutputFormat
        from neuroscale.check.runner import run_check

        as_yaml = fmt == "yaml"
        try:
            output_format = OutputFormat({"table": "text", "yaml": "json"}.get(fmt, fmt))
            severity = Severity(no_schema_severity)
            scope = BundledScope(bundled_scope)
        except ValueError as exc:
            raise ToolError(str(exc), fix="--format text|table|json|yaml|markdown|sarif|junit; "
                                          "--no-schema-severity warning|error; --bundled-scope governed|all") from None
        if severity is Severity.INFO:
            raise ToolError("--no-schema-severity must be warning or error", fix="use warning or error")
        options = CheckOptions(
            kubernetes_version=kubernetes_version, crd_dirs=tuple(crd_dir), no_schema_severity=severity,
            price_table=price_table, all_files=all_files, limits=Limits(max_file_bytes=max_file_size),
            cache_dir=None if no_cache else (cache_dir or default_cache_dir()), policy_dirs=tuple(policies),
            bundled_scope=scope, render=not no_render, crd_cache=crd_cache or default_cache(), online=online,
            fork=True)
        report = run_check(path, base=base, options=options)
        from neuroscale.check.report import render  # rich and the formats: once there is a report
        from neuroscale.check.report.summary import verdict

        text = render(report, output_format, color=output is None and sys.stdout.isatty())
        if as_yaml:
            text = yaml_text(json.loads(text))
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"{verdict(report)} (report written to {output})", err=True)
    except NeuroScaleError as exc:
        raise ToolError(f"check could not run: {exc.message}", where=exc.where, fix=exc.fix) from None
    except OSError as exc:
        raise ToolError(f"check could not read or write a file: {exc}", fix="check the paths and permissions") from None
    except Exception as exc:  # noqa: BLE001 - any crash must become exit 2, never a pass or a traceback
        raise ToolError(f"check crashed: {type(exc).__name__}: {exc}",
                        fix="report this bug with the command line you ran") from None
    return report.exit_code


def register(app: typer.Typer) -> None:
    app.command("check")(check)
