"""Embedded FM-20: a model-server process crash-loops, and why.

The server prints one `ModelLoadFailed: <reason + fix>` line before exiting;
that line (from the revision's log or the endpoint's condition) names the
cause: a missing model file (or one outside the allowed model roots, which the
server reports the same way on purpose), a format mismatch, or an import error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neuroscale.doctor.index import SnapshotIndex
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import ObjectRef, Severity

CRASH_REASONS = frozenset({"ModelLoadFailed", "ProcessExited", "CrashLoopBackOff", "StartupTimeout", "Restarted"})
_CAUSES = (
    (("no model file at this storage uri",),
     "the model file at storageUri does not exist, or lies outside the allowed model roots"),
    (("no such file", "not found", "does not exist", "missing"), "the model file at storageUri does not exist"),
    (("importerror", "modulenotfounderror", "no module named"), "the runtime cannot import the library for the format"),
    (("format", "unpickl", "invalid load key", "not a valid", "corrupt"),
     "the model file is not in the declared modelFormat (or is corrupted)"),
)


def _cause(line: str) -> str:
    low = line.lower()
    return next((cause for words, cause in _CAUSES if any(w in low for w in words)),
                "the model server exits during start-up")


def _load_failure(index: SnapshotIndex, endpoint: Mapping[str, Any]) -> str:
    name = str(endpoint.get("name", ""))
    for key, text in index.logs_matching("servers/"):
        if name in key:
            line = next((ln for ln in reversed(text.splitlines()) if "ModelLoadFailed" in ln), "")
            if line:
                return line.strip()
    for cond in endpoint.get("conditions") or []:
        if cond.get("status") == "False" and "ModelLoadFailed" in f"{cond.get('reason')} {cond.get('message')}":
            return f"ModelLoadFailed: {cond.get('message', '')}"
    return ""


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    crashes: dict[str, int] = {}
    for event in index.objects("EngineEvent"):
        if event.get("type") == "Warning" and event.get("reason") in CRASH_REASONS:
            crashes[str(event.get("endpoint"))] = crashes.get(str(event.get("endpoint")), 0) + 1
    found = []
    for endpoint in index.objects("Endpoint"):
        name = str(endpoint.get("name", ""))
        line = _load_failure(index, endpoint)
        if not line and crashes.get(name, 0) < 2:
            continue
        found.append(RULE.finding(
            obj=ObjectRef(kind="Endpoint", name=name, namespace=str(endpoint.get("namespace", ""))),
            message=f"the model server of {name} keeps failing ({crashes.get(name, 0)} crash events)",
            evidence=line or f"{crashes.get(name, 0)} Warning events ({', '.join(sorted(CRASH_REASONS))})",
            root_cause=_cause(line),
            fix="check spec.predictor.model.storageUri and modelFormat in apps/" + name
            + "/inference-service.yaml; open a PR with the fix (`neuroscale endpoint update`)",
        ))
    return found


RULE = Rule(
    id="model-server-crash", title="Model servers start", covers=("FM-20",),
    category=Category.WORKLOADS, severity=Severity.ERROR, check=check, targets=("embedded",),
)
