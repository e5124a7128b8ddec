"""NS-L005: probes that kill Backstage before it finishes starting (FM-30, FM-31).

Backstage needs 60-120 s to start. The chart's default startup probe (no
initial delay, 3 failures x 10 s) restarts it after ~30 s, forever. The budget
is computed from the effective probe: the values given over what Helm layers
below them (the chart defaults, then a wrapper's own values.yaml).
"""

from __future__ import annotations

from typing import Any

from neuroscale.check.lints.backstage import BackstageValues, backstage_values
from neuroscale.check.lints.base import Lint
from neuroscale.check.model import RepoView
from neuroscale.findings import Finding, Severity
from neuroscale.mappings import deep_merged

ID = "NS-L005"
MIN_STARTUP_SECONDS = 60


def budget(probe: Any) -> int:
    """Seconds a probe allows before the kubelet gives up (Kubernetes defaults filled in)."""
    probe = probe if isinstance(probe, dict) else {}

    def number(key: str, default: int) -> int:
        value = probe.get(key, default)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    return number("initialDelaySeconds", 0) + number("failureThreshold", 3) * number("periodSeconds", 10)


def _effective(values: BackstageValues, name: str) -> Any:
    given = values.section.get(name)
    default = values.defaults.get(name)
    if isinstance(given, dict) and isinstance(default, dict):
        return deep_merged(default, given)
    return given if name in values.section else default


def check(view: RepoView) -> list[Finding]:
    findings = []
    for values in backstage_values(view):
        startup = _effective(values, "startupProbe")
        probe_name = "startupProbe" if isinstance(startup, dict) else "livenessProbe"
        probe = startup if isinstance(startup, dict) else _effective(values, "livenessProbe")
        if not isinstance(probe, dict):
            continue
        seconds = budget(probe)
        if seconds < MIN_STARTUP_SECONDS:
            findings.append(view.finding(
                values.doc, rule=ID, severity=Severity.ERROR, needle=probe_name if probe_name in values.section else "",
                field_path=f"{values.prefix}.{probe_name}",
                message=f"{probe_name} gives Backstage {seconds}s to start (it needs {MIN_STARTUP_SECONDS}-120s): "
                        "the pod will crash-loop",
                fix=f"set {values.prefix}.startupProbe with initialDelaySeconds: 120 and failureThreshold: 30 "
                    f"(periodSeconds: 10)"))
    return findings


LINT = Lint(id=ID, title="Backstage probe timings too aggressive for a slow starter", failure_modes=("FM-30", "FM-31"),
            severity=Severity.ERROR, check=check)
