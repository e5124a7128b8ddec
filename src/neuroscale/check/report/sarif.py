"""SARIF 2.1.0 report, for GitHub code scanning and other SARIF viewers."""

from __future__ import annotations

import json
from typing import Any

from neuroscale.check.lints import LINTS_BY_ID
from neuroscale.check.model import CheckReport
from neuroscale.findings import Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _rule(rule_id: str) -> dict[str, Any]:
    lint = LINTS_BY_ID.get(rule_id)
    text = lint.title if lint else rule_id
    rule: dict[str, Any] = {"id": rule_id, "shortDescription": {"text": text}}
    if lint:
        rule["properties"] = {"failureModes": list(lint.failure_modes)}
    return rule


def render_sarif(report: CheckReport) -> str:
    rule_ids = sorted({f.rule for f in report.findings})
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule, "ruleIndex": rule_ids.index(finding.rule), "level": _LEVEL[finding.severity],
            "message": {"text": f"{finding.message} — fix: {finding.fix}" if finding.fix else finding.message},
        }
        if finding.file:
            region = {"region": {"startLine": finding.line}} if finding.line else {}
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": finding.file}, **region}}]
        results.append(result)
    document = {
        "$schema": SCHEMA, "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "neuroscale-check", "rules": [_rule(r) for r in rule_ids]}},
                  "results": results,
                  "invocations": [{"executionSuccessful": not report.unevaluable, "exitCode": report.exit_code}]}],
    }
    return json.dumps(document, indent=2) + "\n"
