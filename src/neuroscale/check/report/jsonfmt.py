"""JSON report: the whole `CheckReport` as one machine-readable document."""

from __future__ import annotations

import json
from typing import Any

from neuroscale.check.model import CheckReport
from neuroscale.findings import Severity


def report_dict(report: CheckReport) -> dict[str, Any]:
    return {
        "tool": "neuroscale check",
        "root": report.root,
        "base": report.base,
        "baseSha": report.base_sha,
        "exitCode": report.exit_code,
        "summary": {
            "errors": report.errors, "warnings": report.warnings,
            "info": sum(1 for f in report.findings if f.severity is Severity.INFO),
            "files": report.checked_files, "objects": report.checked_objects,
        },
        "findings": [f.to_dict() for f in report.findings],
        "changedFiles": list(report.changed_files),
        "skipped": dict(report.skipped),
        "cost": report.cost.to_dict() if report.cost is not None else None,
        "diff": [change.to_dict() for change in report.diff],
    }


def render_json(report: CheckReport) -> str:
    return json.dumps(report_dict(report), indent=2, default=str) + "\n"
